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

// With WithRetry, a refund whose answer was lost (a signed SYSTEMERROR, or
// a dropped connection, after the fake applied it) is sent again with the
// same out_refund_no, and the retry returns the refund that exists:
// exactly one refund is made.
func TestRetryAfterLostAnswerMakesOneRefund(t *testing.T) {
	t.Parallel()
	for _, lost := range []string{wxrefund.CodeSystemError, ""} {
		t.Run("lost as "+map[string]string{"": "a dropped connection"}[lost]+lost, func(t *testing.T) {
			t.Parallel()
			fake, c := xtFake(t, []wxrefundtest.Order{{OutTradeNo: "ORD1", TotalFee: 5000}},
				wxrefund.WithRetry(wxrefund.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond}))

			fake.LoseNext(lost, 1)
			resp, err := c.Refund(context.Background(), &wxrefund.RefundRequest{
				OutTradeNo: "ORD1", OutRefundNo: "RF1", TotalFee: 5000, RefundFee: 2000})
			require.NoError(t, err)
			refunds := fake.Refunds("ORD1")
			require.Len(t, refunds, 1, "exactly one refund")
			assert.Equal(t, refunds[0].RefundID, resp.RefundID, "the retry returns the refund that exists")
			assert.EqualValues(t, 2000, refunds[0].RefundFee)
		})
	}
}
