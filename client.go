package wxrefund

import (
	"bytes"
	"context"
	"crypto"
	"crypto/cipher"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/pkcs12"
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

// MchID returns the merchant id the Client sends as mch_id ("" for a nil
// Client).
func (c *Client) MchID() string {
	if c == nil {
		return ""
	}
	return c.mchID
}

// Option configures NewClient. Options are applied in order; an option that
// fails makes NewClient fail.
type Option func(*options) error

type options struct {
	cert     *certSource
	hc       *http.Client
	baseURL  string
	roots    *x509.CertPool
	signType SignType
	timeout  time.Duration
}

type certSource struct {
	name string // option name, for errors
	load func(mchID string) (tls.Certificate, error)
}

func (o *options) setCert(name string, load func(mchID string) (tls.Certificate, error)) error {
	if o.cert != nil {
		return fmt.Errorf("%w: %s and %s both set a certificate; use one", ErrInvalidConfig, o.cert.name, name)
	}
	o.cert = &certSource{name: name, load: load}
	return nil
}

// WithCertificate sets the merchant client certificate used for mutual TLS.
func WithCertificate(cert tls.Certificate) Option {
	return func(o *options) error {
		return o.setCert("WithCertificate", func(string) (tls.Certificate, error) {
			if len(cert.Certificate) == 0 || cert.PrivateKey == nil {
				return tls.Certificate{}, fmt.Errorf("%w: WithCertificate: the certificate or its private key is missing", ErrCertificate)
			}
			leaf, err := x509.ParseCertificate(cert.Certificate[0])
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("%w: WithCertificate: %w", ErrCertificate, err)
			}
			if pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(publicKey(cert.PrivateKey)) {
				return tls.Certificate{}, fmt.Errorf("%w: WithCertificate: the private key does not match the certificate", ErrCertificate)
			}
			cert.Leaf = leaf
			return cert, nil
		})
	}
}

// WithPEM sets the merchant certificate from apiclient_cert.pem and
// apiclient_key.pem contents.
func WithPEM(certPEM, keyPEM []byte) Option {
	return func(o *options) error {
		return o.setCert("WithPEM", func(string) (tls.Certificate, error) {
			return loadPEM(certPEM, keyPEM)
		})
	}
}

// WithPEMFiles sets the merchant certificate from the paths of
// apiclient_cert.pem and apiclient_key.pem.
func WithPEMFiles(certFile, keyFile string) Option {
	return func(o *options) error {
		return o.setCert("WithPEMFiles", func(string) (tls.Certificate, error) {
			c, err := os.ReadFile(certFile)
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("%w: %w", ErrCertificate, err)
			}
			k, err := os.ReadFile(keyFile)
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("%w: %w", ErrCertificate, err)
			}
			return loadPEM(c, k)
		})
	}
}

// WithPKCS12 sets the merchant certificate from apiclient_cert.p12 contents.
// An empty password means the merchant id, WeChat Pay's default. Files that
// also carry CA certificates load too. Files re-exported by OpenSSL 3 with its
// defaults (AES-256/PBKDF2, SHA-256 MAC) cannot be read by
// golang.org/x/crypto/pkcs12; load the PEM pair instead or re-export with
// "openssl pkcs12 -export -legacy".
func WithPKCS12(data []byte, password string) Option {
	return func(o *options) error {
		return o.setCert("WithPKCS12", func(mchID string) (tls.Certificate, error) {
			return loadPKCS12(data, password, mchID)
		})
	}
}

// WithPKCS12File is WithPKCS12 reading the file at path.
func WithPKCS12File(path, password string) Option {
	return func(o *options) error {
		return o.setCert("WithPKCS12File", func(mchID string) (tls.Certificate, error) {
			data, err := os.ReadFile(path)
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("%w: %w", ErrCertificate, err)
			}
			return loadPKCS12(data, password, mchID)
		})
	}
}

// WithHTTPClient makes the Client send requests through a copy of hc: hc's
// timeout and cookie jar are kept, redirects are never followed (a signed
// request must reach WeChat Pay and nothing else), and its transport (which
// must be an *http.Transport, or nil for the default settings) is cloned to
// add the merchant certificate, TLS 1.2 as the minimum and WithRootCAs. hc
// itself is never modified. Transports that could skip server certificate
// verification or the merchant certificate are refused: another
// http.RoundTripper type, InsecureSkipVerify, DialTLS or DialTLSContext.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) error {
		if hc == nil {
			return fmt.Errorf("%w: WithHTTPClient(nil)", ErrInvalidConfig)
		}
		o.hc = hc
		return nil
	}
}

// WithBaseURL replaces DefaultBaseURL, for the backup domain
// (https://api2.mch.weixin.qq.com) or a test server such as wxrefundtest. It
// must be an https URL; a path prefix is kept and the endpoint paths
// (/secapi/pay/refund, /pay/refundquery) are appended to it.
//
// WeChat Pay's v2 sandbox is not supported: it signs with a separate sandbox
// key, uses other paths and may no longer offer refunds. Test against
// wxrefundtest instead.
func WithBaseURL(baseURL string) Option {
	return func(o *options) error {
		u, err := url.Parse(baseURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			return fmt.Errorf("%w: WithBaseURL: want an https URL without query, got %q", ErrInvalidConfig, baseURL)
		}
		o.baseURL = strings.TrimRight(baseURL, "/")
		return nil
	}
}

// WithRootCAs sets the roots that verify the server's certificate, instead of
// the system roots (for tests or a TLS-inspecting proxy). The server
// certificate is always verified.
func WithRootCAs(pool *x509.CertPool) Option {
	return func(o *options) error {
		if pool == nil {
			return fmt.Errorf("%w: WithRootCAs(nil)", ErrInvalidConfig)
		}
		o.roots = pool
		return nil
	}
}

// WithSignType selects the signature algorithm: SignTypeMD5 (the default) or
// SignTypeHMACSHA256. Responses are verified with the same algorithm.
func WithSignType(t SignType) Option {
	return func(o *options) error {
		if !t.valid() {
			return fmt.Errorf("%w: WithSignType(%q): want MD5 or HMAC-SHA256", ErrInvalidConfig, string(t))
		}
		o.signType = t
		return nil
	}
}

// WithTimeout bounds each call whose context has no deadline; the default
// is DefaultTimeout. A call's own context deadline always wins.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: WithTimeout(%v): want a positive duration", ErrInvalidConfig, d)
		}
		o.timeout = d
		return nil
	}
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
	if o.cert != nil {
		cert, err := o.cert.load(mchID)
		if err != nil {
			return nil, err
		}
		certs = []tls.Certificate{cert}
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
		keys:     newKeys(apiKey),
		nonce:    newNonce,
	}, nil
}

// buildHTTPClient copies user (or starts from defaults) and gives it one
// cloned transport carrying the certificate and roots.
func buildHTTPClient(user *http.Client, certs []tls.Certificate, roots *x509.CertPool) (*http.Client, error) {
	var hc http.Client
	if user != nil {
		hc = *user
	}
	// A 3xx answer is reported like any other non-200 status: following it
	// would resend the signed body, and present the certificate, elsewhere.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var t *http.Transport
	switch ut := hc.Transport.(type) {
	case nil:
		t = newTransport()
	case *http.Transport:
		//lint:ignore SA1019 the deprecated DialTLS still bypasses TLSClientConfig when set
		if ut.DialTLS != nil || ut.DialTLSContext != nil {
			// Such dialers make their own TLS connections: neither the
			// merchant certificate nor the server checks would apply.
			return nil, fmt.Errorf("%w: WithHTTPClient: the transport sets DialTLS or DialTLSContext, "+
				"which would bypass the merchant certificate and server verification", ErrInvalidConfig)
		}
		t = ut.Clone()
	default:
		// Whatever it wraps cannot be checked: it might skip server
		// verification or drop the merchant certificate.
		return nil, fmt.Errorf("%w: WithHTTPClient: the transport is a %T, not an *http.Transport, "+
			"so the merchant certificate and server verification cannot be guaranteed", ErrInvalidConfig, ut)
	}
	cfg := t.TLSClientConfig
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.InsecureSkipVerify {
		return nil, fmt.Errorf("%w: WithHTTPClient: the transport skips server certificate verification; "+
			"use WithRootCAs to trust a test server instead", ErrInvalidConfig)
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if len(certs) > 0 {
		cfg.Certificates = nil
		cfg.GetClientCertificate = presentCertificate(certs)
	}
	if roots != nil {
		cfg.RootCAs = roots
	}
	t.TLSClientConfig = cfg
	if t.MaxIdleConnsPerHost < 16 {
		t.MaxIdleConnsPerHost = 16
	}
	hc.Transport = t
	return &hc, nil
}

// presentCertificate chooses the client certificate exactly as crypto/tls
// chooses from tls.Config.Certificates: the first one the server's request
// accepts, else none. Holding the certificates in a closure rather than in
// Certificates keeps the private key out of reflection-based dumps of a
// Client, such as testify's diffs of two clients.
func presentCertificate(certs []tls.Certificate) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		for i := range certs {
			if cri.SupportsCertificate(&certs[i]) == nil {
				return &certs[i], nil
			}
		}
		return new(tls.Certificate), nil
	}
}

// newTransport returns a transport with http.DefaultTransport's settings.
// It is built afresh rather than cloned: Clone sets up HTTP/2 on the
// transport it copies, and the process-wide default is not ours to change.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
}

func loadPEM(certPEM, keyPEM []byte) (tls.Certificate, error) {
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// crypto/tls errors describe the shape of the input, not the key.
		return tls.Certificate{}, fmt.Errorf("%w: PEM pair: %w", ErrCertificate, err)
	}
	return cert, nil
}

// loadPKCS12 reads a legacy (RC2/3DES, SHA-1 MAC) PKCS#12 file, including one
// that carries CA certificates besides the merchant's, and puts the
// certificate that matches the private key first.
func loadPKCS12(data []byte, password, mchID string) (tls.Certificate, error) {
	if password == "" {
		password = mchID
	}
	blocks, err := pkcs12.ToPEM(data, password)
	if err != nil {
		return tls.Certificate{}, pkcs12Error(err)
	}
	var key crypto.PrivateKey
	var certs []*x509.Certificate
	for _, b := range blocks {
		switch b.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return tls.Certificate{}, fmt.Errorf("%w: PKCS#12: %w", ErrCertificate, err)
			}
			certs = append(certs, c)
		case "PRIVATE KEY":
			if key != nil {
				return tls.Certificate{}, fmt.Errorf("%w: PKCS#12: the file holds more than one private key", ErrCertificate)
			}
			if key, err = parseKey(b.Bytes); err != nil {
				return tls.Certificate{}, fmt.Errorf("%w: PKCS#12: %w", ErrCertificate, err)
			}
		}
	}
	if key == nil {
		return tls.Certificate{}, fmt.Errorf("%w: PKCS#12: the file holds no private key", ErrCertificate)
	}
	leaf := -1
	for i, c := range certs {
		if pub, ok := c.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); ok && pub.Equal(publicKey(key)) {
			leaf = i
			break
		}
	}
	if leaf < 0 {
		return tls.Certificate{}, fmt.Errorf("%w: PKCS#12: no certificate in the file matches its private key", ErrCertificate)
	}
	out := tls.Certificate{PrivateKey: key, Leaf: certs[leaf]}
	out.Certificate = append(out.Certificate, certs[leaf].Raw)
	for i, c := range certs {
		if i != leaf {
			out.Certificate = append(out.Certificate, c.Raw)
		}
	}
	return out, nil
}

// pkcs12Error turns x/crypto/pkcs12 failures into advice.
func pkcs12Error(err error) error {
	var ni pkcs12.NotImplementedError
	switch {
	case errors.Is(err, pkcs12.ErrIncorrectPassword):
		return fmt.Errorf("%w: PKCS#12: wrong password (WeChat Pay's default is the merchant id): %w", ErrCertificate, err)
	case errors.As(err, &ni):
		return fmt.Errorf("%w: PKCS#12: this .p12 uses algorithms golang.org/x/crypto/pkcs12 cannot read "+
			"(OpenSSL 3 defaults: AES-256/PBKDF2 with a SHA-256 MAC). Load apiclient_cert.pem and "+
			"apiclient_key.pem with WithPEMFiles instead, or re-export the file with "+
			"\"openssl pkcs12 -export -legacy\": %w", ErrCertificate, err)
	}
	return fmt.Errorf("%w: PKCS#12: %w", ErrCertificate, err)
}

// parseKey reads the DER that pkcs12.ToPEM labels "PRIVATE KEY": PKCS#1 for
// RSA, SEC 1 for ECDSA (and PKCS#8 for anything else).
func parseKey(der []byte) (crypto.PrivateKey, error) {
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("unsupported private key encoding")
	}
	return k, nil
}

func publicKey(k crypto.PrivateKey) crypto.PublicKey {
	if s, ok := k.(crypto.Signer); ok {
		return s.Public()
	}
	return nil
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
