package wxrefund

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"time"
)

// This file builds the HTTP transport: one per Client, cloned from the
// user's if given, always verifying the server and presenting the merchant
// certificate.

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
		if ut.DialTLS != nil || ut.DialTLSContext != nil { //nolint:staticcheck // SA1019: the lint:ignore above says why
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
