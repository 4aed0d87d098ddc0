package wxrefundtest_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

func TestRefundAccepted(t *testing.T) {
	clk := newClock()
	s := newServer(t, wxrefundtest.WithClock(clk.Now))
	o := addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 1000})
	require.Len(t, o.TransactionID, 28)
	require.True(t, isDigits(o.TransactionID))
	require.Equal(t, clk.Now(), o.PaidAt)

	f := mustRefund(t, s, "O1", "R1", 1000, 300)
	require.Equal(t, o.TransactionID, f["transaction_id"])
	require.Equal(t, "O1", f["out_trade_no"])
	require.Equal(t, "R1", f["out_refund_no"])
	require.Len(t, f["refund_id"], 29)
	require.True(t, isDigits(f["refund_id"]))
	for k, v := range map[string]string{"refund_fee": "300", "settlement_refund_fee": "300", "total_fee": "1000",
		"settlement_total_fee": "1000", "cash_fee": "1000", "cash_refund_fee": "300", "coupon_refund_fee": "0",
		"coupon_refund_count": "0", "fee_type": "CNY"} {
		require.Equal(t, v, f[k], k)
	}
	require.NotContains(t, f, "coupon_type_0")

	st := s.Refunds("O1")
	require.Len(t, st, 1)
	require.Equal(t, wxrefundtest.RefundState{
		OutRefundNo: "R1", RefundID: f["refund_id"], TransactionID: o.TransactionID, OutTradeNo: "O1",
		TotalFee: 1000, RefundFee: 300, CashRefundFee: 300, Status: wxrefund.RefundStatusProcessing,
		RefundAccount: wxrefund.RefundAccountUnsettledFunds, CreatedAt: clk.Now(),
	}, st[0])

	// By transaction_id too.
	f = call(t, s, wxrefundtest.PathRefund, params{"transaction_id": o.TransactionID, "out_refund_no": "R2",
		"total_fee": "1000", "refund_fee": "700"})
	requireOK(t, f)
	require.Equal(t, "O1", f["out_trade_no"])
	require.Len(t, s.Refunds("O1"), 2)
	require.Nil(t, s.Refunds("nope"))
}

func TestRefundIDsUnique(t *testing.T) {
	s := newServer(t)
	seen := map[string]bool{}
	for i := range 3 {
		no := fmt.Sprint("O", i)
		o := addOrder(t, s, wxrefundtest.Order{OutTradeNo: no, TotalFee: 100})
		require.False(t, seen[o.TransactionID])
		seen[o.TransactionID] = true
		for j := range 20 {
			id := mustRefund(t, s, no, fmt.Sprint(no, "R", j), 100, 1)["refund_id"]
			require.Len(t, id, 29)
			require.False(t, seen[id], "duplicate id %s", id)
			seen[id] = true
		}
	}
}

func TestRefundTransactionIDWins(t *testing.T) {
	s := newServer(t)
	a := addOrder(t, s, wxrefundtest.Order{OutTradeNo: "A", TotalFee: 100})
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "B", TotalFee: 200})
	// transaction_id names A, out_trade_no names B: A's total_fee is right.
	f := call(t, s, wxrefundtest.PathRefund, params{"transaction_id": a.TransactionID, "out_trade_no": "B",
		"out_refund_no": "R1", "total_fee": "100", "refund_fee": "10"})
	requireOK(t, f)
	require.Equal(t, "A", f["out_trade_no"])
	require.Len(t, s.Refunds("A"), 1)
	require.Empty(t, s.Refunds("B"))

	// An unknown transaction_id is not rescued by a known out_trade_no.
	f = call(t, s, wxrefundtest.PathRefund, params{"transaction_id": "4200000000000000000000000000", "out_trade_no": "B",
		"out_refund_no": "R2", "total_fee": "200", "refund_fee": "10"})
	requireErrCode(t, f, wxrefund.CodeOrderNotExist)
}

func TestRefundOrderNotExist(t *testing.T) {
	s := newServer(t)
	requireErrCode(t, refund(t, s, "NOPE", "R1", 100, 10), wxrefund.CodeOrderNotExist)
	f := call(t, s, wxrefundtest.PathRefund, params{"transaction_id": "4200000000000000000000000001",
		"out_refund_no": "R1", "total_fee": "100", "refund_fee": "10"})
	requireErrCode(t, f, wxrefund.CodeOrderNotExist)
}

func TestRefundTotalFeeMismatch(t *testing.T) {
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 1000})
	mustRefund(t, s, "O1", "R1", 1000, 400)
	// total_fee is the order total, not what is left of it.
	requireErrCode(t, refund(t, s, "O1", "R2", 600, 100), wxrefund.CodeInvalidRequest)
	requireErrCode(t, refund(t, s, "O1", "R2", 1001, 100), wxrefund.CodeInvalidRequest)
	require.Len(t, s.Refunds("O1"), 1)
}

func TestRefundOverRefund(t *testing.T) {
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 1000})
	mustRefund(t, s, "O1", "R1", 1000, 600)
	f := refund(t, s, "O1", "R2", 1000, 401)
	requireErrCode(t, f, wxrefund.CodeInvalidRequest)
	require.Contains(t, f["err_code_des"], "refund_fee greater than refundable")
	mustRefund(t, s, "O1", "R3", 1000, 400)
	// Fully refunded now.
	requireErrCode(t, refund(t, s, "O1", "R4", 1000, 1), wxrefund.CodeBusinessError)

	fee, _, _ := sum(s.Refunds("O1"))
	require.EqualValues(t, 1000, fee)
	require.Len(t, s.Refunds("O1"), 2)
}

func TestRefundAtMost50(t *testing.T) {
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 1000})
	for i := range wxrefundtest.MaxRefundsPerOrder {
		mustRefund(t, s, "O1", fmt.Sprint("R", i), 1000, 1)
	}
	f := refund(t, s, "O1", "R50", 1000, 1)
	requireErrCode(t, f, wxrefund.CodeInvalidRequest)
	require.Len(t, s.Refunds("O1"), 50)
	// Retrying one of the fifty is still idempotent.
	requireOK(t, refund(t, s, "O1", "R7", 1000, 1))
}

func TestRefundTradeOverdue(t *testing.T) {
	clk := newClock()
	s := newServer(t, wxrefundtest.WithClock(clk.Now))
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "OLD", TotalFee: 100, PaidAt: clk.Now().AddDate(-1, 0, -1)})
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "RECENT", TotalFee: 100, PaidAt: clk.Now().AddDate(0, 0, -364)})

	requireErrCode(t, refund(t, s, "OLD", "R1", 100, 10), wxrefund.CodeTradeOverdue)
	mustRefund(t, s, "RECENT", "R2", 100, 10)

	clk.Advance(3 * 24 * time.Hour) // RECENT was paid more than a year ago now
	requireErrCode(t, refund(t, s, "RECENT", "R3", 100, 10), wxrefund.CodeTradeOverdue)
	// The refund applied in time stays retrievable with its own number.
	requireOK(t, refund(t, s, "RECENT", "R2", 100, 10))
	require.Len(t, s.Refunds("RECENT"), 1)
}

func TestRefundNotEnough(t *testing.T) {
	s := newServer(t, wxrefundtest.WithBalance(1000))
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 5000})
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "C1", TotalFee: 1000, CouponFee: 500})

	mustRefund(t, s, "O1", "R1", 5000, 800)
	require.EqualValues(t, 200, s.Balance())
	requireErrCode(t, refund(t, s, "O1", "R2", 5000, 300), wxrefund.CodeNotEnough)
	require.Len(t, s.Refunds("O1"), 1)
	require.EqualValues(t, 200, s.Balance())

	// Only the cash part of a coupon order's refund comes from the balance:
	// 400 of which 200 is coupon.
	f := mustRefund(t, s, "C1", "R3", 1000, 400)
	require.Equal(t, "200", f["cash_refund_fee"])
	require.EqualValues(t, 0, s.Balance())

	// Top up, then the same out_refund_no goes through: NOTENOUGH is worth
	// a retry.
	require.NoError(t, s.SetBalance(300))
	mustRefund(t, s, "O1", "R2", 5000, 300)
	require.EqualValues(t, 0, s.Balance())
	require.Error(t, s.SetBalance(-1))
}

func TestRefundIdempotent(t *testing.T) {
	s := newServer(t, wxrefundtest.WithBalance(10000))
	o := addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 1000})
	first := mustRefund(t, s, "O1", "R1", 1000, 600)
	for range 3 {
		again := mustRefund(t, s, "O1", "R1", 1000, 600)
		require.Equal(t, first["refund_id"], again["refund_id"])
		require.NotEqual(t, first["nonce_str"], again["nonce_str"])
	}
	// By the other order id, the same refund too.
	again := call(t, s, wxrefundtest.PathRefund, params{"transaction_id": o.TransactionID, "out_refund_no": "R1",
		"total_fee": "1000", "refund_fee": "600"})
	requireOK(t, again)
	require.Equal(t, first["refund_id"], again["refund_id"])

	st := s.Refunds("O1")
	require.Len(t, st, 1)
	fee, _, _ := sum(st)
	require.EqualValues(t, 600, fee)
	require.EqualValues(t, 9400, s.Balance())
	// The order still has exactly 400 left.
	requireErrCode(t, refund(t, s, "O1", "R2", 1000, 401), wxrefund.CodeInvalidRequest)
}

func TestRefundFeeMismatch(t *testing.T) {
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 1000})
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O2", TotalFee: 1000})
	mustRefund(t, s, "O1", "R1", 1000, 600)
	requireErrCode(t, refund(t, s, "O1", "R1", 1000, 500), wxrefund.CodeRefundFeeMismatch)
	requireErrCode(t, refund(t, s, "O1", "R1", 999, 600), wxrefund.CodeRefundFeeMismatch)
	// out_refund_no is unique per merchant: another order cannot reuse it.
	requireErrCode(t, refund(t, s, "O2", "R1", 1000, 600), wxrefund.CodeInvalidRequest)
	require.Len(t, s.Refunds("O1"), 1)
	require.Empty(t, s.Refunds("O2"))
}

// TestCouponSplit checks that refunds of a coupon order split into cash and
// coupon parts that are proportional (rounded down), consistent in every
// field, and add up exactly to the order's parts once it is fully refunded.
func TestCouponSplit(t *testing.T) {
	s := newServer(t)
	o := addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 1001, CouponFee: 333})
	require.NotEmpty(t, o.CouponID)

	var coupon int64
	for i, fee := range []int64{1, 1, 2, 300, 555, 142} { // 1001 in all
		f := mustRefund(t, s, "O1", fmt.Sprint("R", i), 1001, fee)
		c, cash := atoi(t, f["coupon_refund_fee"]), atoi(t, f["cash_refund_fee"])
		require.Equal(t, fee, c+cash)
		require.Equal(t, f["cash_refund_fee"], f["settlement_refund_fee"])
		require.Equal(t, "668", f["settlement_total_fee"])
		require.Equal(t, "668", f["cash_fee"])
		if c > 0 {
			require.Equal(t, "1", f["coupon_refund_count"])
			require.Equal(t, "NO_CASH", f["coupon_type_0"])
			require.Equal(t, o.CouponID, f["coupon_refund_id_0"])
			require.Equal(t, f["coupon_refund_fee"], f["coupon_refund_fee_0"])
		} else {
			require.Equal(t, "0", f["coupon_refund_count"])
			require.NotContains(t, f, "coupon_type_0")
		}
		coupon += c
	}
	require.EqualValues(t, 333, coupon)
	fee, cash, cp := sum(s.Refunds("O1"))
	require.EqualValues(t, 1001, fee)
	require.EqualValues(t, 668, cash)
	require.EqualValues(t, 333, cp)
	// 300 of 1001 with a third in coupon: floor((1+1+2+300)*333/1001) - 1 = 100.
	require.EqualValues(t, 100, s.Refunds("O1")[3].CouponRefundFee)
}

// TestCouponSplitProperty refunds random orders in random pieces, closing
// some refunds on the way, and checks the parts never go negative or past
// the order's and always add up exactly at the end.
func TestCouponSplitProperty(t *testing.T) {
	s := newServer(t, wxrefundtest.WithNotifySchedule())
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		total := 1 + rng.Int64N(10000)
		coupon := rng.Int64N(total + 1)
		no := fmt.Sprint("O", i)
		addOrder(t, s, wxrefundtest.Order{OutTradeNo: no, TotalFee: total, CouponFee: coupon})
		left := total
		for j := 0; left > 0; j++ {
			fee := left
			if j < 40 && rng.IntN(3) > 0 {
				fee = 1 + rng.Int64N(left)
			}
			rno := fmt.Sprint(no, "R", j)
			mustRefund(t, s, no, rno, total, fee)
			if j < 40 && rng.IntN(5) == 0 {
				require.NoError(t, s.Complete(rno, wxrefund.RefundStatusClosed))
			} else {
				left -= fee
			}
			for _, r := range s.Refunds(no) {
				require.GreaterOrEqual(t, r.CouponRefundFee, int64(0))
				require.GreaterOrEqual(t, r.CashRefundFee, int64(0))
			}
			_, cash, cp := sum(s.Refunds(no))
			require.LessOrEqual(t, cp, coupon)
			require.LessOrEqual(t, cash, total-coupon)
		}
		fee, cash, cp := sum(s.Refunds(no))
		require.Equal(t, total, fee, "order %s", no)
		require.Equal(t, coupon, cp, "order %s", no)
		require.Equal(t, total-coupon, cash, "order %s", no)
	}
}

func TestConcurrentRefunds(t *testing.T) {
	s := newServer(t, wxrefundtest.WithBalance(1_000_000))
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 1000, CouponFee: 100})
	hc := httpClient(t, s, true)

	// 40 distinct refunds of 50 compete for 1000, and each is also sent
	// twice more with the same out_refund_no.
	type result struct {
		no  string
		raw []byte
		err error
	}
	results := make(chan result, 120)
	var wg sync.WaitGroup
	for i := range 40 {
		no := fmt.Sprint("R", i)
		body := encode(t, sign(s, params{"out_trade_no": "O1", "out_refund_no": no, "total_fee": "1000",
			"refund_fee": "50"}, wxrefund.SignTypeMD5))
		for range 3 {
			wg.Go(func() {
				resp, err := hc.Post(s.URL()+wxrefundtest.PathRefund, "text/xml", bytes.NewReader(body))
				if err != nil {
					results <- result{no: no, err: err}
					return
				}
				defer resp.Body.Close()
				raw, err := io.ReadAll(resp.Body)
				results <- result{no, raw, err}
			})
		}
	}
	// State reads race with the refunds too.
	for range 10 {
		wg.Go(func() {
			s.Refunds("O1")
			s.Balance()
			s.Deliveries()
		})
	}
	wg.Wait()
	close(results)

	ids := map[string]string{} // out_refund_no -> refund_id
	for r := range results {
		require.NoError(t, r.err)
		f := decode(t, s, r.raw, wxrefund.SignTypeMD5)
		if f["result_code"] != "SUCCESS" {
			require.Equal(t, wxrefund.CodeBusinessError, f["err_code"], "refund %s: the order is fully refunded", r.no)
			continue
		}
		if prev, ok := ids[r.no]; ok {
			require.Equal(t, prev, f["refund_id"], "retries of %s must return the same refund", r.no)
		}
		ids[r.no] = f["refund_id"]
	}
	require.Len(t, ids, 20, "exactly 20 refunds of 50 fit in 1000")
	fee, cash, coupon := sum(s.Refunds("O1"))
	require.EqualValues(t, 1000, fee)
	require.EqualValues(t, 900, cash)
	require.EqualValues(t, 100, coupon)
	require.EqualValues(t, 1_000_000-900, s.Balance())
}
