package wxrefund

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultBaseURL is the production API v2 host.
const DefaultBaseURL = "https://api.mch.weixin.qq.com"

// DefaultTimeout bounds each HTTP exchange of a call whose context has no
// deadline.
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
// It always verifies WeChat Pay's certificate and never follows redirects,
// reads every answer and notification with a 64 KiB limit as a flat XML
// document (no DOCTYPE, no entities beyond XML's own), verifies every
// answer's signature in constant time, and keeps the API key and private key
// out of every error and log record.
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
	transport    *http.Transport // hc's, under any WithTransportWrapper
	retry        RetryPolicy
	backupURL    string        // WithFailover's domain, "" without failover
	failoverFor  time.Duration // how long the backup is preferred after the primary failed
	downUntil    *atomic.Int64 // UnixNano until which the primary counts as down (shared by copies)
	limiter      Limiter
	log          *slog.Logger
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

	if o.backupDefault && o.baseURL != DefaultBaseURL {
		return nil, fmt.Errorf("%w: WithFailover(\"\") is the backup of WeChat Pay's own domain, "+
			"but WithBaseURL(%q) points elsewhere: name that server's backup (wxrefundtest: Server.BackupURL())",
			ErrInvalidConfig, o.baseURL)
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
	transport := hc.Transport.(*http.Transport)
	if o.wrap != nil {
		if hc.Transport = o.wrap(transport); hc.Transport == nil {
			return nil, fmt.Errorf("%w: WithTransportWrapper: the wrapper returned nil", ErrInvalidConfig)
		}
	}
	return &Client{
		appID:       appID,
		mchID:       mchID,
		signType:    o.signType,
		baseURL:     o.baseURL,
		timeout:     o.timeout,
		hc:          hc,
		transport:   transport,
		retry:       o.retry,
		backupURL:   o.backupURL,
		failoverFor: time.Minute,
		downUntil:   new(atomic.Int64),
		limiter:     o.limiter,
		log:         o.log,
		hasCert:     len(certs) > 0,
		expiry:      expiry,
		keys:        newKeys(apiKey),
		nonce:       newNonce,
	}, nil
}

// CloseIdleConnections closes the Client's idle connections (they are
// reused across calls otherwise), as when a Client is dropped or after the
// network changed. The Client stays usable.
func (c *Client) CloseIdleConnections() {
	if c != nil && c.transport != nil {
		c.transport.CloseIdleConnections()
	}
}

// call signs params, which must hold appid, mch_id, nonce_str and sign_type
// (empty for MD5) and be in the byte order of their names, posts them to
// path, and hands the answer's fields to parse once they are trustworthy
// (checkAnswer) and result_code is SUCCESS; a parse error (content that
// contradicts the request) fails the attempt as a *MessageError. Failures are a
// *ValidationError, a *TransportError (no usable answer), a *MessageError
// (an answer that cannot be read or trusted) or an *Error (a failure WeChat
// Pay reported), wrapped in a *retriedError after more than one attempt.
//
// With WithRetry, a failure that IsRetryable allows is sent again, the same
// params with a fresh nonce and signature, after a jittered exponential
// pause that never ends past the context's deadline (retryPause).
func (c *Client) call(ctx context.Context, op, path string, params []param, parse func(map[string]string) error) error {
	if ctx == nil {
		return &ValidationError{Reason: "nil context (use context.Background())"}
	}
	if err := ctx.Err(); err != nil {
		// Nothing leaves the process for a context that is already done.
		return &TransportError{Op: op, Err: err, unsent: true}
	}
	attempts := max(1, c.retry.MaxAttempts)
	unknown := false // whether an attempt's refund outcome was unknown
	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			for i := range params {
				if params[i].name == "nonce_str" {
					params[i].value = c.nonce()
				}
			}
		}
		f, err := c.attempt(ctx, op, path, params, attempt)
		if err == nil {
			perr := parse(f)
			if perr == nil {
				return nil
			}
			// Signed, yet unreadable or contradicting the request.
			err = &MessageError{Op: op, StatusCode: http.StatusOK, Err: perr}
		}
		if op == opRefund {
			var u *unknownOutcome
			unknown = unknown || errors.As(refundOutcome(err), &u)
		}
		pause, again := c.retryPause(ctx, attempt, attempts, err)
		if !again {
			if attempt == 1 {
				return err
			}
			return &retriedError{attempts: attempt, earlierUnknown: unknown, err: err}
		}
		c.logf(ctx, slog.LevelWarn, "wxrefund: sending the same request again", op,
			slog.Int("attempt", attempt), slog.Duration("pause", pause), slog.String("error", err.Error()))
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return &retriedError{attempts: attempt, earlierUnknown: unknown, err: err, stopped: ctx.Err()}
		case <-t.C:
		}
	}
}

// retryPause decides whether attempt, which failed with err, is followed by
// another, and after what pause: only when WithRetry allows more attempts,
// IsRetryable(err) holds, and the pause ends before the context's deadline.
// Pauses grow from BaseDelay, doubling up to MaxDelay, each drawn uniformly
// from its upper half (jitter, so that many clients do not retry in step);
// INVALID_REQ_TOO_MUCH waits at least the minute WeChat Pay asks for.
func (c *Client) retryPause(ctx context.Context, attempt, attempts int, err error) (time.Duration, bool) {
	if attempt >= attempts || !IsRetryable(err) || ctx.Err() != nil {
		return 0, false
	}
	d := c.retry.MaxDelay
	if shift := attempt - 1; shift < 30 && c.retry.BaseDelay <= c.retry.MaxDelay>>shift {
		d = c.retry.BaseDelay << shift // no overflow: at most MaxDelay
	}
	d = d/2 + mrand.N(d/2+1)
	if ErrorCode(err) == CodeInvalidReqTooMuch {
		d = max(d, time.Minute)
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
		return 0, false
	}
	return d, true
}

// attempt sends params once, through overDomains.
func (c *Client) attempt(ctx context.Context, op, path string, params []param, n int) (map[string]string, error) {
	body := c.encodeRequest(params)
	var f map[string]string
	err := c.overDomains(ctx, op, n, nil, func(base string) (err error) {
		f, err = c.send(ctx, op, base, path, body, n)
		return err
	})
	return f, err
}

// overDomains calls try with the primary domain or, with WithFailover,
// with the domain preferred now, and on a failure that says nothing about
// the request's fate but everything about the domain (no connection, a
// timeout, a 5xx) with the other one, unless may (when not nil) says no.
// try sends the identical body to either.
func (c *Client) overDomains(ctx context.Context, op string, n int, may func() bool, try func(base string) error) error {
	if c.backupURL == "" {
		return try(c.baseURL)
	}
	first, second := c.baseURL, c.backupURL
	if c.primaryDown() {
		first, second = second, first
	}
	err := try(first)
	if err == nil || !failoverable(err) || ctx.Err() != nil || may != nil && !may() {
		return err
	}
	if first == c.baseURL {
		c.downUntil.Store(time.Now().Add(c.failoverFor).UnixNano())
	}
	c.logf(ctx, slog.LevelWarn, "wxrefund: failing over to the other domain", op,
		slog.Int("attempt", n), slog.String("from", hostOf(first)), slog.String("to", hostOf(second)),
		slog.String("error", err.Error()))
	firstErr := err
	err = try(second)
	if err == nil && second == c.baseURL {
		c.downUntil.Store(0) // the primary answers again
	}
	if err != nil {
		// The first domain may have processed the request: whatever
		// the second said, that stays possible.
		var u *unknownOutcome
		err = &failedOverError{firstUnknown: errors.As(refundOutcome(firstErr), &u), err: err}
	}
	return err
}

// primaryDown reports whether the primary domain failed recently enough
// that the backup is preferred.
func (c *Client) primaryDown() bool { return time.Now().UnixNano() < c.downUntil.Load() }

// failoverable reports a failure that the other domain may not have: no
// answer for another reason than the caller's context or a rejected TLS
// handshake (that would fail on both), or a 5xx status.
func failoverable(err error) bool {
	var te *TransportError
	var me *MessageError
	switch {
	case errors.As(err, &te):
		return !te.processedNothing() && !errors.Is(err, context.Canceled)
	case errors.As(err, &me):
		return me.StatusCode >= 500
	}
	return false
}

// send posts body to base+path once (after the rate limiter allows it),
// reads and checks the answer, and logs the exchange.
func (c *Client) send(ctx context.Context, op, base, path string, body []byte, n int) (f map[string]string, err error) {
	if err := c.waitLimiter(ctx, op); err != nil {
		return nil, err
	}
	start := time.Now()
	defer func() { c.logAttempt(ctx, op, base, n, time.Since(start), err) }()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(body))
	if err != nil {
		return nil, &TransportError{Op: op, Err: err, unsent: true}
	}
	req.Header.Set("Content-Type", "text/xml; charset=utf-8")
	req.Header.Set("Accept", "text/xml")
	req.Header.Set("User-Agent", "wxrefund-go")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, &TransportError{Op: op, Err: withContext(ctx, err)}
	}
	defer func() { _ = resp.Body.Close() }() // read from, not written to: its Close has nothing to report
	raw, err := readLimited(resp.Body, maxBody)
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return nil, &MessageError{Op: op, StatusCode: resp.StatusCode, Err: err}
	case err != nil:
		return nil, &TransportError{Op: op, StatusCode: resp.StatusCode, Err: withContext(ctx, err)}
	}
	fields, err := readAnswer(op, resp.StatusCode, raw)
	var me *MessageError
	if errors.As(err, &me) && ctx.Err() != nil && !errors.Is(me, ErrCertificateRejected) {
		// A body cut short by the deadline (a connection closed on
		// cancellation can read as a clean end) is no answer at all,
		// whatever its status line said.
		return nil, &TransportError{Op: op, StatusCode: resp.StatusCode, Err: withContext(ctx, me.Err)}
	}
	if err != nil {
		return nil, err
	}
	return c.checkAnswer(op, fields)
}

// waitLimiter waits for the rate limiter, if any, and then checks the
// context: a limiter that returned after the context ended (ignoring it)
// must not lead to a request, and nothing sent is no unknown outcome.
func (c *Client) waitLimiter(ctx context.Context, op string) error {
	if c.limiter != nil {
		if err := c.limiter.Wait(ctx); err != nil {
			return &TransportError{Op: op, Err: fmt.Errorf("rate limiter: %w", err), unsent: true}
		}
	}
	if err := ctx.Err(); err != nil {
		return &TransportError{Op: op, Err: err, unsent: true}
	}
	return nil
}

// logAttempt writes the debug record of one exchange: the operation, the
// domain, the attempt, how long it took, and WeChat Pay's codes or the kind
// of failure. Never the body, the key, a signature or a certificate.
func (c *Client) logAttempt(ctx context.Context, op, base string, n int, d time.Duration, err error) {
	if c.log == nil || !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("op", op), slog.String("domain", hostOf(base)),
		slog.Int("attempt", n), slog.Duration("duration", d)}
	var e *Error
	switch {
	case err == nil:
		attrs = append(attrs, slog.String("return_code", "SUCCESS"), slog.String("result_code", "SUCCESS"))
	case errors.As(err, &e):
		attrs = append(attrs, slog.String("return_code", e.ReturnCode), slog.String("result_code", e.ResultCode),
			slog.String("err_code", e.ErrCode))
	default:
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "wxrefund: call", attrs...)
}

// logf writes a record for op at level when a logger is set.
func (c *Client) logf(ctx context.Context, level slog.Level, msg, op string, attrs ...slog.Attr) {
	if c.log != nil {
		c.log.LogAttrs(ctx, level, msg, append([]slog.Attr{slog.String("op", op)}, attrs...)...)
	}
}

// hostOf is the host of a base URL, for logs.
func hostOf(base string) string {
	if u, err := url.Parse(base); err == nil {
		return u.Host
	}
	return base
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
		return &contextError{ctx: cerr, err: err}
	}
	return err
}

// contextError is a failure that the context's end caused or accompanied:
// it matches both, and its text carries the "wxrefund:" prefix once.
type contextError struct{ ctx, err error }

func (e *contextError) Error() string   { return e.ctx.Error() + ": " + withoutPrefix(e.err) }
func (e *contextError) Unwrap() []error { return []error{e.ctx, e.err} }

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
