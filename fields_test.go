package wxrefund

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFieldParserInt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		v    *string // nil: field absent
		want int64
		ok   bool
	}{
		{"absent", nil, 0, true},
		{"empty", ntPtr(""), 0, true},
		{"zero", ntPtr("0"), 0, true},
		{"plain", ntPtr("5000"), 5000, true},
		{"leading zeros", ntPtr("007"), 7, true},
		{"surrounding space", ntPtr(" 42\n"), 42, true},
		{"negative", ntPtr("-5"), -5, true},
		{"max int64", ntPtr("9223372036854775807"), 9223372036854775807, true},
		{"overflow", ntPtr("9223372036854775808"), 0, false},
		{"decimal", ntPtr("20.00"), 0, false},
		{"exponent", ntPtr("5e3"), 0, false},
		{"hex", ntPtr("0x10"), 0, false},
		{"word", ntPtr("SECRET_AMOUNT"), 0, false},
		{"inner space", ntPtr("1 000"), 0, false},
		{"plus and space", ntPtr("+ 1"), 0, false},
		{"full-width digits", ntPtr("１２"), 0, false},
		{"only space", ntPtr("   "), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := map[string]string{"other": "1"}
			if tc.v != nil {
				f["refund_fee"] = *tc.v
			}
			p := fieldParser{fields: f}
			got := p.int("refund_fee")
			assert.Equal(t, tc.want, got)
			if tc.ok {
				require.NoError(t, p.err)
				return
			}
			require.ErrorIs(t, p.err, ErrMalformed)
			assert.Contains(t, p.err.Error(), "refund_fee", "the error names the field")
			if strings.TrimSpace(*tc.v) != "" {
				assert.NotContains(t, p.err.Error(), strings.TrimSpace(*tc.v), "the error must not quote the value")
			}
		})
	}
}

func ntPtr(s string) *string { return &s }

func TestFieldParserKeepsFirstError(t *testing.T) {
	t.Parallel()
	p := fieldParser{fields: map[string]string{"a": "x", "b": "y", "c": "3"}}
	assert.Zero(t, p.int("a"))
	assert.Zero(t, p.int("b"))
	assert.Equal(t, int64(3), p.int("c"), "parsing goes on after a failure")
	require.ErrorIs(t, p.err, ErrMalformed)
	assert.Contains(t, p.err.Error(), "field a ")
	assert.NotContains(t, p.err.Error(), "field b")
}

func TestFieldParserRequire(t *testing.T) {
	t.Parallel()
	p := fieldParser{fields: map[string]string{"a": "1", "b": ""}}
	p.require("a")
	require.NoError(t, p.err)
	p.require("a", "b", "c")
	require.ErrorIs(t, p.err, ErrMalformed)
	assert.Contains(t, p.err.Error(), "field b is missing")
}

func TestFieldParserCount(t *testing.T) {
	t.Parallel()
	fields := func(n int, count string) map[string]string {
		f := map[string]string{"refund_count": count}
		for i := range n - 1 {
			f["x"+strconv.Itoa(i)] = "1"
		}
		return f
	}
	tests := []struct {
		name   string
		fields map[string]string
		want   int
		ok     bool
	}{
		{"absent", map[string]string{}, 0, true},
		{"zero", fields(3, "0"), 0, true},
		{"within", fields(3, "2"), 2, true},
		{"equal to field count", fields(3, "3"), 3, true},
		{"one over field count", fields(3, "4"), 0, false},
		{"huge", fields(3, "1000000000"), 0, false},
		{"max int64", fields(3, "9223372036854775807"), 0, false},
		{"negative", fields(3, "-1"), 0, false},
		{"not a number", fields(3, "two"), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := fieldParser{fields: tc.fields}
			assert.Equal(t, tc.want, p.count("refund_count"))
			if tc.ok {
				assert.NoError(t, p.err)
			} else {
				assert.ErrorIs(t, p.err, ErrMalformed)
				assert.Contains(t, p.err.Error(), "refund_count")
			}
		})
	}
}

func TestFieldParserTime(t *testing.T) {
	t.Parallel()
	p := fieldParser{fields: map[string]string{
		"t":       "2024-06-03 10:15:42",
		"spaced":  " 2024-06-03 10:15:42 ",
		"newyear": "2025-01-01 07:59:59",
		"empty":   "",
		"bad":     "2024-06-03T10:15:42+08:00",
	}}
	got := p.time("t")
	require.NoError(t, p.err)
	assert.True(t, got.Equal(time.Date(2024, 6, 3, 2, 15, 42, 0, time.UTC)), "10:15:42 CST is 02:15:42 UTC, got %v", got)
	name, off := got.Zone()
	assert.Equal(t, 8*60*60, off)
	assert.Equal(t, "CST", name)
	assert.Equal(t, "2024-06-03 10:15:42", got.Format(TimeLayout))
	assert.Equal(t, "2024-06-03T10:15:42+08:00", got.Format(time.RFC3339))

	assert.True(t, p.time("spaced").Equal(got))
	// Crossing midnight and the year in UTC.
	assert.True(t, p.time("newyear").Equal(time.Date(2024, 12, 31, 23, 59, 59, 0, time.UTC)))
	assert.True(t, p.time("empty").IsZero())
	assert.True(t, p.time("absent").IsZero())
	require.NoError(t, p.err)

	p.time("bad")
	require.ErrorIs(t, p.err, ErrMalformed)
	assert.Contains(t, p.err.Error(), "field bad")
	assert.NotContains(t, p.err.Error(), "2024-06-03T10:15:42")

	// No daylight saving: a summer and a winter time are both UTC+8.
	for _, v := range []string{"2024-01-15 12:00:00", "2024-07-15 12:00:00"} {
		p := fieldParser{fields: map[string]string{"t": v}}
		_, off := p.time("t").Zone()
		assert.Equal(t, 8*3600, off, v)
	}
	for _, v := range []string{"2024-13-01 00:00:00", "2024-06-03", "10:15:42", "2024-06-03 25:00:00"} {
		p := fieldParser{fields: map[string]string{"t": v}}
		p.time("t")
		assert.ErrorIs(t, p.err, ErrMalformed, v)
	}
}

func TestFieldParserCoupons(t *testing.T) {
	t.Parallel()
	t.Run("refund response", func(t *testing.T) {
		t.Parallel()
		p := fieldParser{fields: map[string]string{
			"coupon_refund_count": "2",
			"coupon_type_0":       "NO_CASH", "coupon_refund_id_0": "20000000123", "coupon_refund_fee_0": "200",
			"coupon_type_1": "CASH", "coupon_refund_id_1": "20000000124", "coupon_refund_fee_1": "50",
		}}
		got := p.coupons("coupon_refund_count")
		require.NoError(t, p.err)
		assert.Equal(t, []Coupon{{ID: "20000000123", Type: "NO_CASH", Fee: 200}, {ID: "20000000124", Type: "CASH", Fee: 50}}, got)
	})
	t.Run("query record", func(t *testing.T) {
		t.Parallel()
		p := fieldParser{fields: map[string]string{
			"coupon_refund_count_1": "1",
			"coupon_type_1_0":       "NO_CASH", "coupon_refund_id_1_0": "7", "coupon_refund_fee_1_0": "100",
			"coupon_type_0": "CASH", // another record's key must not be read
		}}
		p.record(1)
		got := p.coupons("coupon_refund_count")
		require.NoError(t, p.err)
		assert.Equal(t, []Coupon{{ID: "7", Type: "NO_CASH", Fee: 100}}, got)
	})
	t.Run("one field is enough", func(t *testing.T) {
		t.Parallel()
		p := fieldParser{fields: map[string]string{"n": "1", "coupon_refund_fee_0": "3"}}
		assert.Equal(t, []Coupon{{Fee: 3}}, p.coupons("n"))
		require.NoError(t, p.err)
	})
	t.Run("absent or zero count", func(t *testing.T) {
		t.Parallel()
		for _, f := range []map[string]string{{}, {"n": "0"}, {"n": ""}} {
			p := fieldParser{fields: f}
			assert.Nil(t, p.coupons("n"))
			require.NoError(t, p.err)
		}
	})
	t.Run("count beyond the coupons present", func(t *testing.T) {
		t.Parallel()
		p := fieldParser{fields: map[string]string{
			"n": "3", "coupon_type_0": "CASH", "coupon_type_1": "CASH", "x": "1",
		}}
		assert.Nil(t, p.coupons("n"))
		require.ErrorIs(t, p.err, ErrMalformed)
		assert.Contains(t, p.err.Error(), "field n ")
	})
	t.Run("count beyond the message", func(t *testing.T) {
		t.Parallel()
		p := fieldParser{fields: map[string]string{"n": "1000000000000", "coupon_type_0": "CASH"}}
		assert.Nil(t, p.coupons("n"))
		require.ErrorIs(t, p.err, ErrMalformed)
	})
	t.Run("negative count", func(t *testing.T) {
		t.Parallel()
		p := fieldParser{fields: map[string]string{"n": "-1", "coupon_type_0": "CASH"}}
		assert.Nil(t, p.coupons("n"))
		require.ErrorIs(t, p.err, ErrMalformed)
	})
	t.Run("bad fee", func(t *testing.T) {
		t.Parallel()
		p := fieldParser{fields: map[string]string{"n": "1", "coupon_type_0": "CASH", "coupon_refund_fee_0": "1.5"}}
		p.coupons("n")
		require.ErrorIs(t, p.err, ErrMalformed)
		assert.Contains(t, p.err.Error(), "coupon_refund_fee_0")
	})
	t.Run("after an earlier failure", func(t *testing.T) {
		t.Parallel()
		p := fieldParser{fields: map[string]string{"bad": "x", "n": "1", "coupon_type_0": "CASH"}}
		p.int("bad")
		assert.Nil(t, p.coupons("n"))
	})
}

func TestCheckTextRefusesWhatXMLCannotCarry(t *testing.T) {
	t.Parallel()
	require.NoError(t, checkText("RefundDesc", "商品缺货 <&> ]]>\r\n"))
	for _, v := range []string{"\x00", "a\x1bb", "\xff", "\uFFFE"} {
		err := checkText("RefundDesc", v)
		require.ErrorIs(t, err, ErrInvalidRequest, "%q", v)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve)
		assert.Equal(t, "RefundDesc", ve.Field)
	}
}

// The refundquery_response_9_3 vector through decodeFlat and parseQueryResponse: every record field.
func TestParseQueryResponseVector(t *testing.T) {
	t.Parallel()
	f, err := mtDecode(ntReadVector(t, "refundquery_response_9_3.xml"), "xml")
	require.NoError(t, err)
	r, err := parseQueryResponse(f, mtSampleQuestion)
	require.NoError(t, err)
	assert.Equal(t, "4200001234202406011234567890", r.TransactionID)
	assert.Equal(t, "ORD20240601123456", r.OutTradeNo)
	assert.Equal(t, int64(5000), r.TotalFee)
	assert.Equal(t, int64(4500), r.SettlementTotalFee)
	assert.Equal(t, int64(4500), r.CashFee)
	assert.Equal(t, "CNY", r.FeeType)
	assert.Zero(t, r.TotalRefundCount)
	assert.Equal(t, int64(3000), r.RefundFee)
	assert.Equal(t, int64(300), r.CouponRefundFee)
	assert.Equal(t, int64(2700), r.CashRefundFee)
	require.Len(t, r.Refunds, 2)

	r0, r1 := r.Refunds[0], r.Refunds[1]
	assert.Equal(t, "RF20240603000001", r0.OutRefundNo)
	assert.Equal(t, "50300012345202406031234567890", r0.RefundID)
	assert.Equal(t, "ORIGINAL", r0.RefundChannel)
	assert.Equal(t, int64(2000), r0.RefundFee)
	assert.Equal(t, int64(1800), r0.SettlementRefundFee)
	assert.Equal(t, int64(200), r0.CouponRefundFee)
	assert.Equal(t, []Coupon{{ID: "20000000123", Type: "NO_CASH", Fee: 200}}, r0.Coupons)
	assert.Equal(t, RefundStatusSuccess, r0.Status)
	assert.Equal(t, "REFUND_SOURCE_UNSETTLED_FUNDS", r0.RefundAccount)
	assert.Equal(t, "支付用户零钱", r0.RecvAccount)
	assert.True(t, r0.SuccessTime.Equal(time.Date(2024, 6, 3, 2, 15, 42, 0, time.UTC)))

	assert.Equal(t, "RF20240604000002", r1.OutRefundNo)
	assert.Equal(t, RefundStatusProcessing, r1.Status)
	assert.Equal(t, []Coupon{{ID: "20000000123", Type: "NO_CASH", Fee: 100}}, r1.Coupons)
	assert.Equal(t, "招商银行信用卡1234", r1.RecvAccount)
	assert.True(t, r1.SuccessTime.IsZero())
	assert.Equal(t, f, r.Raw)
}

func TestParseQueryResponseRejects(t *testing.T) {
	t.Parallel()
	base, err := mtDecode(ntReadVector(t, "refundquery_response_9_3.xml"), "xml")
	require.NoError(t, err)
	for name, edit := range map[string]func(f map[string]string){
		"refund_count beyond records": func(f map[string]string) { f["refund_count"] = "3" },
		"refund_count beyond message": func(f map[string]string) { f["refund_count"] = "4000000000" },
		"negative refund_count":       func(f map[string]string) { f["refund_count"] = "-1" },
		"negative total_refund_count": func(f map[string]string) { f["total_refund_count"] = "-2" },
		"bad record fee":              func(f map[string]string) { f["refund_fee_1"] = "1,000" },
		"bad record time":             func(f map[string]string) { f["refund_success_time_0"] = "yesterday" },
		"coupon count beyond coupons": func(f map[string]string) { f["coupon_refund_count_0"] = "2" },
		"coupon count beyond message": func(f map[string]string) { f["coupon_refund_count_1"] = "99999" },
		"bad coupon fee":              func(f map[string]string) { f["coupon_refund_fee_1_0"] = "abc" },
		"bad total_fee":               func(f map[string]string) { f["total_fee"] = "50.00" },
		"record without identifiers":  func(f map[string]string) { delete(f, "out_refund_no_1"); delete(f, "refund_id_1") },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := ntCopy(base)
			edit(f)
			r, err := parseQueryResponse(f, mtSampleQuestion)
			require.ErrorIs(t, err, ErrMalformed)
			assert.Nil(t, r)
		})
	}
}

// A hostile record count never sizes an allocation: parsing a small map
// that claims a billion refunds allocates about what a valid small map does.
func TestParseQueryResponseHostileCountAllocations(t *testing.T) {
	// Not parallel: AllocsPerRun counts every allocation in the process.
	f := map[string]string{"refund_count": "1000000000", "coupon_refund_count_0": "1000000000", "out_refund_no_0": "x"}
	allocs := testing.AllocsPerRun(20, func() {
		_, err := parseQueryResponse(f, mtSampleQuestion)
		if err == nil {
			t.Fatal("accepted")
		}
	})
	assert.Less(t, allocs, 30.0)

	f = map[string]string{"refund_count": "3", "coupon_refund_count_0": "3", "out_refund_no_0": "x"}
	r, err := parseQueryResponse(f, mtSampleQuestion)
	require.ErrorIs(t, err, ErrMalformed)
	assert.Nil(t, r)
}

func TestTimeLayoutIsTheWireLayout(t *testing.T) {
	assert.Equal(t, TimeLayout, TimeLayout)
}

// parseTime accepts exactly what time.ParseInLocation does with TimeLayout,
// and gives the same instant.
func TestParseTimeMatchesTimeParse(t *testing.T) {
	t.Parallel()
	cases := []string{
		"2024-06-03 10:15:42", "2024-02-29 00:00:00", "2023-02-29 00:00:00", "2024-02-30 10:15:42",
		"2024-13-01 00:00:00", "2024-00-10 00:00:00", "2024-01-00 00:00:00", "2024-04-31 12:00:00",
		"2024-12-31 23:59:59", "2024-12-31 24:00:00", "2024-12-31 23:60:00", "2024-12-31 23:59:60",
		"0000-01-01 00:00:00", "9999-12-31 23:59:59", "2024-6-03 10:15:42", "2024-06-03T10:15:42",
		"2024-06-03 10:15", "2024-06-03 10:15:42Z", "２０２４-06-03 10:15:42", "2024-06-03 1a:15:42",
		"+024-06-03 10:15:42", "-024-06-03 10:15:42", "2100-02-29 00:00:00", "2000-02-29 00:00:00", "",
		"2024-06-03 1:15:42", "2024-06-03 :15:42", "2024-06-03 001:15:42", "2024-06-03 9:5:42",
		"2024-06-03 10:15:42.5", "2024-06-03 10:15:42,123", "2024-06-03  10:15:42",
	}
	for _, s := range cases {
		ptCheckTime(t, s)
	}
}

func FuzzParseTime(f *testing.F) {
	f.Add("2024-06-03 10:15:42")
	f.Add("2024-02-30 10:15:42")
	f.Fuzz(func(t *testing.T, s string) { ptCheckTime(t, s) })
}

// ptCheckTime fails t unless parseTime reads s as time.ParseInLocation does
// whenever it reads it at all, and fieldParser.time (the fast path, then
// the time package) agrees with time.ParseInLocation on every input.
func ptCheckTime(t *testing.T, s string) {
	t.Helper()
	want, err := time.ParseInLocation(TimeLayout, s, cst)
	if got, ok := parseTime(s); ok && (err != nil || !want.Equal(got) || got.Location() != cst) {
		t.Fatalf("%q: parseTime %v, time.Parse (%v, %v)", s, got, want, err)
	}
	p := fieldParser{fields: map[string]string{"t": s}}
	got := p.time("t")
	trimmed := strings.TrimSpace(s)
	want, err = time.ParseInLocation(TimeLayout, trimmed, cst)
	switch {
	case trimmed == "" || s == "":
		if s == "" && (p.err != nil || !got.IsZero()) {
			t.Fatalf("an empty time is absent")
		}
	case (err == nil) != (p.err == nil):
		t.Fatalf("%q: fieldParser.time %v, time.Parse %v", s, p.err, err)
	case err == nil && !want.Equal(got):
		t.Fatalf("%q: fieldParser.time %v, time.Parse %v", s, got, want)
	}
}
