package wxrefund

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
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
