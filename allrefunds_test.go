package wxrefund_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// AllRefunds walks an order with 37 refunds page by page: each once, in the
// order the fake (as WeChat Pay) lists them; breaking stops the walk.
func TestAllRefunds(t *testing.T) {
	t.Parallel()
	fake, c := xtFake(t, []wxrefundtest.Order{{OutTradeNo: "ORD37", TotalFee: 100000}})
	ctx := context.Background()
	for i := range 37 {
		_, err := c.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: "ORD37", OutRefundNo: fmt.Sprintf("RF%02d", i),
			TotalFee: 100000, RefundFee: int64(100 + i)})
		require.NoError(t, err)
	}
	var want []string
	for _, r := range fake.Refunds("ORD37") {
		want = append(want, r.OutRefundNo)
	}
	require.Len(t, want, 37)

	var got []string
	var sum int64
	for r, err := range c.AllRefunds(ctx, &wxrefund.QueryRefundRequest{OutTradeNo: "ORD37"}) {
		require.NoError(t, err)
		got = append(got, r.OutRefundNo)
		sum += r.RefundFee
	}
	assert.Equal(t, want, got)
	assert.EqualValues(t, 37*100+36*37/2, sum, "amounts reconcile to the fen")

	// Breaking out stops the walk.
	n := 0
	for _, err := range c.AllRefunds(ctx, &wxrefund.QueryRefundRequest{OutTradeNo: "ORD37"}) {
		require.NoError(t, err)
		if n++; n == 12 {
			break
		}
	}
	assert.Equal(t, 12, n)

	// By refund number: that one refund.
	got = got[:0]
	for r, err := range c.AllRefunds(ctx, &wxrefund.QueryRefundRequest{OutRefundNo: "RF07"}) {
		require.NoError(t, err)
		got = append(got, r.OutRefundNo)
	}
	assert.Equal(t, []string{"RF07"}, got)

	// A failure is yielded once and ends the walk.
	var errs []error
	for _, err := range c.AllRefunds(ctx, &wxrefund.QueryRefundRequest{OutTradeNo: "NO-SUCH-ORDER"}) {
		errs = append(errs, err)
	}
	require.Len(t, errs, 1)
	assert.Error(t, errs[0])
}
