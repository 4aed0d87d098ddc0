package wxrefund

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-wxpay/wxrefund/internal/wire"
)

// This file turns the flat field maps that internal/wire decodes into typed
// values. The maps keep every field received, so signatures are verified over
// all of them before anything here runs.

// TimeLayout is the layout of WeChat Pay API v2 times, such as
// refund_success_time, in China Standard Time.
const TimeLayout = "2006-01-02 15:04:05"

// fieldParser reads typed values out of a field map and keeps the first
// failure, so a response is parsed in one pass and rejected as a whole.
type fieldParser struct {
	fields map[string]string
	// redact keeps field names and values out of errors: decrypted
	// notification content must not leak through error texts, not even
	// which field failed.
	redact bool
	err    error
}

// What a failure is, for errors that may not name the field.
const (
	kindMalformed = "is malformed"                             // does not parse, or counts too much
	kindMissing   = "is missing"                               // required and absent
	kindRule      = "breaks a consistency rule of the message" // contradicts the request or another field
)

// fail records a malformed field; reason says how, without quoting values.
func (p *fieldParser) fail(key, reason string) { p.failAs(kindMalformed, key, reason) }

// failAs records the first failure: kind is what happened, reason the same
// said with names.
func (p *fieldParser) failAs(kind, key, reason string) {
	if p.err != nil {
		return
	}
	if p.redact {
		p.err = fmt.Errorf("%w: decrypted content: a field %s", ErrMalformed, kind)
		return
	}
	p.err = fmt.Errorf("%w: field %s %s", ErrMalformed, key, reason)
}

// int parses an optional integer field; absent or empty is 0. The value is
// never quoted in the error.
func (p *fieldParser) int(key string) int64 {
	v, ok := p.fields[key]
	if !ok || v == "" {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		p.fail(key, "is not an integer")
		return 0
	}
	return n
}

// amount parses an optional amount in fen, which must not be negative;
// absent or empty is 0.
func (p *fieldParser) amount(key string) int64 {
	n := p.int(key)
	if n < 0 {
		p.failAs(kindRule, key, "is negative")
		return 0
	}
	return n
}

// atMost records a failure when the amount a (of field aKey) exceeds b (of
// field bKey): a part larger than its whole.
func (p *fieldParser) atMost(aKey string, a int64, bKey string, b int64) {
	if a > b {
		p.failAs(kindRule, aKey, "exceeds "+bKey)
	}
}

// equal records a failure when the amount of field key is not want: a sum
// that does not add up, or an echo that differs from the request.
func (p *fieldParser) equal(key string, got, want int64, what string) {
	if got != want {
		p.failAs(kindRule, key, what)
	}
}

// require records a failure when key is absent or empty.
func (p *fieldParser) require(keys ...string) {
	for _, k := range keys {
		if p.fields[k] == "" {
			p.failAs(kindMissing, k, "is missing")
		}
	}
}

// count parses a record count, which must not exceed what the body could
// hold (every record has at least one field), so a hostile count never sizes
// an allocation.
func (p *fieldParser) count(key string) int {
	n := p.int(key)
	if n < 0 || n > int64(len(p.fields)) {
		p.fail(key, "is out of range for this message")
		return 0
	}
	return int(n)
}

// time parses an optional China Standard Time field.
func (p *fieldParser) time(key string) time.Time {
	v := p.fields[key]
	if v == "" {
		return time.Time{}
	}
	t, err := time.ParseInLocation(wire.TimeLayout, strings.TrimSpace(v), wire.CST)
	if err != nil {
		p.fail(key, "is not a time of the form "+TimeLayout)
	}
	return t
}

// coupons reads coupon_type_<idx>$m, coupon_refund_id_<idx>$m and
// coupon_refund_fee_<idx>$m for m below the count in countKey. idx is "" for
// a refund response and "$n_" for record n of a query.
func (p *fieldParser) coupons(countKey, idx string) []Coupon {
	n := p.count(countKey)
	if n == 0 || p.err != nil {
		return nil
	}
	out := make([]Coupon, n)
	for m := range out {
		sm := idx + strconv.Itoa(m)
		typ, id, feeKey := "coupon_type_"+sm, "coupon_refund_id_"+sm, "coupon_refund_fee_"+sm
		if p.fields[typ] == "" && p.fields[id] == "" && p.fields[feeKey] == "" {
			p.fail(countKey, "counts more coupons than the message holds")
			return nil
		}
		out[m] = Coupon{ID: p.fields[id], Type: p.fields[typ], Fee: p.amount(feeKey)}
	}
	return out
}

// split checks how one refund of refund fen (field refundKey) divides: its
// coupon part (couponKey) is at most the refund and, where both are given,
// the sum of its coupons; where the cash part (cashKey, "" if the message
// has none) is given, cash plus coupon is the refund. All amounts were
// checked to be non-negative, and nothing here can overflow.
func (p *fieldParser) split(refundKey string, refund int64, couponKey string, coupon int64, coupons []Coupon, cashKey string) {
	p.atMost(couponKey, coupon, refundKey, refund)
	if len(coupons) > 0 && p.fields[couponKey] != "" {
		var sum int64
		for _, c := range coupons {
			if c.Fee > coupon-sum {
				sum = coupon + 1 // more than the coupon part: reported below
				break
			}
			sum += c.Fee
		}
		p.equal(couponKey, sum, coupon, "is not the sum of its coupons")
	}
	if cashKey != "" && p.fields[cashKey] != "" && coupon <= refund {
		p.equal(cashKey, p.amount(cashKey), refund-coupon, "plus "+couponKey+" is not "+refundKey)
	}
}

// checkText refuses request text that XML cannot carry.
func checkText(field, v string) error {
	if !wire.ValidText(v) {
		return &ValidationError{field, "contains characters XML cannot carry (invalid UTF-8 or control characters)"}
	}
	return nil
}
