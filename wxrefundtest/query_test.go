package wxrefundtest_test

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

func TestQueryPaging(t *testing.T) {
	s := newServer(t)
	o := addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 10000})
	for i := range 25 {
		mustRefund(t, s, "O1", fmt.Sprintf("R%02d", i), 10000, int64(10+i))
	}

	for _, by := range []params{{"out_trade_no": "O1"}, {"transaction_id": o.TransactionID}} {
		for _, c := range []struct {
			offset     string
			first, n   int
			totalCount string
		}{
			{"", 0, 10, "25"}, // more than ten refunds: total_refund_count comes anyway
			{"0", 0, 10, "25"},
			{"10", 10, 10, "25"},
			{"20", 20, 5, "25"},
			{"24", 24, 1, "25"},
		} {
			p := params{}
			for k, v := range by {
				p[k] = v
			}
			if c.offset != "" {
				p["offset"] = c.offset
			}
			f := query(t, s, p)
			requireOK(t, f)
			require.Equal(t, c.totalCount, f["total_refund_count"])
			require.Equal(t, fmt.Sprint(c.n), f["refund_count"], "offset %s", c.offset)
			var sum int64
			for n := range c.n {
				i := c.first + n // $n restarts at 0 on every page
				require.Equal(t, fmt.Sprintf("R%02d", i), f[fmt.Sprint("out_refund_no_", n)], "offset %s, $n=%d", c.offset, n)
				require.Equal(t, fmt.Sprint(10+i), f[fmt.Sprint("refund_fee_", n)])
				sum += int64(10 + i)
			}
			require.NotContains(t, f, fmt.Sprint("out_refund_no_", c.n))
			require.Equal(t, fmt.Sprint(sum), f["refund_fee"], "refund_fee sums the page")
		}
		for _, offset := range []string{"25", "26", "1000000000000", "-1", "x", ""} {
			p := params{"offset": offset}
			for k, v := range by {
				p[k] = v
			}
			requireErrCode(t, query(t, s, p), wxrefund.CodeParamError)
		}
	}
}

func TestQueryFewRefunds(t *testing.T) {
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	mustRefund(t, s, "O1", "R1", 100, 10)
	mustRefund(t, s, "O1", "R2", 100, 20)
	f := query(t, s, params{"out_trade_no": "O1"})
	requireOK(t, f)
	require.Equal(t, "2", f["refund_count"])
	require.NotContains(t, f, "total_refund_count", "no offset, ten refunds or fewer")

	f = query(t, s, params{"out_trade_no": "O1", "offset": "1"})
	requireOK(t, f)
	require.Equal(t, "2", f["total_refund_count"])
	require.Equal(t, "1", f["refund_count"])
	require.Equal(t, "R2", f["out_refund_no_0"])
}

func TestQueryPriority(t *testing.T) {
	s := newServer(t)
	a := addOrder(t, s, wxrefundtest.Order{OutTradeNo: "A", TotalFee: 100})
	b := addOrder(t, s, wxrefundtest.Order{OutTradeNo: "B", TotalFee: 100})
	c := addOrder(t, s, wxrefundtest.Order{OutTradeNo: "C", TotalFee: 100})
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "D", TotalFee: 100})
	ra := mustRefund(t, s, "A", "RA", 100, 1)
	mustRefund(t, s, "B", "RB", 100, 2)
	mustRefund(t, s, "C", "RC", 100, 3)
	mustRefund(t, s, "D", "RD", 100, 4)

	all := params{"refund_id": ra["refund_id"], "out_refund_no": "RB", "transaction_id": c.TransactionID, "out_trade_no": "D"}
	for _, c := range []struct {
		drop      []string
		want      string // the only out_refund_no_0 returned
		wantTrade string
	}{
		{nil, "RA", a.OutTradeNo},
		{[]string{"refund_id"}, "RB", b.OutTradeNo},
		{[]string{"refund_id", "out_refund_no"}, "RC", "C"},
		{[]string{"refund_id", "out_refund_no", "transaction_id"}, "RD", "D"},
	} {
		p := params{}
		for k, v := range all {
			p[k] = v
		}
		for _, k := range c.drop {
			delete(p, k)
		}
		f := query(t, s, p)
		requireOK(t, f)
		require.Equal(t, "1", f["refund_count"])
		require.Equal(t, c.want, f["out_refund_no_0"])
		require.Equal(t, c.wantTrade, f["out_trade_no"])
	}

	// A higher-priority id that matches nothing is not rescued by the others.
	p := params{"refund_id": "50300000000000000000000000000", "out_refund_no": "RB"}
	requireErrCode(t, query(t, s, p), wxrefund.CodeRefundNotExist)
	// Querying one refund ignores offset.
	f := query(t, s, params{"out_refund_no": "RB", "offset": "5"})
	requireOK(t, f)
	require.NotContains(t, f, "total_refund_count")
}

func TestQueryRefundNotExist(t *testing.T) {
	s := newServer(t)
	o := addOrder(t, s, wxrefundtest.Order{OutTradeNo: "NOREFUNDS", TotalFee: 100})
	for _, p := range []params{
		{"refund_id": "50300000000000000000000000000"},
		{"out_refund_no": "NOPE"},
		{"transaction_id": "4200000000000000000000000000"},
		{"out_trade_no": "NOPE"},
		{"transaction_id": o.TransactionID}, // paid, never refunded
		{"out_trade_no": "NOREFUNDS"},
	} {
		requireErrCode(t, query(t, s, p), wxrefund.CodeRefundNotExist)
	}
	requireErrCode(t, query(t, s, params{}), wxrefund.CodeParamError)
}

// TestQueryFields checks every documented field of the refund query
// response (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_5) on
// a coupon order with a successful and a processing refund.
func TestQueryFields(t *testing.T) {
	clk := newClock()
	s := newServer(t, wxrefundtest.WithClock(clk.Now))
	o := addOrder(t, s, wxrefundtest.Order{OutTradeNo: "ORD20240601123456", TotalFee: 5000, CouponFee: 500,
		CouponID: "20000000123"})
	r0 := mustRefund(t, s, o.OutTradeNo, "RF1", 5000, 2000)
	r1 := call(t, s, wxrefundtest.PathRefund, params{"out_trade_no": o.OutTradeNo, "out_refund_no": "RF2",
		"total_fee": "5000", "refund_fee": "1000", "refund_account": wxrefund.RefundAccountRechargeFunds})
	requireOK(t, r1)
	clk.Advance(90 * time.Second)
	require.NoError(t, s.Complete("RF1", wxrefund.RefundStatusSuccess))

	f := query(t, s, params{"out_trade_no": o.OutTradeNo})
	requireOK(t, f)
	want := params{
		"transaction_id": o.TransactionID, "out_trade_no": o.OutTradeNo, "total_fee": "5000",
		"settlement_total_fee": "4500", "fee_type": "CNY", "cash_fee": "4500", "refund_count": "2",
		"refund_fee": "3000", "coupon_refund_fee": "300", "cash_refund_fee": "2700",

		"out_refund_no_0": "RF1", "refund_id_0": r0["refund_id"], "refund_channel_0": "ORIGINAL",
		"refund_fee_0": "2000", "settlement_refund_fee_0": "1800", "coupon_refund_fee_0": "200",
		"coupon_refund_count_0": "1", "coupon_type_0_0": "NO_CASH", "coupon_refund_id_0_0": "20000000123",
		"coupon_refund_fee_0_0": "200", "refund_status_0": "SUCCESS",
		"refund_account_0": wxrefund.RefundAccountUnsettledFunds, "refund_recv_accout_0": "支付用户零钱",
		"refund_success_time_0": "2024-06-03 10:17:12", // the clock's time in China Standard Time

		"out_refund_no_1": "RF2", "refund_id_1": r1["refund_id"], "refund_channel_1": "ORIGINAL",
		"refund_fee_1": "1000", "settlement_refund_fee_1": "900", "coupon_refund_fee_1": "100",
		"coupon_refund_count_1": "1", "coupon_type_1_0": "NO_CASH", "coupon_refund_id_1_0": "20000000123",
		"coupon_refund_fee_1_0": "100", "refund_status_1": "PROCESSING",
		"refund_account_1": wxrefund.RefundAccountRechargeFunds, "refund_recv_accout_1": "支付用户零钱",
	}
	for k, v := range want {
		require.Equal(t, v, f[k], k)
	}
	require.NotContains(t, f, "refund_success_time_1", "only SUCCESS refunds have a success time")
	for k := range f {
		switch k {
		case "return_code", "return_msg", "appid", "mch_id", "nonce_str", "sign", "result_code":
		default:
			require.Contains(t, want, k, "unexpected field")
		}
	}

	st, ok := s.RefundState("RF1")
	require.True(t, ok)
	require.Equal(t, clk.Now(), st.SuccessTime)
}

func TestFailNext(t *testing.T) {
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})

	s.FailNext(wxrefundtest.PathRefund, wxrefund.CodeSystemError, 2)
	s.FailNext(wxrefundtest.PathRefund, wxrefund.CodeBizErrNeedRetry, 1)
	requireErrCode(t, refund(t, s, "O1", "R1", 100, 10), wxrefund.CodeSystemError)
	require.Empty(t, s.Refunds("O1"), "an injected failure changes nothing")
	// Requests that fail verification do not consume an injected failure.
	_, raw := postRaw(t, httpClient(t, s, true), s.URL()+wxrefundtest.PathRefund, []byte("junk"))
	requireReturnFail(t, decode(t, s, raw, wxrefund.SignTypeMD5), "XML格式错误")
	// HMAC requests get HMAC-signed failures.
	f := callType(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "O1", "out_refund_no": "R1",
		"total_fee": "100", "refund_fee": "10"}, wxrefund.SignTypeHMACSHA256)
	requireErrCode(t, f, wxrefund.CodeSystemError)
	requireErrCode(t, refund(t, s, "O1", "R1", 100, 10), wxrefund.CodeBizErrNeedRetry)
	// Queries are not affected by refund failures.
	requireErrCode(t, query(t, s, params{"out_refund_no": "R1"}), wxrefund.CodeRefundNotExist)
	mustRefund(t, s, "O1", "R1", 100, 10)

	s.FailNext(wxrefundtest.PathRefundQuery, wxrefund.CodeSystemError, 1)
	requireErrCode(t, query(t, s, params{"out_refund_no": "R1"}), wxrefund.CodeSystemError)
	requireOK(t, query(t, s, params{"out_refund_no": "R1"}))

	s.FailNext(wxrefundtest.PathRefundQuery, wxrefund.CodeSystemError, 5)
	s.ClearFaults()
	requireOK(t, query(t, s, params{"out_refund_no": "R1"}))
	require.Len(t, s.Refunds("O1"), 1)

	// Huge counts cost no memory (the admin API passes times through).
	s.FailNext(wxrefundtest.PathRefundQuery, wxrefund.CodeSystemError, math.MaxInt)
	s.FailNext(wxrefundtest.PathRefundQuery, wxrefund.CodeSystemError, math.MaxInt)
	requireErrCode(t, query(t, s, params{"out_refund_no": "R1"}), wxrefund.CodeSystemError)
	s.ClearFaults()
	requireOK(t, query(t, s, params{"out_refund_no": "R1"}))
}
