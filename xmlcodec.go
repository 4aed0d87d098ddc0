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
	err    error
}

func (p *fieldParser) fail(key, reason string) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: field %s %s", ErrMalformed, key, reason)
	}
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

// require records a failure when key is absent or empty.
func (p *fieldParser) require(keys ...string) {
	for _, k := range keys {
		if p.fields[k] == "" {
			p.fail(k, "is missing")
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
		out[m] = Coupon{ID: p.fields[id], Type: p.fields[typ], Fee: p.int(feeKey)}
	}
	return out
}

// checkText refuses request text that XML cannot carry.
func checkText(field, v string) error {
	if !wire.ValidText(v) {
		return &ValidationError{field, "contains characters XML cannot carry (invalid UTF-8 or control characters)"}
	}
	return nil
}
