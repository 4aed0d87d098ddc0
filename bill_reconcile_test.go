package wxrefund_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// A refund's amounts read the same from its answer, its query record and
// its bill row: the whole refund, the settlement part after the
// non-recharge coupon, and the coupon part.
func TestBillAmountsMatchTheRefund(t *testing.T) {
	t.Parallel()
	fake, c := xtFake(t, []wxrefundtest.Order{{OutTradeNo: "ORD-COUPON", TotalFee: 5000, CouponFee: 500}})
	ctx := context.Background()
	resp, err := c.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: "ORD-COUPON", OutRefundNo: "RF-COUPON",
		TotalFee: 5000, RefundFee: 3000})
	require.NoError(t, err)
	require.Positive(t, resp.CouponRefundFee, "the fake splits the coupon off")
	q, err := c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutRefundNo: "RF-COUPON"})
	require.NoError(t, err)
	rec := q.Refunds[0]

	var rows []*wxrefund.RefundBillRecord
	sum, err := c.DownloadRefundBill(ctx, &wxrefund.RefundBillRequest{Date: time.Now()},
		func(r *wxrefund.RefundBillRecord) error { rows = append(rows, r); return nil })
	require.NoError(t, err)
	require.Len(t, rows, 1)
	row := rows[0]

	want := [3]int64{resp.RefundFee, resp.SettlementRefundFee, resp.CouponRefundFee}
	assert.Equal(t, [3]int64{3000, 2700, 300}, want)
	assert.Equal(t, want, [3]int64{rec.RefundFee, rec.SettlementRefundFee, rec.CouponRefundFee}, "query record")
	assert.Equal(t, want, [3]int64{row.RefundFee, row.SettlementRefundFee, row.CouponRefundFee}, "bill row")
	assert.Equal(t, want, [3]int64{sum.RefundFee, sum.SettlementRefundFee, sum.CouponRefundFee}, "bill summary")
	assert.Zero(t, row.RechargeCouponRefundFee, "the fake's coupons are non-recharge ones")
	assert.Equal(t, fake.Refunds("ORD-COUPON")[0].RefundID, row.RefundID)
}
