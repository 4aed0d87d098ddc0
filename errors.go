package wxrefund

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"

	"github.com/go-wxpay/wxrefund/internal/wire"
)

// Sentinel errors. Every error the SDK returns wraps one of these or is an
// *Error, a *ValidationError or a *TransportError, so errors.Is and errors.As
// work on all of them.
var (
	// ErrSignatureMismatch reports a response whose sign is missing or does
	// not verify with the API key. For Refund the refund may still have been
	// accepted, so the error also matches ErrOutcomeUnknown.
	ErrSignatureMismatch = errors.New("wxrefund: signature mismatch")

	// ErrOutcomeUnknown is matched (with errors.Is) by every Refund error after
	// which the refund must not be recorded as failed: it may have been
	// accepted (a timeout, a broken connection, an HTTP error status, a body
	// that is not a trustworthy WeChat Pay answer, err_code SYSTEMERROR,
	// BIZERR_NEED_RETRY or REFUND_FEE_MISMATCH), or WeChat Pay asked for the
	// same request again later (ORDER_NOT_READY, FREQUENCY_LIMITED,
	// INVALID_REQ_TOO_MUCH, and NOTENOUGH once the balance is topped up), and
	// an earlier attempt may have been accepted. Retry with the same
	// OutRefundNo and amounts (IsRetryable says when that helps without a fix
	// first; pause between attempts), or look it up with QueryRefund by
	// OutRefundNo. Never allocate a new OutRefundNo for it.
	ErrOutcomeUnknown = errors.New("wxrefund: refund outcome unknown")

	// ErrInvalidRequest is matched by every *ValidationError: a request that
	// was refused locally, before any network call.
	ErrInvalidRequest = errors.New("wxrefund: invalid request")

	// ErrInvalidConfig reports a bad argument or option to NewClient.
	ErrInvalidConfig = errors.New("wxrefund: invalid configuration")

	// ErrCertificate reports a merchant certificate that cannot be loaded.
	ErrCertificate = errors.New("wxrefund: cannot load the merchant certificate")

	// ErrCertificateRequired is returned by Refund on a Client created without
	// a merchant certificate: /secapi/pay/refund needs mutual TLS.
	ErrCertificateRequired = errors.New("wxrefund: a client certificate is required for refunds " +
		"(use WithPEMFiles, WithPKCS12File or WithCertificate)")

	// ErrMerchantMismatch reports a response or notification whose appid or
	// mch_id is not the Client's.
	ErrMerchantMismatch = errors.New("wxrefund: appid/mch_id do not match this client")

	// ErrMalformed reports a response or notification that is not a flat XML
	// document of the expected shape (DOCTYPE, nesting, syntax errors,
	// duplicate fields) or whose fields do not parse (a non-integer amount, a
	// record count beyond what the body holds, a bad time).
	ErrMalformed = wire.ErrMalformedXML

	// ErrBodyTooLarge reports a response or notification body over the 64 KiB
	// limit.
	ErrBodyTooLarge = wire.ErrTooLarge

	// ErrDecrypt reports a notification whose req_info cannot be decrypted:
	// empty, not base64, not a whole number of AES blocks, or bad padding
	// (most often a wrong API key).
	ErrDecrypt = wire.ErrDecrypt
)

// Error codes (err_code) of the refund and refund query APIs. Compare with
// errors.Is(err, &Error{ErrCode: CodeNotEnough}) or ErrorCode(err).
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4 and chapter=9_5.
const (
	CodeSystemError          = "SYSTEMERROR"           // outcome unknown; retry with the same out_refund_no
	CodeBizErrNeedRetry      = "BIZERR_NEED_RETRY"     // concurrent refunds; retry with the same out_refund_no
	CodeTradeOverdue         = "TRADE_OVERDUE"         // order paid over a year ago
	CodeError                = "ERROR"                 // generic; see err_code_des
	CodeUserAccountAbnormal  = "USER_ACCOUNT_ABNORMAL" // payer's account closed or frozen
	CodeInvalidReqTooMuch    = "INVALID_REQ_TOO_MUCH"  // too many invalid requests; wait a minute
	CodeNotEnough            = "NOTENOUGH"             // refundable balance too low; top up first
	CodeInvalidTransactionID = "INVALID_TRANSACTIONID" // bad transaction_id
	CodeParamError           = "PARAM_ERROR"           // bad parameters (also: query offset past the end)
	CodeAppIDNotExist        = "APPID_NOT_EXIST"       // configuration
	CodeMchIDNotExist        = "MCHID_NOT_EXIST"       // configuration
	CodeOrderNotExist        = "ORDERNOTEXIST"         // no paid order with that id
	CodeRequirePostMethod    = "REQUIRE_POST_METHOD"   // client bug
	CodeSignError            = "SIGNERROR"             // wrong API key or sign type
	CodeXMLFormatError       = "XML_FORMAT_ERROR"      // client bug
	CodeFrequencyLimited     = "FREQUENCY_LIMITED"     // rate limited; slow down
	CodeNoAuth               = "NOAUTH"                // IP allow-list
	CodeCertError            = "CERT_ERROR"            // merchant certificate invalid or revoked
	CodeRefundFeeMismatch    = "REFUND_FEE_MISMATCH"   // out_refund_no reused with other amounts
	CodeInvalidRequest       = "INVALID_REQUEST"       // business rule violated; see err_code_des
	CodeOrderNotReady        = "ORDER_NOT_READY"       // order still processing; retry later
	CodeTradeStateError      = "TRADE_STATE_ERROR"     // order state does not allow a refund
	CodeRefundNotExist       = "REFUNDNOTEXIST"        // query: no such refund
)

// retryCodes are the err_codes after which sending the same request again (the
// same out_refund_no and amounts) is the right move without other changes.
var retryCodes = map[string]bool{
	CodeSystemError:       true,
	CodeBizErrNeedRetry:   true,
	CodeOrderNotReady:     true,
	CodeFrequencyLimited:  true,
	CodeInvalidReqTooMuch: true,
}

// Error is a failure that WeChat Pay reported: return_code FAIL (communication
// level: ReturnCode and ReturnMsg set) or result_code FAIL (business level:
// ResultCode, ErrCode such as NOTENOUGH or SYSTEMERROR, and ErrCodeDes).
//
// errors.Is(err, &Error{ErrCode: c}) matches an *Error with err_code c;
// errors.Is(err, &Error{ReturnCode: "FAIL"}) matches communication failures.
type Error struct {
	ReturnCode, ReturnMsg           string
	ResultCode, ErrCode, ErrCodeDes string
}

// Error describes the failure with WeChat Pay's own codes and messages.
func (e *Error) Error() string {
	code, msg := e.ErrCode, e.ErrCodeDes
	switch {
	case code != "":
	case e.ResultCode == "FAIL":
		code = "result_code FAIL"
	case e.ReturnCode != "":
		code, msg = "return_code "+e.ReturnCode, e.ReturnMsg
	default:
		code, msg = "error", e.ReturnMsg
	}
	if msg != "" {
		return "wxrefund: " + code + ": " + msg
	}
	return "wxrefund: " + code
}

// Is matches a target *Error by its non-empty ErrCode, or else by its
// non-empty ReturnCode.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	switch {
	case t.ErrCode != "":
		return t.ErrCode == e.ErrCode
	case t.ReturnCode != "":
		return t.ReturnCode == e.ReturnCode
	}
	return false
}

// Retryable reports whether sending the same request again, with the same
// out_refund_no and amounts, is the right response (after a pause, of at
// least a minute for INVALID_REQ_TOO_MUCH): SYSTEMERROR, BIZERR_NEED_RETRY,
// ORDER_NOT_READY, FREQUENCY_LIMITED and INVALID_REQ_TOO_MUCH. Other codes
// need a fix first (NOTENOUGH: a top-up; SIGNERROR, PARAM_ERROR: the request
// or configuration) or are final (TRADE_OVERDUE, USER_ACCOUNT_ABNORMAL,
// ORDERNOTEXIST).
func (e *Error) Retryable() bool { return retryCodes[e.ErrCode] }

// ErrorCode returns the err_code of the *Error in err's chain, or "".
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.ErrCode
	}
	return ""
}

// IsRetryable reports whether sending the same request again (for Refund: the
// same OutRefundNo and amounts) is right after err: a retryable *Error, or a
// transport failure other than a rejected TLS handshake or a context the
// caller cancelled. It does not look at any context: a retry loop must also
// stop when its own context is done.
func IsRetryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable()
	}
	var te *TransportError
	if errors.As(err, &te) {
		return te.Retryable()
	}
	return errors.Is(err, ErrOutcomeUnknown)
}

// ValidationError is a request refused before any network call; Field names
// the offending RefundRequest or QueryRefundRequest field. It matches
// ErrInvalidRequest.
type ValidationError struct {
	Field  string // e.g. "OutRefundNo"
	Reason string
}

// Error names the field and the rule it broke.
func (e *ValidationError) Error() string {
	if e.Field == "" {
		return "wxrefund: invalid request: " + e.Reason
	}
	return "wxrefund: invalid request: " + e.Field + ": " + e.Reason
}

// Is makes errors.Is(err, ErrInvalidRequest) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidRequest }

// TransportError is a call that got no usable answer: the connection failed
// or timed out, the TLS handshake was rejected, the server answered with an
// HTTP status other than 200, or the body was too large, not XML, or signed
// but unreadable. Err holds the cause; context errors stay matchable with
// errors.Is(err, context.DeadlineExceeded). (An XML answer that fails the
// signature or merchant check is reported with ErrSignatureMismatch or
// ErrMerchantMismatch, and a return_code other than SUCCESS or FAIL with
// ErrMalformed.)
//
// For Refund a TransportError means the outcome is unknown (see
// ErrOutcomeUnknown), except when the TLS handshake failed with no response
// (the server's certificate did not verify, or the server's TLS alert
// rejected the merchant's certificate): then the server processed nothing.
// A rejection that reaches the client as a reset connection instead of an
// alert, as can happen over HTTP/2, stays unknown.
type TransportError struct {
	Op         string // "refund" or "refundquery"
	StatusCode int    // HTTP status, 0 when no response arrived
	Err        error
}

// Error describes the call, the HTTP status if any, and the cause.
func (e *TransportError) Error() string {
	var b strings.Builder
	b.WriteString("wxrefund: ")
	b.WriteString(e.Op)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.StatusCode)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause, for errors.Is and errors.As.
func (e *TransportError) Unwrap() error { return e.Err }

// Retryable reports whether the same request may be sent again: true unless
// the TLS handshake was rejected (retrying cannot help until the certificate,
// trust store or TLS settings are fixed) or the caller cancelled the context.
func (e *TransportError) Retryable() bool {
	return !e.handshakeRejected() && !errors.Is(e.Err, context.Canceled)
}

// handshakeRejected reports a call that failed in the TLS handshake (see
// the function handshakeRejected), before any response: the server
// processed nothing.
func (e *TransportError) handshakeRejected() bool {
	return e.StatusCode == 0 && handshakeRejected(e.Err)
}

// handshakeRejected reports a TLS handshake that failed: the server's
// certificate did not verify, or the server rejected the merchant's
// certificate (or found no common TLS parameters). A server that ends the
// handshake has processed no request.
func handshakeRejected(err error) bool {
	var (
		cve *tls.CertificateVerificationError
		uae x509.UnknownAuthorityError
		hne x509.HostnameError
		cie x509.CertificateInvalidError
	)
	return errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &hne) || errors.As(err, &cie) ||
		remoteCertificateAlert(err)
}

// certificateAlerts are the TLS alerts (RFC 8446 §6.2) with which a server
// rejects the client certificate during the handshake (TLS 1.2 servers,
// crypto/tls's included, send handshake_failure when none was offered).
var certificateAlerts = map[uint64]bool{
	40:  true, // handshake_failure
	42:  true, // bad_certificate
	43:  true, // unsupported_certificate
	44:  true, // certificate_revoked
	45:  true, // certificate_expired
	46:  true, // certificate_unknown
	48:  true, // unknown_ca
	49:  true, // access_denied
	116: true, // certificate_required
}

// remoteCertificateAlert reports an alert from certificateAlerts received
// from the server. crypto/tls reports a received alert as a *net.OpError
// with Op "remote error" whose Err is its unexported alert type, a uint8.
func remoteCertificateAlert(err error) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "remote error" || op.Err == nil {
		return false
	}
	v := reflect.ValueOf(op.Err)
	return v.Kind() == reflect.Uint8 && certificateAlerts[v.Uint()]
}

// unknownOutcome marks a Refund error after which the refund may have been
// accepted. It keeps the cause in the chain (errors.As still finds *Error or
// *TransportError) and adds what to do.
type unknownOutcome struct{ err error }

func (u *unknownOutcome) Error() string {
	return "wxrefund: refund outcome unknown, retry with the same out_refund_no or query it: " +
		strings.TrimPrefix(u.err.Error(), "wxrefund: ")
}
func (u *unknownOutcome) Unwrap() error        { return u.err }
func (u *unknownOutcome) Is(target error) bool { return target == ErrOutcomeUnknown }
