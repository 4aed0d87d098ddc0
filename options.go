package wxrefund

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// This file holds the options of NewClient.

// Option configures NewClient. Options are applied in order; an option that
// fails makes NewClient fail.
type Option func(*options) error

type options struct {
	cert      *certSource
	hc        *http.Client
	baseURL   string
	roots     *x509.CertPool
	signType  SignType
	timeout   time.Duration
	retry     RetryPolicy
	backupURL string
	limiter   Limiter
	log       *slog.Logger
	wrap      func(http.RoundTripper) http.RoundTripper

	// backupDefault: WithFailover("") chose BackupBaseURL, which pairs
	// only with DefaultBaseURL.
	backupDefault bool
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
		u, err := parseBaseURL("WithBaseURL", baseURL)
		if err != nil {
			return err
		}
		o.baseURL = u
		return nil
	}
}

// parseBaseURL checks an https base URL without query or fragment and
// returns it without trailing slashes.
func parseBaseURL(option, baseURL string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%w: %s: want an https URL without query, got %q", ErrInvalidConfig, option, baseURL)
	}
	return strings.TrimRight(baseURL, "/"), nil
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

// WithTimeout bounds each HTTP exchange of a call whose context has no
// deadline (each attempt, with WithRetry and WithFailover); the default is
// DefaultTimeout. A call's own context deadline always wins.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: WithTimeout(%v): want a positive duration", ErrInvalidConfig, d)
		}
		o.timeout = d
		return nil
	}
}

// BackupBaseURL is WeChat Pay's backup domain for API v2 (the "cross-city
// disaster recovery" domain of its docs, which serves the same paths).
const BackupBaseURL = "https://api2.mch.weixin.qq.com"

// RetryPolicy says how Refund and QueryRefund send a request again: only
// what [IsRetryable] allows (the rule is on [ErrOutcomeUnknown]), always the
// same request with a fresh nonce and signature.
type RetryPolicy struct {
	MaxAttempts int           // attempts in all, the first included; <= 1: no retry
	BaseDelay   time.Duration // first pause (0: 200ms); grows exponentially with jitter
	MaxDelay    time.Duration // cap on one pause (0: 10s)
}

// WithRetry makes calls send a retryable failure again, up to p.MaxAttempts
// attempts, pausing between them: the pause grows from p.BaseDelay,
// doubling up to p.MaxDelay, drawn from its upper half so that many clients
// do not retry in step; after INVALID_REQ_TOO_MUCH it is at least a minute,
// as WeChat Pay asks. No pause ends past the context's deadline: the call
// then returns the last error. A context that is done stops retrying. The
// final error keeps its classification (errors.Is, errors.As, IsRetryable)
// and says how many attempts were made; for Refund it matches
// ErrOutcomeUnknown whenever any attempt's outcome was unknown.
//
// Retries are off by default. WithTimeout bounds each attempt, not the
// call: give the context a deadline to bound the whole call.
func WithRetry(p RetryPolicy) Option {
	return func(o *options) error {
		if p.BaseDelay < 0 || p.MaxDelay < 0 {
			return fmt.Errorf("%w: WithRetry: negative delay", ErrInvalidConfig)
		}
		if p.BaseDelay == 0 {
			p.BaseDelay = 200 * time.Millisecond
		}
		if p.MaxDelay == 0 {
			p.MaxDelay = 10 * time.Second
		}
		p.MaxDelay = max(p.MaxDelay, p.BaseDelay)
		o.retry = p
		return nil
	}
}

// WithFailover sends a request whose attempt at the primary domain failed
// without an answer (no connection, a timeout) or with a 5xx status to the
// backup domain, backupBaseURL, with the identical body: the same
// out_refund_no keeps a refund from being made twice on either. After such
// a failure the backup is tried first for a minute, then the primary again.
// Both are verified against the same roots.
//
// In production, pass BackupBaseURL ("" means it too). NewClient refuses
// "" together with a WithBaseURL other than DefaultBaseURL, so that a test
// against a fake never fails over to the real WeChat Pay: name the fake's
// backup instead (wxrefundtest's Server.BackupURL).
func WithFailover(backupBaseURL string) Option {
	return func(o *options) error {
		o.backupDefault = backupBaseURL == ""
		if backupBaseURL == "" {
			backupBaseURL = BackupBaseURL
		}
		u, err := parseBaseURL("WithFailover", backupBaseURL)
		if err != nil {
			return err
		}
		o.backupURL = u
		return nil
	}
}

// Limiter paces requests: Wait blocks until one may be sent, or returns an
// error when ctx is done first. *rate.Limiter (golang.org/x/time/rate)
// satisfies it; so can a limiter shared by all of a merchant's instances,
// backed by Redis, say.
type Limiter interface {
	Wait(ctx context.Context) error
}

// WithRateLimiter makes every request (retries and failovers included)
// Wait on l first. WeChat Pay allows a merchant 150 refund requests a
// second, and only 6 erroneous ones (after which INVALID_REQ_TOO_MUCH), in
// all, across every instance: size l for the merchant, not the process.
func WithRateLimiter(l Limiter) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: WithRateLimiter(nil)", ErrInvalidConfig)
		}
		o.limiter = l
		return nil
	}
}

// WithLogger makes the Client log each attempt at debug level (operation,
// domain, attempt, duration, and return_code/result_code/err_code or the
// kind of failure), and retries and failovers as warnings. Records never
// hold the API key, signatures, certificates or message bodies.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: WithLogger(nil)", ErrInvalidConfig)
		}
		o.log = l
		return nil
	}
}

// WithTransportWrapper wraps the Client's own transport, for observability
// (OpenTelemetry's otelhttp.NewTransport, metrics, tracing): requests go
// through wrap's RoundTripper, which must hand them to the one it was given.
// Underneath, the merchant certificate and server verification stay in
// force: they belong to the wrapped transport, which WithHTTPClient's rules
// still govern.
func WithTransportWrapper(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(o *options) error {
		if wrap == nil {
			return fmt.Errorf("%w: WithTransportWrapper(nil)", ErrInvalidConfig)
		}
		o.wrap = wrap
		return nil
	}
}
