package state

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/mirrorsteer/mirrorsteer/internal/didyoumean"
)

// Class is the class of an endpoint's failure: what kind of thing went
// wrong, for grouping, alerting and the status site. It is written as its
// name ("timeout"); an endpoint that passed has none (""). probe sets it
// only to one of [Classes]; readers refuse any other, so every class a
// snapshot holds has a [Class.Description].
type Class string

// The classes, in the order of probe/README.md's table, which says when
// probe uses each. All but [ClassStale] and [ClassAhead] leave an
// endpoint down.
const (
	ClassDNS               Class = "dns"
	ClassNoAddress         Class = "no-address"
	ClassForbiddenAddress  Class = "forbidden-address"
	ClassRefused           Class = "refused"
	ClassUnreachable       Class = "unreachable"
	ClassTimeout           Class = "timeout"
	ClassReset             Class = "reset"
	ClassTLS               Class = "tls"
	ClassHTTPStatus        Class = "http-status"
	ClassNotFound          Class = "not-found"
	ClassRedirect          Class = "redirect"
	ClassRedirectsToOrigin Class = "redirects-to-origin"
	ClassProtocol          Class = "protocol"
	ClassStale             Class = "stale"
	ClassAhead             Class = "ahead"
)

// classes is the one table of the classes and what each means, in plain
// words for people who run or use a mirror: the site shows the
// description before probe's own sentence about the failure.
var classes = []struct {
	class       Class
	description string
}{
	{ClassDNS, "its host name did not resolve"},
	{ClassNoAddress, "its host name has no address of this family"},
	{ClassForbiddenAddress, "its host name or a redirect leads to an address the probe does not connect to (private, loopback, link-local or cloud metadata)"},
	{ClassRefused, "the connection was refused"},
	{ClassUnreachable, "there was no route to its address"},
	{ClassTimeout, "it did not answer in time"},
	{ClassReset, "the connection was reset"},
	{ClassTLS, "the TLS handshake or its certificate failed"},
	{ClassHTTPStatus, "it answered with an HTTP error"},
	{ClassNotFound, "its server does not have the file"},
	{ClassRedirect, "it sent a redirect the probe does not follow (too many, to another scheme or to no URL)"},
	{ClassRedirectsToOrigin, "it redirects its clients to the origin: it serves nothing itself"},
	{ClassProtocol, "its answer could not be used (not the expected protocol, a stamp that is not a time, or a file over its limit)"},
	{ClassStale, "it is further behind the origin than allowed"},
	{ClassAhead, "its stamp claims a sync later than the origin's, so its freshness is unknown"},
}

// Classes lists every class, in the order of probe/README.md's table. Do
// not modify.
var Classes = func() []Class {
	list := make([]Class, len(classes))
	for i, c := range classes {
		list[i] = c.class
	}
	return list
}()

// Valid reports whether c is one of [Classes]. The empty class, which
// an endpoint that passed has, is not.
func (c Class) Valid() bool { return c.Description() != "" }

// Description says in plain words what c means, or "" if c is not one of
// [Classes].
func (c Class) Description() string {
	for _, e := range classes {
		if e.class == c {
			return e.description
		}
	}
	return ""
}

// parseClass returns the class named s: "" (no failure) or one of
// [Classes].
func parseClass(s string) (Class, error) {
	c := Class(s)
	if c == "" || c.Valid() {
		return c, nil
	}
	msg := "unknown class " + short(strconv.Quote(s))
	names := make([]string, len(Classes))
	for i, c := range Classes {
		names[i] = string(c)
	}
	if guess := didyoumean.Closest(s, names); guess != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", guess)
	}
	return "", fmt.Errorf("%s; use one of %s (probe/README.md says what each means), or leave it out when the check passed", msg, quoteList(Classes))
}

// UnmarshalJSON reads a class's name, refusing one that is not in
// [Classes]: a newer probe that adds a class writes a newer [Schema].
func (c *Class) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a class name like %q, found %s", ClassTimeout, describeJSON(b))
	}
	v, err := parseClass(s)
	if err != nil {
		return err
	}
	*c = v
	return nil
}
