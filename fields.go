package wxrefund

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file turns decoded fields into typed values. Answers keep every field
// received (the Raw maps), and their signatures are verified over all of them
// before anything here runs.

// TimeLayout is the layout of WeChat Pay API v2 times, such as
// refund_success_time, in China Standard Time.
const TimeLayout = "2006-01-02 15:04:05"

// ChinaTime is China Standard Time: UTC+8 without daylight saving, the
// time zone of every time WeChat Pay sends and of the refund bill's days
// (see [RefundBillRequest]). Bucket refunds by t.In(wxrefund.ChinaTime) to
// match them with the bill of their day. A fixed zone needs no tzdata on
// the host.
var ChinaTime = time.FixedZone("CST", 8*60*60)

// cst is ChinaTime as this package uses it, whatever a program assigns to
// ChinaTime.
var cst = ChinaTime

// fieldParser reads typed values out of a field map and keeps the first
// failure, so a response is parsed in one pass and rejected as a whole.
//
// Names given to its methods are looked up with sfx appended: "" for the
// fields of a message, "_3" for those of its record 3 (refund_fee_3 is
// refund_fee with sfx "_3"). Keys are built in a reused buffer, so looking
// up an indexed field allocates nothing.
type fieldParser struct {
	fields map[string]string
	sfx    []byte // see record
	sfxBuf [2][24]byte
	// redact keeps field names and values out of errors: decrypted
	// notification content must not leak through error texts, not even
	// which field failed.
	redact bool
	err    error
	kb     []byte
	kbBuf  [48]byte
}

// record makes the methods read the fields of record n (suffix "_n"), or of
// the message itself for n < 0.
func (p *fieldParser) record(n int) {
	if n < 0 {
		p.sfx = nil
		return
	}
	p.sfx = strconv.AppendInt(append(p.sfxBuf[0][:0], '_'), int64(n), 10)
}

// What a failure is, for errors that may not name the field.
const (
	kindMalformed = "is malformed"                             // does not parse, or counts too much
	kindMissing   = "is missing"                               // required and absent
	kindRule      = "breaks a consistency rule of the message" // contradicts the request or another field
)

// get returns the field name+sfx.
func (p *fieldParser) get(name string) (string, bool) {
	if len(p.sfx) == 0 {
		v, ok := p.fields[name]
		return v, ok
	}
	if p.kb == nil {
		p.kb = p.kbBuf[:0]
	}
	p.kb = append(append(p.kb[:0], name...), p.sfx...)
	v, ok := p.fields[string(p.kb)]
	return v, ok
}

// str returns the field name+sfx, "" when absent.
func (p *fieldParser) str(name string) string {
	v, _ := p.get(name)
	return v
}

// fail records a malformed field; reason says how, without quoting values.
func (p *fieldParser) fail(name, reason string) { p.failAs(kindMalformed, name, reason) }

// failAs records the first failure of the field name+sfx: kind is what
// happened, reason the same said with names.
func (p *fieldParser) failAs(kind, name, reason string) {
	if p.err != nil {
		return
	}
	if p.redact {
		p.err = fmt.Errorf("%w: decrypted content: a field %s", ErrMalformed, kind)
		return
	}
	p.err = fmt.Errorf("%w: field %s%s %s", ErrMalformed, name, p.sfx, reason)
}

// int parses an optional integer field; absent or empty is 0. The value is
// never quoted in the error.
func (p *fieldParser) int(name string) int64 {
	v, ok := p.get(name)
	if !ok || v == "" {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		p.fail(name, "is not an integer")
		return 0
	}
	return n
}

// amount parses an optional amount in fen, which must not be negative;
// absent or empty is 0.
func (p *fieldParser) amount(name string) int64 {
	n := p.int(name)
	if n < 0 {
		p.failAs(kindRule, name, "is negative")
		return 0
	}
	return n
}

// atMost records a failure when the amount a (of field aName) exceeds b (of
// field bName, named as it stands in the error: "refund_fee_$n" for the
// record's own): a part larger than its whole.
func (p *fieldParser) atMost(aName string, a int64, bName string, b int64) {
	if a > b {
		p.failAs(kindRule, aName, "exceeds "+bName)
	}
}

// equal records a failure when the amount of field name is not want: a sum
// that does not add up, or an echo that differs from the request.
func (p *fieldParser) equal(name string, got, want int64, what string) {
	if got != want {
		p.failAs(kindRule, name, what)
	}
}

// require records a failure when a field is absent or empty.
func (p *fieldParser) require(names ...string) {
	for _, n := range names {
		if p.str(n) == "" {
			p.failAs(kindMissing, n, "is missing")
		}
	}
}

// count parses a record count, which must not exceed what the body could
// hold (every record has at least one field), so a hostile count never sizes
// an allocation.
func (p *fieldParser) count(name string) int {
	n := p.int(name)
	if n < 0 || n > int64(len(p.fields)) {
		p.fail(name, "is out of range for this message")
		return 0
	}
	return int(n)
}

// time parses an optional China Standard Time field.
func (p *fieldParser) time(name string) time.Time {
	v := p.str(name)
	if v == "" {
		return time.Time{}
	}
	t, ok := parseTime(strings.TrimSpace(v))
	if !ok {
		// What the fast path does not read (fractional seconds, say) is
		// left to the time package, so the two never disagree.
		var err error
		t, err = time.ParseInLocation(TimeLayout, strings.TrimSpace(v), cst)
		ok = err == nil
	}
	if !ok {
		p.fail(name, "is not a time of the form "+TimeLayout)
	}
	return t
}

// parseTime reads "2006-01-02 15:04:05" in China Standard Time at a fraction
// of time.ParseInLocation's cost (a query answer has a time per refund). It
// accepts part of what time.ParseInLocation(TimeLayout, s, cst) accepts (all
// the forms WeChat Pay sends) and reads it as the same instant; tests check
// both. The caller leaves the rest to time.ParseInLocation.
func parseTime(s string) (time.Time, bool) {
	// time.Parse lets the layout's space match a run of spaces, and its
	// hour ("15") take one or two digits; every other element is fixed.
	if len(s) < len("2006-01-02 0:04:05") || s[4] != '-' || s[7] != '-' || s[10] != ' ' {
		return time.Time{}, false
	}
	rest := strings.TrimLeft(s[10:], " ")
	h := len(rest) - len(":04:05")
	if h != 1 && h != 2 || rest[h] != ':' || rest[h+3] != ':' {
		return time.Time{}, false
	}
	num := func(s string) int {
		v := 0
		for _, c := range []byte(s) {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day := num(s[0:4]), num(s[5:7]), num(s[8:10])
	hour, minute, sec := num(rest[:h]), num(rest[h+1:h+3]), num(rest[h+4:])
	if year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 ||
		sec < 0 || sec > 59 || day > daysIn(time.Month(month), year) {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, cst), true
}

// daysIn is the number of days of month in year (Gregorian).
func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// coupons reads coupon_type<sfx>_$m, coupon_refund_id<sfx>_$m and
// coupon_refund_fee<sfx>_$m for m below the count in countName: with sfx ""
// the coupons of a refund answer (coupon_type_0), with sfx "_3" those of
// record 3 of a query (coupon_type_3_0).
func (p *fieldParser) coupons(countName string) []Coupon {
	n := p.count(countName)
	if n == 0 || p.err != nil {
		return nil
	}
	out := make([]Coupon, n)
	sfx := p.sfx
	for m := range out {
		// Look the coupon's fields up with the suffix <sfx>_m.
		p.sfx = strconv.AppendInt(append(append(p.sfxBuf[1][:0], sfx...), '_'), int64(m), 10)
		typ, id, fee := p.str("coupon_type"), p.str("coupon_refund_id"), p.str("coupon_refund_fee")
		if typ == "" && id == "" && fee == "" {
			p.sfx = sfx
			p.fail(countName, "counts more coupons than the message holds")
			return nil
		}
		out[m] = Coupon{ID: id, Type: typ, Fee: p.amount("coupon_refund_fee")}
	}
	p.sfx = sfx
	return out
}

// split checks how one refund of refund fen (field refundName) divides: its
// coupon part (couponName) is at most the refund and, where both are given,
// the sum of its coupons; where the cash part (cashName, "" if the message
// has none) is given, cash plus coupon is the refund. All amounts were
// checked to be non-negative, and nothing here can overflow.
func (p *fieldParser) split(refundName string, refund int64, couponName string, coupon int64, coupons []Coupon, cashName string) {
	p.atMost(couponName, coupon, refundName, refund)
	if len(coupons) > 0 && p.str(couponName) != "" {
		var sum int64
		for _, c := range coupons {
			if c.Fee > coupon-sum {
				sum = coupon + 1 // more than the coupon part: reported below
				break
			}
			sum += c.Fee
		}
		p.equal(couponName, sum, coupon, "is not the sum of its coupons")
	}
	if cashName != "" && p.str(cashName) != "" && coupon <= refund && p.amount(cashName) != refund-coupon {
		p.failAs(kindRule, cashName, "plus "+couponName+" is not "+refundName)
	}
}

// checkText refuses request text that XML cannot carry.
func checkText(field, v string) error {
	if !validText(v) {
		return &ValidationError{field, "contains characters XML cannot carry (invalid UTF-8 or control characters)"}
	}
	return nil
}
