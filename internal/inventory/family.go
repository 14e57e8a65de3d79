package inventory

import (
	"encoding/json"
	"fmt"
	"net/netip"
)

// Family is an IP address family: what probe checks a mirror over, what a
// list is written for and what a client asks over. It is a small integer
// so that tables can be indexed by it; in files it is "ipv4" or "ipv6".
type Family uint8

// The address families, in the order used for sorting.
const (
	IPv4 Family = iota
	IPv6
	// NumFamilies is how many families there are: the length of an
	// array indexed by Family.
	NumFamilies
)

// Families lists every family in order (ipv4, ipv6). Do not modify.
var Families = []Family{IPv4, IPv6}

// FamilyOf returns the family of a; an IPv4-mapped IPv6 address is IPv4.
func FamilyOf(a netip.Addr) Family {
	if a.Is6() && !a.Is4In6() {
		return IPv6
	}
	return IPv4
}

// String is the family's name in files: "ipv4", "ipv6".
func (f Family) String() string {
	switch f {
	case IPv4:
		return "ipv4"
	case IPv6:
		return "ipv6"
	}
	return fmt.Sprintf("family(%d)", uint8(f))
}

// Title is how people write the family: "IPv4", "IPv6".
func (f Family) Title() string {
	switch f {
	case IPv4:
		return "IPv4"
	case IPv6:
		return "IPv6"
	}
	return f.String()
}

// Valid reports whether f is one of Families.
func (f Family) Valid() bool { return f < NumFamilies }

// ParseFamily returns the family named s ("ipv4" or "ipv6").
func ParseFamily(s string) (Family, error) {
	switch s {
	case "ipv4":
		return IPv4, nil
	case "ipv6":
		return IPv6, nil
	}
	return 0, fmt.Errorf(`unknown family %q; use "ipv4" or "ipv6"`, s)
}

// MarshalJSON writes the family's name.
func (f Family) MarshalJSON() ([]byte, error) {
	if !f.Valid() {
		return nil, fmt.Errorf("no such family %d", uint8(f))
	}
	return json.Marshal(f.String())
}

// UnmarshalJSON reads a family's name.
func (f *Family) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf(`want "ipv4" or "ipv6", found %s`, b)
	}
	v, err := ParseFamily(s)
	if err != nil {
		return err
	}
	*f = v
	return nil
}
