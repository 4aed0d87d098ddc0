package wxrefund

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultBaseURL is the production API v2 host.
const DefaultBaseURL = "https://api.mch.weixin.qq.com"

// DefaultTimeout bounds each call whose context has no deadline.
const DefaultTimeout = 15 * time.Second

const (
	pathRefund      = "/secapi/pay/refund"
	pathRefundQuery = "/pay/refundquery"
)

// Client calls the WeChat Pay API v2 refund endpoints for one merchant. It
// holds the merchant certificate, the API key and one HTTP transport whose
// connections are reused across calls. A Client is immutable and safe for
// concurrent use. Printing a Client (fmt %v, %+v, %#v) never shows the API key
// or the private key, and neither does a reflection-based dump such as a
// testify diff of two Clients.
//
// Create a Client with NewClient. A zero or nil Client cannot sign or
// decrypt: Refund, QueryRefund, DecryptNotify and ParseNotifyRequest return an
// error matching ErrInvalidConfig, and its NotifyHandler never acknowledges.
type Client struct {
	appID, mchID string
	signType     SignType
	baseURL      string
	timeout      time.Duration
	hc           *http.Client
	hasCert      bool
	expiry       time.Time     // the merchant certificate's NotAfter
	keys         func() *keys  // behind a closure so nothing that prints or diffs a Client reaches it
	nonce        func() string // crypto/rand; tests may replace it
}

// keys is what the API key gives: signing and verifying (with pooled hash
// states), and the AES block that decrypts notifications. A Client reaches
// it only through a closure, so nothing that prints or diffs a Client (fmt's
// verbs, testify's spew) can reach the key or the AES key schedule.
type keys struct {
	*signer
	notify cipher.Block // derived once
}

func newKeys(apiKey string) func() *keys {
	k := &keys{signer: newSigner(apiKey), notify: notifyKey(apiKey)}
	return func() *keys { return k }
}

// errNotCreated is returned by a zero or nil Client's methods.
var errNotCreated = fmt.Errorf("%w: the Client was not created with NewClient", ErrInvalidConfig)

// usable reports errNotCreated for a Client that NewClient did not return.
func (c *Client) usable() error {
	if c == nil || c.keys == nil || c.hc == nil {
		return errNotCreated
	}
	return nil
}

// String describes the Client without secrets.
func (c *Client) String() string {
	if c == nil {
		return "wxrefund.Client(nil)"
	}
	return fmt.Sprintf("wxrefund.Client{appid=%s mch_id=%s base=%s sign_type=%s certificate=%t}",
		c.appID, c.mchID, c.baseURL, c.signType, c.hasCert)
}

// GoString is String, so %#v shows no secrets either.
func (c *Client) GoString() string { return c.String() }

// AppID returns the AppID the Client sends as appid ("" for a nil Client).
func (c *Client) AppID() string {
	if c == nil {
		return ""
	}
	return c.appID
}

// CertificateExpiry returns when the merchant certificate stops being valid
// (its NotAfter), or the zero time for a Client without one. Alert well
// before it: WeChat Pay refuses refunds with an expired certificate, and a
// new one is issued on the merchant platform.
func (c *Client) CertificateExpiry() time.Time {
	if c == nil {
		return time.Time{}
	}
	return c.expiry
}

// MchID returns the merchant id the Client sends as mch_id ("" for a nil
// Client).
func (c *Client) MchID() string {
	if c == nil {
		return ""
	}
	return c.mchID
}

// NewClient returns a Client for the merchant mchID acting for appID, signing
// with the 32-character API v2 key apiKey (the "API密钥" set on the merchant
// platform). It checks everything eagerly: an empty appID or mchID, a key of
// another length, a bad option or a certificate that cannot be loaded is an
// error here, not at the first call.
//
// A Client without a certificate option can QueryRefund and DecryptNotify;
// its Refund fails with ErrCertificateRequired.
func NewClient(appID, mchID, apiKey string, opts ...Option) (*Client, error) {
	switch {
	case appID == "":
		return nil, fmt.Errorf("%w: appID is empty", ErrInvalidConfig)
	case mchID == "":
		return nil, fmt.Errorf("%w: mchID is empty", ErrInvalidConfig)
	case len(apiKey) != 32:
		// The length is a fact about the key that does not reveal it.
		return nil, fmt.Errorf("%w: the API key must be 32 characters, got %d", ErrInvalidConfig, len(apiKey))
	case !validText(appID) || !validText(mchID):
		return nil, fmt.Errorf("%w: appID or mchID contains characters XML cannot carry", ErrInvalidConfig)
	}
	o := options{baseURL: DefaultBaseURL, signType: SignTypeMD5, timeout: DefaultTimeout}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}

	var certs []tls.Certificate
	var expiry time.Time
	if o.cert != nil {
		cert, err := o.cert.load(mchID)
		if err != nil {
			return nil, err
		}
		leaf, err := checkCertificate(cert, mchID, time.Now())
		if err != nil {
			return nil, err
		}
		certs, expiry = []tls.Certificate{cert}, leaf.NotAfter
	}

	hc, err := buildHTTPClient(o.hc, certs, o.roots)
	if err != nil {
		return nil, err
	}
	return &Client{
		appID:    appID,
		mchID:    mchID,
		signType: o.signType,
		baseURL:  o.baseURL,
		timeout:  o.timeout,
		hc:       hc,
		hasCert:  len(certs) > 0,
		expiry:   expiry,
		keys:     newKeys(apiKey),
		nonce:    newNonce,
	}, nil
}

// call signs params, which must hold appid, mch_id, nonce_str and sign_type
// (empty for MD5) and be in the byte order of their names, posts them to
// path and returns the answer's fields once they are trustworthy
// (checkAnswer) and result_code is SUCCESS. Failures are a
// *ValidationError, a *TransportError (no usable answer), a *MessageError
// (an answer that cannot be read or trusted) or an *Error (a failure WeChat
// Pay reported).
func (c *Client) call(ctx context.Context, op, path string, params []param) (map[string]string, error) {
	if ctx == nil {
		return nil, &ValidationError{Reason: "nil context (use context.Background())"}
	}
	body := c.encodeRequest(params)
	if err := ctx.Err(); err != nil {
		// Nothing leaves the process for a context that is already done.
		return nil, &TransportError{Op: op, Err: err, unsent: true}
	}

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.baseURL+path, bytes.NewReader(body))
	if err != nil {
		return nil, &TransportError{Op: op, Err: err}
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("Accept", "text/xml")
	req.Header.Set("User-Agent", "wxrefund-go")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &TransportError{Op: op, Err: withContext(ctx, err)}
	}
	defer resp.Body.Close()
	raw, err := readLimited(resp.Body, maxBody)
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return nil, &MessageError{Op: op, StatusCode: resp.StatusCode, Err: err}
	case err != nil:
		return nil, &TransportError{Op: op, StatusCode: resp.StatusCode, Err: withContext(ctx, err)}
	}
	fields, err := readAnswer(op, resp.StatusCode, raw)
	var me *MessageError
	if errors.As(err, &me) && ctx.Err() != nil && errors.Is(me, ErrMalformed) {
		// A body cut short by the deadline (a connection closed on
		// cancellation can read as a clean end) is no answer at all.
		return nil, &TransportError{Op: op, StatusCode: resp.StatusCode, Err: withContext(ctx, me.Err)}
	}
	if err != nil {
		return nil, err
	}
	return c.checkAnswer(op, fields)
}

// encodeRequest signs params and writes the request body: a flat <xml>
// document with the non-empty params and sign, in the byte order of their
// names (the same order as the string-to-sign), every value in CDATA.
func (c *Client) encodeRequest(params []param) []byte {
	var sig [64]byte
	sign := c.keys().signParams(sig[:0], params, c.signType)
	size := len("<xml></xml>") + len("<sign></sign>") + len(sign)
	for _, p := range params {
		size += 2*len(p.name) + len("<></><![CDATA[]]>") + len(p.value) + 20
	}
	b := make([]byte, 0, size)
	b = append(b, "<xml>"...)
	signed := false
	for _, p := range params {
		if !signed && p.name > "sign" {
			b = appendCDATAElement(b, "sign", sign)
			signed = true
		}
		switch {
		case p.isNum:
			var d [20]byte
			b = appendCDATAElement(b, p.name, strconv.AppendInt(d[:0], p.num, 10))
		case p.value != "":
			b = appendElement(b, p.name, p.value)
		}
	}
	if !signed {
		b = appendCDATAElement(b, "sign", sign)
	}
	return append(b, "</xml>"...)
}

// withContext makes err match the context's error when the context is done:
// a call that ran out of time failed because of that, whatever the
// transport or the body reader made of it.
func withContext(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}

// readAnswer decodes an answer's body: HTTP status 200 and a flat <xml>
// document, else a *MessageError. The fields alias raw, which the caller
// must not modify afterwards.
func readAnswer(op string, status int, raw []byte) (fieldList, error) {
	if status != http.StatusOK {
		return nil, &MessageError{Op: op, StatusCode: status, Err: statusError(status, raw)}
	}
	fields, err := decodeOwned(raw, "xml") // raw is never written again
	if err != nil {
		return nil, &MessageError{Op: op, StatusCode: status, Err: err}
	}
	return fields, nil
}

// checkAnswer decides whether a decoded answer is trustworthy, following
// WeChat Pay's signature rules (chapter=4_3), and returns its fields as a
// map: return_code FAIL is an unsigned *Error; return_code SUCCESS needs a
// sign over every field received that verifies in constant time, fields
// whose signed text cannot be regrouped (both signer.verify), the Client's
// appid and mch_id, and result_code SUCCESS, or FAIL with an err_code that is
// an upper-case identifier (an *Error). Anything else is a *MessageError.
func (c *Client) checkAnswer(op string, fields fieldList) (map[string]string, error) {
	bad := func(err error) error { return &MessageError{Op: op, StatusCode: http.StatusOK, Err: err} }
	f := fields.toMap()
	switch f["return_code"] {
	case "SUCCESS":
	case "FAIL":
		// Communication-level failure: unsigned, not accepted.
		return nil, &Error{ReturnCode: "FAIL", ReturnMsg: f["return_msg"]}
	default:
		// Not WeChat Pay's vocabulary (a proxy's answer, say): nothing is
		// known about the request.
		return nil, bad(fmt.Errorf("%w: return_code is neither SUCCESS nor FAIL", ErrMalformed))
	}
	if err := c.keys().verify(fields, c.signType); err != nil {
		return nil, bad(err)
	}
	if f["appid"] != c.appID || f["mch_id"] != c.mchID {
		return nil, bad(ErrMerchantMismatch)
	}
	switch f["result_code"] {
	case "SUCCESS":
		return f, nil
	case "FAIL":
		if code := f["err_code"]; code != "" && !isErrCode(code) {
			return nil, bad(fmt.Errorf("%w: err_code is not an upper-case identifier", ErrMalformed))
		}
		return nil, &Error{ReturnCode: "SUCCESS", ReturnMsg: f["return_msg"], ResultCode: "FAIL",
			ErrCode: f["err_code"], ErrCodeDes: f["err_code_des"]}
	}
	return nil, bad(fmt.Errorf("%w: result_code is neither SUCCESS nor FAIL", ErrMalformed))
}

// isErrCode reports whether s has the shape of every err_code WeChat Pay
// documents: an upper-case identifier such as SYSTEMERROR or
// BIZERR_NEED_RETRY. Any other text in err_code is not WeChat Pay's.
func isErrCode(s string) bool {
	if len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// nginxCertificatePages are the titles of the pages nginx (in front of
// api.mch.weixin.qq.com) answers itself, with status 400, when a /secapi/
// request brought no client certificate or one it could not verify. nginx
// sends them before any backend sees the request, so nothing was processed.
var nginxCertificatePages = []string{
	"No required SSL certificate was sent",
	"The SSL certificate error",
}

// statusError describes a non-200 answer: ErrCertificateRejected for
// nginx's certificate pages, else ErrHTTPStatus, with at most one short
// line of the body.
func statusError(status int, body []byte) error {
	s := string(body)
	if i := strings.Index(s, "<title>"); i >= 0 {
		s = s[i+len("<title>"):]
		if j := strings.Index(s, "</title>"); j >= 0 {
			s = s[:j]
		}
	}
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 120 {
		s = string(r[:120]) + "..."
	}
	if !validText(s) {
		s = ""
	}
	kind := ErrHTTPStatus
	if status == http.StatusBadRequest {
		for _, page := range nginxCertificatePages {
			if strings.Contains(string(body), page) {
				kind = ErrCertificateRejected
			}
		}
	}
	if s == "" {
		return kind
	}
	return fmt.Errorf("%w: %s", kind, s)
}

// param is one request parameter: a string, or an integer written in
// decimal (amounts and offsets, written without formatting them to a
// string first). Requests list their params in the byte order of the names,
// which is the order of the string-to-sign and of the body.
type param struct {
	name  string
	value string
	num   int64
	isNum bool
}

// signTypeParam is the sign_type param: empty (not sent) for MD5, the
// default.
func (c *Client) signTypeParam() param {
	if c.signType == SignTypeMD5 {
		return param{name: "sign_type"}
	}
	return param{name: "sign_type", value: string(c.signType)}
}

const nonceAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newNonce returns a nonce_str: 32 characters from crypto/rand.
func newNonce() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (Go 1.24+ crashes the program instead)
	for i := range b {
		b[i] = nonceAlphabet[int(b[i])%len(nonceAlphabet)]
	}
	return string(b[:])
}
