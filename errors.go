package wxrefund

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// The error model. Every error the SDK returns is one of these, or wraps one,
// so errors.Is and errors.As work on all of them:
//
//   - *ValidationError: the request was refused locally; nothing was sent.
//   - *TransportError: no usable answer arrived (the connection failed or
//     timed out, the TLS handshake was rejected, the context was done).
//   - *MessageError: an answer (or a notification) arrived but cannot be read
//     or trusted: an HTTP status other than 200, a body that is not a flat XML
//     document, a signature that does not verify, another merchant's appid
//     or mch_id, or content that contradicts the request or itself.
//   - *Error: WeChat Pay answered, in a message that checked out, that the
//     request failed (return_code FAIL or result_code FAIL with an err_code).
//   - ErrInvalidConfig, ErrCertificate, ErrCertificateRequired: the Client's
//     own configuration.
//
// For Refund, every error after which the refund may exist, or is to be sent
// again unchanged, also matches ErrOutcomeUnknown. Which err_codes are
// unknown outcomes and which are worth resending is decided by one table,
// codeRules, that Refund, IsRetryable and Classify share.

// Sentinel errors.
var (
	// ErrOutcomeUnknown is matched (with errors.Is) by every Refund error
	// after which the refund must not be recorded as failed: it may exist,
	// or WeChat Pay asked for the same request again later and an earlier
	// attempt may have been accepted. Send the same request again (the same
	// OutRefundNo and amounts, pausing between attempts), or settle it with
	// Client.ResolveRefund; never allocate a new OutRefundNo for it. This is
	// the rule, failure by failure:
	//
	//	failure                                   outcome       send the same request again
	//	timeout, broken connection, cancelled     unknown       yes
	//	  during the call
	//	HTTP status other than 200                unknown       yes
	//	an answer that cannot be trusted          unknown       yes
	//	  (does not verify, could be regrouped,
	//	  does not echo the request, amounts
	//	  that do not add up)
	//	SYSTEMERROR, BIZERR_NEED_RETRY,           unknown       yes
	//	  ORDER_NOT_READY, FREQUENCY_LIMITED
	//	INVALID_REQ_TOO_MUCH                      unknown       yes, after a minute or more
	//	NOTENOUGH                                 unknown       after the balance is topped up
	//	REFUND_FEE_MISMATCH                       unknown       no: the number was used with other
	//	                                                        amounts; ResolveRefund reports it
	//	result_code FAIL without an err_code      unknown       no: look the refund up first
	//	an earlier attempt unknown, the last one  unknown       as the earlier one
	//	  final (WithRetry)
	//	the context done before sending, or the   not unknown   when ready: nothing was sent
	//	  rate limiter refused
	//	the TLS handshake rejected, nginx's       not unknown   no: fix the certificate or
	//	  certificate pages, CERT_ERROR                         trust store (FixConfiguration)
	//	any other err_code (ORDERNOTEXIST,        final         no
	//	  TRADE_OVERDUE, ...)
	//
	// "Send the same request again" is IsRetryable's answer, and SendAgain
	// Classify's. WeChat Pay's refund (chapter=9_4) and refund query
	// (chapter=9_5) error tables, and its staff's answers that a SYSTEMERROR
	// refund may have succeeded, are the sources.
	ErrOutcomeUnknown = errors.New("wxrefund: refund outcome unknown")

	// ErrInvalidRequest is matched by every *ValidationError: a request that
	// was refused locally, before any network call.
	ErrInvalidRequest = errors.New("wxrefund: invalid request")

	// ErrInvalidConfig reports a configuration mistake: a bad argument or
	// option to NewClient, a Client not made by NewClient, or an *Error with
	// which WeChat Pay names one (a wrong API key or certificate, an AppID
	// not bound to the merchant id, a missing IP allow-list entry; see
	// Error.Hint).
	ErrInvalidConfig = errors.New("wxrefund: invalid configuration")

	// ErrCertificate reports a merchant certificate that cannot be loaded.
	ErrCertificate = errors.New("wxrefund: cannot load the merchant certificate")

	// ErrCertificateRequired is returned by Refund on a Client created without
	// a merchant certificate: /secapi/pay/refund needs mutual TLS.
	ErrCertificateRequired = errors.New("wxrefund: a client certificate is required for refunds " +
		"(use WithPEMFiles, WithPKCS12File or WithCertificate)")

	// ErrCertificateRejected reports that WeChat Pay refused the merchant
	// certificate before processing the request: a TLS alert in the
	// handshake (a *TransportError), nginx's "400 No required SSL
	// certificate was sent" or "400 The SSL certificate error" page (a
	// *MessageError), return_msg 证书验证失败 or err_code CERT_ERROR (an
	// *Error). Nothing was processed, so for Refund it does not match
	// ErrOutcomeUnknown. Use the API certificate of this mch_id (in
	// service-provider mode, the provider's).
	ErrCertificateRejected = errors.New("wxrefund: WeChat Pay rejected the merchant certificate")

	// ErrSignatureRejected reports that WeChat Pay could not verify the
	// request's signature (return_msg 签名错误, err_code SIGNERROR). The
	// Client signs correctly, so the API key is wrong: NewClient needs the
	// 32-character API v2 key (API密钥) of this mch_id, not the APIv3 key.
	// It also matches ErrInvalidConfig.
	ErrSignatureRejected = errors.New("wxrefund: WeChat Pay rejected the request signature (wrong API key)")

	// ErrSignatureMismatch reports an answer whose sign is missing or does
	// not verify with the API key (a *MessageError). For Refund the refund
	// may still have been accepted, so it also matches ErrOutcomeUnknown.
	ErrSignatureMismatch = errors.New("wxrefund: signature mismatch")

	// ErrMerchantMismatch reports an answer or notification whose appid or
	// mch_id is not the Client's (a *MessageError).
	ErrMerchantMismatch = errors.New("wxrefund: appid/mch_id do not match this client")

	// ErrMalformed reports an answer or notification that cannot be read or
	// trusted (a *MessageError): not a flat XML document of the expected
	// shape (DOCTYPE, nesting, syntax errors, duplicate fields), fields that
	// do not parse (a non-integer amount, a record count beyond what the body
	// holds, a bad time), fields whose signed text could be regrouped (a
	// value that holds "&name=" would sign the same as two fields), or
	// content that contradicts the request or itself
	// (a refund that does not echo the request's amounts, a query answer
	// without the refund asked about, a negative amount, a refund larger than
	// its order).
	ErrMalformed = errors.New("wxrefund: malformed message")

	// ErrHTTPStatus reports an answer with an HTTP status other than 200 (a
	// *MessageError whose StatusCode says which), other than nginx's
	// certificate pages (ErrCertificateRejected).
	ErrHTTPStatus = errors.New("wxrefund: unexpected HTTP status")

	// ErrBodyTooLarge reports an answer or notification body over the 64 KiB
	// limit.
	ErrBodyTooLarge = errors.New("wxrefund: body too large")

	// ErrDecrypt reports a notification whose req_info cannot be decrypted:
	// empty, not base64, not a whole number of AES blocks, or bad padding
	// (most often a wrong API key).
	ErrDecrypt = errors.New("wxrefund: cannot decrypt req_info")

	// ErrPaymentNotification reports a payment result notification (it has
	// no req_info, and carries trade_type, openid or time_end) delivered to
	// the refund notification handler. WeChat Pay posts payment results to
	// the payment's notify_url and refund results to the refund's: give them
	// different URLs, or route on this error.
	ErrPaymentNotification = errors.New("wxrefund: this is a payment result notification, not a refund notification")
)

// CodeError is the err_code "ERROR".
//
// Deprecated: use CodeBusinessError, whose name does not read like the
// Error type.
const CodeError = CodeBusinessError

// Error codes (err_code) of the refund and refund query APIs. Compare with
// errors.Is(err, &Error{ErrCode: CodeNotEnough}) or ErrorCode(err).
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4 and chapter=9_5.
const (
	CodeSystemError          = "SYSTEMERROR"           // outcome unknown; retry with the same out_refund_no
	CodeBizErrNeedRetry      = "BIZERR_NEED_RETRY"     // concurrent refunds; retry with the same out_refund_no
	CodeTradeOverdue         = "TRADE_OVERDUE"         // order paid over a year ago
	CodeBusinessError        = "ERROR"                 // a business rule, such as a refunded order; see err_code_des
	CodeUserAccountAbnormal  = "USER_ACCOUNT_ABNORMAL" // payer's account closed or frozen
	CodeInvalidReqTooMuch    = "INVALID_REQ_TOO_MUCH"  // too many invalid requests; wait a minute
	CodeNotEnough            = "NOTENOUGH"             // refundable balance too low; top up first
	CodeInvalidTransactionID = "INVALID_TRANSACTIONID" // bad transaction_id
	CodeParamError           = "PARAM_ERROR"           // bad parameters (also: query offset past the end)
	CodeAppIDNotExist        = "APPID_NOT_EXIST"       // configuration
	CodeMchIDNotExist        = "MCHID_NOT_EXIST"       // configuration
	CodeAppIDMchIDNotMatch   = "APPID_MCHID_NOT_MATCH" // configuration: the AppID is not bound to the mch_id
	CodeOrderNotExist        = "ORDERNOTEXIST"         // no paid order with that id
	CodeRequirePostMethod    = "REQUIRE_POST_METHOD"   // client bug
	CodeSignError            = "SIGNERROR"             // wrong API key
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

// codeRule is what one err_code means.
type codeRule struct {
	// unknown: after this code a Refund must not be recorded as failed. The
	// refund may exist, or WeChat Pay asks for the same request again later
	// (and an earlier attempt may have been accepted).
	unknown bool
	// resend: sending the same request again unchanged (same out_refund_no
	// and amounts), after a pause, is the right next step.
	resend bool
	// config: the configuration mistake it names (ErrSignatureRejected,
	// ErrCertificateRejected or ErrInvalidConfig), or nil.
	config error
	// is: another sentinel the failure matches (ErrBillNotFound), or nil.
	is error
	// hint says in English what to do; "" where err_code_des suffices.
	hint string
}

// codeRules is the one classification of err_codes, which Refund,
// IsRetryable and Classify share; ErrOutcomeUnknown's documentation states
// it for users. Codes not listed (and unknown future codes) are final for
// the request: neither unknown nor worth resending unchanged.
var codeRules = map[string]codeRule{
	CodeSystemError:       {unknown: true, resend: true},
	CodeBizErrNeedRetry:   {unknown: true, resend: true},
	CodeOrderNotReady:     {unknown: true, resend: true},
	CodeFrequencyLimited:  {unknown: true, resend: true},
	CodeInvalidReqTooMuch: {unknown: true, resend: true, hint: "wait at least a minute before sending it again"},
	CodeNotEnough: {unknown: true, hint: "the refundable balance is too low: top up the basic account " +
		"or wait for settlement, then send the same request again"},
	CodeRefundFeeMismatch: {unknown: true, hint: "this out_refund_no was used before with other amounts: " +
		"query it before anything else"},
	CodeSignError: {config: ErrSignatureRejected, hint: hintAPIKey},
	CodeCertError: {config: ErrCertificateRejected, hint: hintCertificate},
	CodeAppIDNotExist: {config: ErrInvalidConfig, hint: "WeChat Pay does not know this AppID: " +
		"check the appID given to NewClient"},
	CodeMchIDNotExist: {config: ErrInvalidConfig, hint: "WeChat Pay does not know this mch_id: " +
		"check the mchID given to NewClient"},
	CodeAppIDMchIDNotMatch: {config: ErrInvalidConfig, hint: hintBinding},
	CodeNoAuth: {config: ErrInvalidConfig, hint: "this server's IP address is not on the merchant's " +
		"API IP allow-list: add it on the merchant platform, or turn the restriction off"},
	// A query's proof that no such refund exists (chapter=9_5).
	CodeRefundNotExist: {is: ErrRefundNotExist},
	// The numeric error_code of a failed bill download (chapter=9_6).
	"20002": {is: ErrBillNotFound, hint: hintNoBill},
}

const hintNoBill = "no refund was accepted that day, or the bill is not made yet: bills are made " +
	"from 09:00 China Standard Time the next day"

const (
	hintAPIKey = "the API key is wrong: NewClient needs the 32-character API v2 key (API密钥) " +
		"set on the merchant platform for this mch_id, not the APIv3 key"
	hintCertificate = "use the API certificate issued to this mch_id, not expired or revoked " +
		"(in service-provider mode the provider's, not a sub-merchant's)"
	hintBinding = "the AppID is not bound to the mch_id: bind it on the merchant platform " +
		"(产品中心, AppID账号管理), or use the AppID bound to this merchant"
)

// returnMsgRules recognises the return_msg texts (of return_code FAIL
// answers, which carry no err_code) that name a configuration mistake. The
// texts are WeChat Pay's, as merchants have reported them in SDK issue
// threads (for example binarywang/WxJava#3137 for 签名错误 on a refund,
// binarywang/weixin-java-pay-demo#14 for mch_id参数格式错误,
// yansongda/laravel-pay#18 for appid参数长度有误 on a refund); each is
// matched as a substring, so a longer text that contains it matches too.
var returnMsgRules = []struct {
	text   string
	config error
	hint   string
	resend bool  // the same request may succeed later
	is     error // another sentinel it matches
}{
	{text: "签名错误", config: ErrSignatureRejected, hint: hintAPIKey},
	{text: "证书验证失败", config: ErrCertificateRejected, hint: hintCertificate},
	{text: "appid和mch_id不匹配", config: ErrInvalidConfig, hint: hintBinding},
	{text: "mch_id与appid不匹配", config: ErrInvalidConfig, hint: hintBinding},
	{text: "mch_id参数格式错误", config: ErrInvalidConfig, hint: "the mch_id is malformed: check the mchID given to NewClient"},
	{text: "appid参数长度有误", config: ErrInvalidConfig, hint: "the AppID is malformed: check the appID given to NewClient"},
	// Service-provider (服务商) mode; merchants reported these on refunds
	// and other calls (see the README's "Service providers").
	{text: "受理机构必须传入sub_mch_id", config: ErrInvalidConfig, hint: "this mch_id is a service provider's: set SubMchID to " +
		"the sub-merchant that owns the order"},
	{text: "普通商户不允许传sub_mch_id", config: ErrInvalidConfig, hint: "this mch_id is a direct merchant's, not a service " +
		"provider's: leave SubMchID and SubAppID empty"},
	{text: "受理关系不存在", config: ErrInvalidConfig, hint: "SubMchID is not a sub-merchant of this service provider: check " +
		"SubMchID and the binding on the provider platform"},
	{text: "sub_mch_id与sub_appid不匹配", config: ErrInvalidConfig, hint: "SubAppID is not bound to SubMchID: send the " +
		"sub-merchant's own AppID, or none"},
	// The bill download's return_msg texts (chapter=9_6), matched without
	// regard to case: WeChat Pay's docs and answers differ in it.
	{text: "no bill exist", is: ErrBillNotFound, hint: hintNoBill},
	{text: "bill creating", resend: true, hint: "the bill is being made: try again after 10:00 China Standard Time"},
	{text: "system error", resend: true},
	{text: "systemerror", resend: true},
	{text: "compressgzip error", resend: true},
}

// Error is a failure that WeChat Pay reported: return_code FAIL (communication
// level: ReturnCode and ReturnMsg set) or result_code FAIL (business level:
// ResultCode, ErrCode such as NOTENOUGH or SYSTEMERROR, and ErrCodeDes). A
// failed bill download is return_code FAIL with its numeric error_code (such
// as 20002, no bill) in ErrCode.
//
// errors.Is(err, &Error{ErrCode: c}) matches an *Error with err_code c;
// errors.Is(err, &Error{ReturnCode: "FAIL"}) matches communication failures.
// An *Error that names a configuration mistake also matches ErrInvalidConfig
// and, where it applies, ErrSignatureRejected or ErrCertificateRejected; its
// Hint says what to fix.
type Error struct {
	ReturnCode, ReturnMsg           string
	ResultCode, ErrCode, ErrCodeDes string
}

// rule returns what the error means: by err_code, or for return_code FAIL by
// return_msg.
func (e *Error) rule() codeRule {
	if r, ok := codeRules[e.ErrCode]; ok && e.ErrCode != "" {
		return r
	}
	switch {
	case e.ReturnCode == "FAIL":
		msg := strings.ToLower(e.ReturnMsg)
		for _, r := range returnMsgRules {
			if strings.Contains(msg, strings.ToLower(r.text)) {
				return codeRule{config: r.config, hint: r.hint, resend: r.resend, is: r.is}
			}
		}
	case e.ResultCode == "FAIL" && e.ErrCode == "":
		// A business failure without a reason: nothing says the refund
		// was not made.
		return codeRule{unknown: true, hint: "WeChat Pay gave no err_code: query the refund before anything else"}
	}
	return codeRule{}
}

// Error describes the failure with WeChat Pay's own codes and messages, and
// an English hint where one is known.
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
	s := "wxrefund: " + code
	if msg != "" {
		s += ": " + msg
	}
	if h := e.Hint(); h != "" {
		s += " (" + h + ")"
	}
	return s
}

// Hint says in English what to do about the failure, for the codes and
// return_msg texts that need more than WeChat Pay's own message (a
// configuration mistake, NOTENOUGH, REFUND_FEE_MISMATCH, ...); "" otherwise.
func (e *Error) Hint() string { return e.rule().hint }

// Is matches a target *Error by its non-empty ErrCode, or else by its
// non-empty ReturnCode; and ErrInvalidConfig, ErrSignatureRejected or
// ErrCertificateRejected when the failure names that configuration mistake.
func (e *Error) Is(target error) bool {
	r := e.rule()
	if c := r.config; c != nil && (target == c || target == ErrInvalidConfig) {
		return true
	}
	if r.is != nil && target == r.is {
		return true
	}
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

// Retryable reports whether sending the same request again unchanged is the
// right response, after a pause (see [ErrOutcomeUnknown] for which codes).
// Prefer [Classify], which reads every kind of error.
func (e *Error) Retryable() bool { return e.rule().resend }

// ErrorCode returns the err_code of the *Error in err's chain, or "".
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.ErrCode
	}
	return ""
}

// IsRetryable reports whether sending the same request again (for Refund:
// the same OutRefundNo and amounts) is right after err without a fix first:
// an *Error whose err_code asks for it, a *TransportError other than a
// rejected TLS handshake or a context the caller cancelled, or a
// *MessageError for a call other than a rejected certificate. It does not
// look at any context: a retry loop must also stop when its own context is
// done. [Classify] answers the wider question of what to do, and is the one
// to reach for; IsRetryable is its SendAgain without a change first.
func IsRetryable(err error) bool {
	var e *Error
	var te *TransportError
	var me *MessageError
	switch {
	case errors.As(err, &e):
		return e.Retryable()
	case errors.As(err, &te):
		return te.Retryable()
	case errors.As(err, &me):
		return me.Retryable()
	}
	return false
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
// or timed out, the TLS handshake was rejected, the answer's body broke off,
// or the context was done (then the error matches the context's error, such
// as context.DeadlineExceeded, however the call ended). Err holds the cause.
//
// For Refund a TransportError means the outcome is unknown (see
// ErrOutcomeUnknown), except when nothing was processed: the context was
// done before anything was sent, or the TLS handshake failed (the server's
// certificate did not verify, or the server's TLS alert rejected the
// merchant's certificate, which also matches ErrCertificateRejected). A
// rejection that reaches the client as a reset connection instead of an
// alert, as can happen over HTTP/2, stays unknown.
type TransportError struct {
	Op         string // which call: OpRefund, OpRefundQuery or OpDownloadBill
	StatusCode int    // HTTP status when the body broke off, 0 when no response arrived
	Err        error

	unsent bool // the context was done before the request was sent
}

// Error describes the call, the HTTP status if any, and the cause.
func (e *TransportError) Error() string {
	op := e.Op
	if e.unsent {
		op += ": nothing was sent"
	}
	return describe(op, e.StatusCode, e.Err)
}

// Unwrap returns the cause, for errors.Is and errors.As.
func (e *TransportError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrCertificateRejected) true when the server's TLS
// alert rejected the merchant certificate.
func (e *TransportError) Is(target error) bool {
	return target == ErrCertificateRejected && e.StatusCode == 0 && remoteCertificateAlert(e.Err)
}

// Retryable reports whether the same request may be sent again: true unless
// the TLS handshake was rejected (retrying cannot help until the certificate,
// trust store or TLS settings are fixed) or the caller cancelled the context.
func (e *TransportError) Retryable() bool {
	return !e.handshakeRejected() && !errors.Is(e.Err, context.Canceled)
}

// processedNothing reports a call that certainly reached no business logic:
// nothing was sent, or the TLS handshake failed.
func (e *TransportError) processedNothing() bool { return e.unsent || e.handshakeRejected() }

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

// MessageError is an answer to a call, or a notification, that arrived but
// cannot be read or trusted. Err says why and matches one of
// ErrHTTPStatus, ErrCertificateRejected (nginx's certificate pages),
// ErrBodyTooLarge, ErrMalformed, ErrSignatureMismatch, ErrMerchantMismatch,
// ErrDecrypt or ErrPaymentNotification. Its text never contains the API
// key, a signature or decrypted content.
//
// For Refund a MessageError means the outcome is unknown (see
// ErrOutcomeUnknown), except for nginx's certificate pages: nginx answers
// them itself, before any backend sees the request.
type MessageError struct {
	Op         string // which call: OpRefund, OpRefundQuery, OpDownloadBill or OpNotification
	StatusCode int    // the answer's HTTP status; 0 for a notification
	Err        error
}

// Error describes the call, the HTTP status if it was not 200, and why the
// message was refused.
func (e *MessageError) Error() string {
	status := e.StatusCode
	if status == http.StatusOK {
		status = 0 // the usual case: not worth saying
	}
	return describe(e.Op, status, e.Err)
}

// Unwrap returns the reason, for errors.Is and errors.As.
func (e *MessageError) Unwrap() error { return e.Err }

// Retryable reports whether sending the same request again may get a
// trustworthy answer: true for the answer to a call, unless WeChat Pay
// rejected the merchant certificate, or the bill is another merchant's
// (asking again gets the same bill); false for a notification (WeChat Pay
// resends those itself).
func (e *MessageError) Retryable() bool {
	return e.Op != opNotification && !errors.Is(e.Err, ErrCertificateRejected) &&
		!(e.Op == opBill && errors.Is(e.Err, ErrMerchantMismatch))
}

// The Op values of TransportError and MessageError: which call failed.
const (
	OpRefund       = "refund"       // Refund, and ResolveRefund's refund
	OpRefundQuery  = "refundquery"  // QueryRefund, AllRefunds, LookupRefund
	OpNotification = "notification" // DecryptNotify, NotifyHandler
	OpDownloadBill = "downloadbill" // DownloadRefundBill
)

// The names the package's code uses.
const (
	opRefund       = OpRefund
	opRefundQuery  = OpRefundQuery
	opNotification = OpNotification
	opBill         = OpDownloadBill
)

// retriedError is the last error of a call that made more than one
// attempt: it keeps that error's classification and says how many attempts
// were made, and whether an earlier one's refund outcome was unknown (then
// the refund must not be recorded as failed, whatever the last attempt
// said).
type retriedError struct {
	attempts       int
	earlierUnknown bool
	err            error
	stopped        error // the context's error, when it ended during a pause between attempts
}

func (e *retriedError) Error() string {
	s := "wxrefund: after " + strconv.Itoa(e.attempts) + " attempt"
	if e.attempts != 1 {
		s += "s"
	}
	if e.stopped != nil {
		s += " (" + e.stopped.Error() + " before the next)"
	}
	return s + ": " + withoutPrefix(e.err)
}

// Unwrap returns the last attempt's error and, when the context ended
// during a pause, the context's error: errors.Is matches both.
func (e *retriedError) Unwrap() []error {
	if e.stopped != nil {
		return []error{e.err, e.stopped}
	}
	return []error{e.err}
}

// failedOverError is the error of the second domain of a failed-over
// attempt. The first domain failed in a way that may have left the request
// processed (a timeout, a 5xx): then, for Refund, the outcome stays unknown
// whatever the second domain said.
type failedOverError struct {
	firstUnknown bool
	err          error
}

func (e *failedOverError) Error() string {
	return "wxrefund: after failing over to the other domain: " + withoutPrefix(e.err)
}
func (e *failedOverError) Unwrap() error { return e.err }

// unknownOutcome marks a Refund error after which the refund may have been
// accepted. It keeps the cause in the chain (errors.As still finds *Error,
// *TransportError or *MessageError) and adds what to do.
type unknownOutcome struct{ err error }

func (u *unknownOutcome) Error() string {
	return "wxrefund: refund outcome unknown, retry with the same out_refund_no or query it: " +
		withoutPrefix(u.err)
}
func (u *unknownOutcome) Unwrap() error        { return u.err }
func (u *unknownOutcome) Is(target error) bool { return target == ErrOutcomeUnknown }

// refundOutcome marks the Refund errors after which the refund may exist or
// is to be sent again: err_codes by codeRules, every TransportError except
// those that processed nothing, and every MessageError except a certificate
// rejection. Local errors pass through.
func refundOutcome(err error) error {
	var (
		e  *Error
		te *TransportError
		me *MessageError
		re *retriedError
		fo *failedOverError
	)
	switch {
	case errors.As(err, &re) && re.earlierUnknown, errors.As(err, &fo) && fo.firstUnknown:
	case errors.As(err, &e):
		if !e.rule().unknown {
			return err
		}
	case errors.As(err, &te):
		if te.processedNothing() {
			return err
		}
	case errors.As(err, &me):
		if errors.Is(me.Err, ErrCertificateRejected) {
			return err
		}
	default:
		return err
	}
	return &unknownOutcome{err}
}

// describe is "wxrefund: op[: HTTP status][: cause]", the cause's own
// prefix removed.
func describe(op string, status int, cause error) string {
	s := "wxrefund: " + op
	if status != 0 {
		s += ": HTTP " + strconv.Itoa(status)
	}
	if cause != nil {
		s += ": " + withoutPrefix(cause)
	}
	return s
}

// withoutPrefix is err's text without a leading "wxrefund: ", so that
// errors built from other errors carry the prefix once.
func withoutPrefix(err error) string {
	return strings.TrimPrefix(err.Error(), "wxrefund: ")
}
