package probe

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"time"

	"github.com/mirrorsteer/mirrorsteer/internal/inventory"
)

// A bound is one limit of a run that both mirrors.toml's [probe] table
// and a command-line flag set. They are one table so that the file and
// the flags are held to the same range and refused in the same words:
// the inventory loader and the command used to check them apart, with
// ranges that differed (--retries 50 ran, retries = 50 was refused).
type bound struct {
	key, flag string // the [probe] key and the flag, without dashes
	usage     string // the flag's help
	// The range, in the unit of the value (nanoseconds for a duration,
	// which is only ever held to being positive).
	min, max int64
	unit     string                     // after the range in errors: "" or " bytes"
	conf     func(*Config) any          // the field: *time.Duration, *int or *int64
	file     func(*inventory.Probe) any // the key's value: string ("" when absent), *int or *int64 (nil)
}

// Ranges of the bounds. The upper ones keep a typing slip from becoming
// a run that never ends or a million connections.
const (
	maxConcurrency = 100_000
	maxPerHost     = 1000
	maxRetries     = 10
	maxRuns        = 1000 // leave_after, return_after
	maxMaxBody     = 16 << 30
)

var bounds = []bound{
	{key: "timeout", flag: "timeout", min: 1, max: math.MaxInt64,
		usage: "per-endpoint `timeout`: all of an endpoint's requests, lookup to last byte (each of the origin's requests has its own); [probe] timeout",
		conf:  func(c *Config) any { return &c.Timeout }, file: func(p *inventory.Probe) any { return p.Timeout }},
	{key: "deadline", flag: "deadline", min: 1, max: math.MaxInt64,
		usage: "bound on the whole `run`; endpoints not started by then keep their state; [probe] deadline",
		conf:  func(c *Config) any { return &c.Deadline }, file: func(p *inventory.Probe) any { return p.Deadline }},
	{key: "concurrency", flag: "concurrency", min: 1, max: maxConcurrency,
		usage: "endpoints checked at once, at most: no more than the open-file limit allows (3 files each); [probe] concurrency",
		conf:  func(c *Config) any { return &c.Concurrency }, file: func(p *inventory.Probe) any { return p.Concurrency }},
	{key: "per_host", flag: "per-host", min: 1, max: maxPerHost,
		usage: "endpoints of one host checked at once (the default covers all of one mirror's); [probe] per_host",
		conf:  func(c *Config) any { return &c.PerHost }, file: func(p *inventory.Probe) any { return p.PerHost }},
	{key: "retries", flag: "retries", min: 0, max: maxRetries,
		usage: "retries of a request that was reset or got a 5xx (never of a timeout); [probe] retries",
		conf:  func(c *Config) any { return &c.Retries }, file: func(p *inventory.Probe) any { return p.Retries }},
	{key: "max_body", flag: "max-body", min: maxStamp, max: maxMaxBody, unit: " bytes",
		usage: "most `bytes` read of any origin file (a mirror's is read no further than the origin's largest recent version); [probe] max_body",
		conf:  func(c *Config) any { return &c.MaxBody }, file: func(p *inventory.Probe) any { return p.MaxBody }},
	{key: "leave_after", flag: "leave-after", min: 1, max: maxRuns,
		usage: "consecutive failed runs that take a healthy endpoint out; [probe] leave_after",
		conf:  func(c *Config) any { return &c.LeaveAfter }, file: func(p *inventory.Probe) any { return p.LeaveAfter }},
	{key: "return_after", flag: "return-after", min: 1, max: maxRuns,
		usage: "consecutive good runs that bring an endpoint back; [probe] return_after",
		conf:  func(c *Config) any { return &c.ReturnAfter }, file: func(p *inventory.Probe) any { return p.ReturnAfter }},
}

// refuse says why v, which where names ("[probe] timeout", "--timeout"),
// is out of b, or "". sep goes between where and a number.
func (b *bound) refuse(where, sep string, v any) string {
	switch v := v.(type) {
	case time.Duration:
		if v < time.Duration(b.min) {
			return fmt.Sprintf("%s %s is not a positive duration; write e.g. 12h, 90m or 1h30m", where, v)
		}
	case int64:
		if v < b.min || v > b.max {
			return fmt.Sprintf("%s%s%d is out of range; use %d to %d%s", where, sep, v, b.min, b.max, b.unit)
		}
	}
	return ""
}

// fromFile checks the key's value in inv and, when set is true, sets it
// in c. A key the file leaves out changes nothing.
func (b *bound) fromFile(inv *inventory.Inventory, c *Config, set bool) *inventory.Error {
	key, where := "probe."+b.key, "[probe] "+b.key
	var v any
	switch x := b.file(&inv.Probe).(type) {
	case string:
		if x == "" {
			return nil
		}
		d, err := time.ParseDuration(x)
		if err != nil || d < time.Duration(b.min) {
			return inv.Errorf(key, "%s %q is not a positive duration; write e.g. \"12h\", \"90m\" or \"1h30m\"", where, x)
		}
		v = d
	case *int:
		if x == nil {
			return nil
		}
		v = int64(*x)
	case *int64:
		if x == nil {
			return nil
		}
		v = *x
	}
	if msg := b.refuse(where, " = ", v); msg != "" {
		return inv.Errorf(key, "%s", msg)
	}
	if set {
		switch p := b.conf(c).(type) {
		case *time.Duration:
			*p = v.(time.Duration)
		case *int:
			*p = int(v.(int64))
		case *int64:
			*p = v.(int64)
		}
	}
	return nil
}

// CheckFile checks inv's [probe] table against the bounds of a run,
// each error at its key's file:line:column. It is the inventory.Check
// for what does not run probe itself (mirrorsteer check).
func CheckFile(inv *inventory.Inventory) inventory.Errors {
	c := Defaults()
	return (&Flags{cfg: &c}).ApplyFile(inv)
}

// Flags are the command-line flags of the bounds of a run, over a
// Config: a flag given wins over [probe], and [probe] over the default.
type Flags struct {
	fs  *flag.FlagSet
	cfg *Config
}

// DefineFlags defines on fs one flag per bound, --timeout, --deadline,
// --concurrency, --per-host, --retries, --max-body, --leave-after and
// --return-after, each with c's value as its default and writing into c.
// After fs.Parse, call Check, then load the inventory with ApplyFile.
func DefineFlags(fs *flag.FlagSet, c *Config) *Flags {
	for i := range bounds {
		b := &bounds[i]
		switch p := b.conf(c).(type) {
		case *time.Duration:
			fs.DurationVar(p, b.flag, *p, b.usage)
		case *int:
			fs.IntVar(p, b.flag, *p, b.usage)
		case *int64:
			fs.Int64Var(p, b.flag, *p, b.usage)
		}
	}
	return &Flags{fs: fs, cfg: c}
}

// given reports whether the flag of b was on the command line.
func (f *Flags) given(b *bound) bool {
	if f.fs == nil {
		return false
	}
	found := false
	f.fs.Visit(func(fl *flag.Flag) { found = found || fl.Name == b.flag })
	return found
}

// Check refuses every flag given with a value out of its bound, one
// line each ("--concurrency 0 is out of range; use 1 to 100000").
func (f *Flags) Check() error {
	var errs []error
	for i := range bounds {
		b := &bounds[i]
		if !f.given(b) {
			continue
		}
		var v any
		switch p := b.conf(f.cfg).(type) {
		case *time.Duration:
			v = *p
		case *int:
			v = int64(*p)
		case *int64:
			v = *p
		}
		if msg := b.refuse("--"+b.flag, " ", v); msg != "" {
			errs = append(errs, errors.New(msg))
		}
	}
	return errors.Join(errs...)
}

// ApplyFile checks inv's [probe] table and sets, from it, the bounds
// whose flag was not given. A value out of its bound is refused even
// when a flag overrides it: the file is wrong for the next run without
// the flag. It is an inventory.Check, for inventory.Load.
func (f *Flags) ApplyFile(inv *inventory.Inventory) inventory.Errors {
	var errs inventory.Errors
	for i := range bounds {
		b := &bounds[i]
		if e := b.fromFile(inv, f.cfg, !f.given(b)); e != nil {
			errs = append(errs, e)
		}
	}
	return errs
}
