package wxrefund

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestErrorText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{
			name: "communication level",
			err:  &Error{ReturnCode: "FAIL", ReturnMsg: "invalid refund_fee"},
			want: "wxrefund: return_code FAIL: invalid refund_fee",
		},
		{
			name: "communication level without message",
			err:  &Error{ReturnCode: "FAIL"},
			want: "wxrefund: return_code FAIL",
		},
		{
			name: "business level",
			err:  &Error{ReturnCode: "SUCCESS", ReturnMsg: "OK", ResultCode: "FAIL", ErrCode: CodeNotEnough, ErrCodeDes: "基本账户余额不足"},
			want: "wxrefund: NOTENOUGH: 基本账户余额不足 (the refundable balance is too low: top up the basic account " +
				"or wait for settlement, then send the same request again)",
		},
		{
			name: "business level without description",
			err:  &Error{ReturnCode: "SUCCESS", ResultCode: "FAIL", ErrCode: CodeSystemError},
			want: "wxrefund: SYSTEMERROR",
		},
		{
			name: "business level without err_code",
			err:  &Error{ReturnCode: "SUCCESS", ResultCode: "FAIL"},
			want: "wxrefund: result_code FAIL (WeChat Pay gave no err_code: query the refund before anything else)",
		},
		{
			name: "business level with only a description",
			err:  &Error{ReturnCode: "SUCCESS", ResultCode: "FAIL", ErrCodeDes: "订单已全额退款"},
			want: "wxrefund: result_code FAIL: 订单已全额退款 (WeChat Pay gave no err_code: query the refund before anything else)",
		},
		{
			name: "zero value",
			err:  &Error{},
			want: "wxrefund: error",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, tc.err.Error())
		})
	}
}

func TestErrorIs(t *testing.T) {
	t.Parallel()
	biz := &Error{ReturnCode: "SUCCESS", ResultCode: "FAIL", ErrCode: CodeNotEnough, ErrCodeDes: "余额不足"}
	comm := &Error{ReturnCode: "FAIL", ReturnMsg: "签名失败"}

	tests := []struct {
		name   string
		err    error
		target error
		want   bool
	}{
		{"same err_code", biz, &Error{ErrCode: CodeNotEnough}, true},
		{"other err_code", biz, &Error{ErrCode: CodeSystemError}, false},
		{"err_code wins over return_code", biz, &Error{ReturnCode: "SUCCESS", ErrCode: CodeSystemError}, false},
		{"business failure by return_code SUCCESS", biz, &Error{ReturnCode: "SUCCESS"}, true},
		{"business failure is not a communication failure", biz, &Error{ReturnCode: "FAIL"}, false},
		{"communication failure", comm, &Error{ReturnCode: "FAIL"}, true},
		{"communication failure has no err_code", comm, &Error{ErrCode: CodeNotEnough}, false},
		{"empty target matches nothing", biz, &Error{}, false},
		{"empty target, communication", comm, &Error{}, false},
		{"sentinel", biz, ErrOutcomeUnknown, false},
		{"wrapped", fmt.Errorf("ctx: %w", biz), &Error{ErrCode: CodeNotEnough}, true},
		{"inside unknown outcome", &unknownOutcome{&Error{ErrCode: CodeSystemError}}, &Error{ErrCode: CodeSystemError}, true},
		{"unknown outcome", &unknownOutcome{&Error{ErrCode: CodeSystemError}}, ErrOutcomeUnknown, true},
		{"same pointer", biz, biz, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, errors.Is(tc.err, tc.target))
		})
	}
}

func TestErrorRetryable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code string
		want bool
	}{
		{CodeSystemError, true},
		{CodeBizErrNeedRetry, true},
		{CodeOrderNotReady, true},
		{CodeFrequencyLimited, true},
		{CodeInvalidReqTooMuch, true},
		{CodeNotEnough, false},
		{CodeTradeOverdue, false},
		{CodeUserAccountAbnormal, false},
		{CodeParamError, false},
		{CodeSignError, false},
		{CodeBusinessError, false},
		{CodeInvalidTransactionID, false},
		{CodeOrderNotExist, false},
		{CodeRefundFeeMismatch, false},
		{CodeTradeStateError, false},
		{CodeCertError, false},
		{CodeRefundNotExist, false},
		{"systemerror", false},
		{"SOMETHING_NEW", false},
		{"", false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%q", tc.code), func(t *testing.T) {
			t.Parallel()
			e := &Error{ReturnCode: "SUCCESS", ResultCode: "FAIL", ErrCode: tc.code}
			assert.Equal(t, tc.want, e.Retryable())
			assert.Equal(t, tc.want, IsRetryable(e))
			assert.Equal(t, tc.want, IsRetryable(fmt.Errorf("wrapped: %w", e)))
		})
	}
	assert.False(t, (&Error{ReturnCode: "FAIL", ReturnMsg: "invalid refund_fee"}).Retryable(),
		"return_code FAIL needs a fix first")
}

func TestErrorCode(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "", ErrorCode(nil))
	assert.Equal(t, "", ErrorCode(io.EOF))
	assert.Equal(t, "", ErrorCode(&Error{ReturnCode: "FAIL"}))
	assert.Equal(t, CodeNotEnough, ErrorCode(&Error{ErrCode: CodeNotEnough}))
	assert.Equal(t, CodeSystemError, ErrorCode(&unknownOutcome{fmt.Errorf("x: %w", &Error{ErrCode: CodeSystemError})}))
}

func TestIsRetryable(t *testing.T) {
	t.Parallel()
	certErr := &url.Error{Op: "Post", URL: "https://api.mch.weixin.qq.com/secapi/pay/refund",
		Err: x509.UnknownAuthorityError{}}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"unrelated", io.EOF, false},
		{"validation", &ValidationError{Field: "OutRefundNo", Reason: "empty"}, false},
		{"config", ErrInvalidConfig, false},
		{"certificate required", ErrCertificateRequired, false},
		{"transport, connection reset", &TransportError{Op: "refund", Err: io.ErrUnexpectedEOF}, true},
		{"transport, deadline", &TransportError{Op: "refund", Err: context.DeadlineExceeded}, true},
		{"transport, cancelled by the caller", &TransportError{Op: "refund", Err: &url.Error{Op: "Post", Err: context.Canceled}}, false},
		{"unknown outcome, cancelled by the caller", &unknownOutcome{&TransportError{Op: "refund", Err: context.Canceled}}, false},
		{"transport, remote error that is not an alert", &TransportError{Op: "refund", Err: &net.OpError{Op: "remote error", Err: io.EOF}}, true},
		{"transport, read error", &TransportError{Op: "refund", Err: &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}}, true},
		{"transport, HTTP 502", &TransportError{Op: "refund", StatusCode: 502, Err: errors.New("bad gateway")}, true},
		{"transport, untrusted server certificate", &TransportError{Op: "refund", Err: certErr}, false},
		{"transport, hostname mismatch", &TransportError{Op: "refund", Err: x509.HostnameError{Certificate: &x509.Certificate{}, Host: "x"}}, false},
		{"unknown outcome, bad signature", &unknownOutcome{&MessageError{Op: "refund", StatusCode: 200, Err: ErrSignatureMismatch}}, true},
		{"unknown outcome, HTTP 502", &unknownOutcome{&MessageError{Op: "refund", StatusCode: 502, Err: ErrHTTPStatus}}, true},
		{"nginx certificate page", &MessageError{Op: "refund", StatusCode: 400, Err: ErrCertificateRejected}, false},
		{"notification", &MessageError{Op: "notification", Err: ErrDecrypt}, false},
		{"context done before sending", &TransportError{Op: "refund", Err: context.DeadlineExceeded, unsent: true}, true},
		{"SIGNERROR", &Error{ReturnCode: "SUCCESS", ResultCode: "FAIL", ErrCode: CodeSignError}, false},
		{"wrong API key", &Error{ReturnCode: "FAIL", ReturnMsg: "签名错误"}, false},
		{"unknown outcome, SYSTEMERROR", &unknownOutcome{&Error{ErrCode: CodeSystemError}}, true},
		{"signature mismatch of a query: asking again is safe", &MessageError{Op: "refundquery", StatusCode: 200, Err: ErrSignatureMismatch}, true},
		{"bare sentinel", ErrSignatureMismatch, false},
		{"retryable business error", &Error{ErrCode: CodeFrequencyLimited}, true},
		{"final business error", &Error{ErrCode: CodeTradeOverdue}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, IsRetryable(tc.err))
		})
	}
}

func TestValidationError(t *testing.T) {
	t.Parallel()
	e := &ValidationError{Field: "RefundFee", Reason: "must not exceed TotalFee"}
	assert.Equal(t, "wxrefund: invalid request: RefundFee: must not exceed TotalFee", e.Error())
	assert.Equal(t, "wxrefund: invalid request: the request is nil", (&ValidationError{Reason: "the request is nil"}).Error())

	assert.ErrorIs(t, e, ErrInvalidRequest)
	assert.ErrorIs(t, fmt.Errorf("outer: %w", e), ErrInvalidRequest)
	assert.NotErrorIs(t, e, ErrInvalidConfig)
	assert.NotErrorIs(t, e, ErrOutcomeUnknown)
	assert.NotErrorIs(t, e, ErrMalformed)

	var ve *ValidationError
	require.ErrorAs(t, fmt.Errorf("outer: %w", e), &ve)
	assert.Equal(t, "RefundFee", ve.Field)
}

func TestTransportError(t *testing.T) {
	t.Parallel()
	e := &TransportError{Op: "refund", StatusCode: 502, Err: errors.New("unexpected HTTP status: 502 Bad Gateway")}
	assert.Equal(t, "wxrefund: refund: HTTP 502: unexpected HTTP status: 502 Bad Gateway", e.Error())
	assert.Equal(t, "wxrefund: refundquery: EOF", (&TransportError{Op: "refundquery", Err: io.EOF}).Error())

	wrapped := &TransportError{Op: "refund", Err: &url.Error{Op: "Post", URL: "https://x", Err: context.DeadlineExceeded}}
	assert.ErrorIs(t, wrapped, context.DeadlineExceeded)
	assert.True(t, wrapped.Retryable())
	assert.NotErrorIs(t, wrapped, ErrOutcomeUnknown, "by itself; Refund marks it")
}

func TestUnknownOutcomeError(t *testing.T) {
	t.Parallel()
	cause := &TransportError{Op: "refund", StatusCode: 500, Err: errors.New("unexpected HTTP status")}
	err := error(&unknownOutcome{cause})
	assert.ErrorIs(t, err, ErrOutcomeUnknown)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.Same(t, cause, te)
	assert.Contains(t, err.Error(), "out_refund_no")
	assert.Contains(t, err.Error(), "HTTP 500")
	assert.Equal(t, 1, strings.Count(err.Error(), "wxrefund:"), "the prefix appears once: %s", err)
}

// Every sentinel is distinct, so errors.Is never confuses two of them.
func TestSentinelsDistinct(t *testing.T) {
	t.Parallel()
	all := []error{ErrSignatureMismatch, ErrOutcomeUnknown, ErrInvalidRequest, ErrInvalidConfig, ErrCertificate,
		ErrCertificateRequired, ErrMerchantMismatch, ErrMalformed, ErrBodyTooLarge, ErrDecrypt, ErrBillNotFound,
		ErrRefundNotExist, ErrRefundConflict, ErrHTTPStatus, ErrCertificateRejected, ErrSignatureRejected, ErrPaymentNotification}
	for i, a := range all {
		for j, b := range all {
			assert.Equal(t, i == j, errors.Is(a, b), "%v vs %v", a, b)
		}
	}
}
