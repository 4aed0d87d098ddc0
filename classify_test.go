package wxrefund

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// Classify gives one action per kind of failure, whatever wraps it.
func TestClassify(t *testing.T) {
	t.Parallel()
	biz := func(code string) error { return &Error{ReturnCode: "SUCCESS", ResultCode: "FAIL", ErrCode: code} }
	_, configErr := NewClient("", "1900000109", "wxrefundtestFakeAPIKey0123456789")
	for _, tc := range []struct {
		name string
		err  error
		want Action
	}{
		{"nil", nil, Succeeded},
		{"a field refused", &ValidationError{"RefundFee", "must be positive"}, FixRequest},
		{"NewClient without AppID", configErr, FixConfiguration},
		{"a wrong API key (SIGNERROR)", biz(CodeSignError), FixConfiguration},
		{"a wrong API key (签名错误)", &Error{ReturnCode: "FAIL", ReturnMsg: "签名错误"}, FixConfiguration},
		{"the certificate (CERT_ERROR)", biz(CodeCertError), FixConfiguration},
		{"nginx's certificate page", &MessageError{Op: opRefund, StatusCode: 400, Err: ErrCertificateRejected}, FixConfiguration},
		{"the server's certificate", &TransportError{Op: opRefund, Err: x509.UnknownAuthorityError{}}, FixConfiguration},
		{"no certificate for Refund", ErrCertificateRequired, FixConfiguration},
		{"the context done before sending", &TransportError{Op: opRefund, Err: context.Canceled, unsent: true}, SendLater},
		{"a refund timed out", refundOutcome(&TransportError{Op: opRefund, Err: context.DeadlineExceeded}), SendAgain},
		{"a refund's SYSTEMERROR", refundOutcome(biz(CodeSystemError)), SendAgain},
		{"NOTENOUGH (after a top-up)", refundOutcome(biz(CodeNotEnough)), SendAgain},
		{"an unknown first attempt, then a final code", refundOutcome(&retriedError{attempts: 2, earlierUnknown: true, err: biz(CodeTradeOverdue)}), SendAgain},
		{"a query's SYSTEMERROR", biz(CodeSystemError), SendAgain},
		{"a query answer that cannot be trusted", &MessageError{Op: opRefundQuery, Err: ErrSignatureMismatch}, SendAgain},
		{"a query's broken connection", &TransportError{Op: opRefundQuery, Err: errors.New("EOF")}, SendAgain},
		{"a query cancelled by the caller", &TransportError{Op: opRefundQuery, Err: context.Canceled}, SendLater},
		{"a query cancelled during a retry pause", &retriedError{attempts: 1, err: biz(CodeSystemError), stopped: context.Canceled}, SendAgain},
		{"Bill Creating", &Error{ReturnCode: "FAIL", ReturnMsg: "Bill Creating"}, SendAgain},
		{"ORDERNOTEXIST", refundOutcome(biz(CodeOrderNotExist)), GiveUp},
		{"TRADE_OVERDUE", refundOutcome(biz(CodeTradeOverdue)), GiveUp},
		{"REFUNDNOTEXIST", biz(CodeRefundNotExist), GiveUp},
		{"no bill that day", &Error{ReturnCode: "FAIL", ReturnMsg: "No Bill Exist", ErrCode: "20002"}, GiveUp},
		{"a notification that does not decrypt", &MessageError{Op: opNotification, Err: ErrDecrypt}, GiveUp},
		{"a conflicting out_refund_no", &RefundConflictError{OutRefundNo: "RF1", Field: "RefundFee"}, GiveUp},
		{"the caller's own error", errors.New("disk full"), GiveUp},
		{"an unknown first attempt, then a limiter that refused", refundOutcome(&retriedError{attempts: 2, earlierUnknown: true,
			err: &TransportError{Op: opRefund, Err: context.DeadlineExceeded, unsent: true}}), SendAgain},
		{"an unknown first domain, then a certificate page", refundOutcome(&failedOverError{firstUnknown: true,
			err: &MessageError{Op: opRefund, StatusCode: 400, Err: ErrCertificateRejected}}), SendAgain},
		{"another merchant's bill", &MessageError{Op: opBill, Err: ErrMerchantMismatch}, FixConfiguration},
		{"a refund answer of another merchant", refundOutcome(&MessageError{Op: opRefund, Err: ErrMerchantMismatch}), SendAgain},
	} {
		wrapped := tc.err
		if wrapped != nil {
			wrapped = fmt.Errorf("reconciling: %w", tc.err)
		}
		assert.Equal(t, tc.want, Classify(tc.err), tc.name)
		assert.Equal(t, tc.want, Classify(wrapped), "%s, wrapped", tc.name)
		if tc.want == SendAgain && !errors.Is(tc.err, ErrOutcomeUnknown) {
			assert.True(t, IsRetryable(tc.err), "%s: SendAgain without an unknown outcome is IsRetryable", tc.name)
		}
		if IsRetryable(tc.err) {
			assert.Equal(t, SendAgain, Classify(tc.err), "%s: IsRetryable is SendAgain", tc.name)
		}
	}
	for a := Succeeded; a <= GiveUp+1; a++ {
		assert.NotEmpty(t, a.String())
	}
}
