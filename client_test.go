package wxrefund

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewClientDefaults(t *testing.T) {
	t.Parallel()
	c, err := NewClient(mtAppID, mtMchID, mtAPIKey)
	require.NoError(t, err)
	assert.Equal(t, mtAppID, c.AppID())
	assert.Equal(t, mtMchID, c.MchID())
	assert.Equal(t, DefaultBaseURL, c.baseURL)
	assert.Equal(t, SignTypeMD5, c.signType)
	assert.Equal(t, DefaultTimeout, c.timeout)
	assert.False(t, c.hasCert)

	// The default transport is a clone, never http.DefaultTransport itself.
	tr, ok := c.hc.Transport.(*http.Transport)
	require.True(t, ok)
	assert.NotSame(t, http.DefaultTransport, tr)
	require.NotNil(t, tr.TLSClientConfig)
	assert.GreaterOrEqual(t, tr.TLSClientConfig.MinVersion, uint16(tls.VersionTLS12))
	if def := http.DefaultTransport.(*http.Transport).TLSClientConfig; def != nil {
		assert.Empty(t, def.Certificates, "http.DefaultTransport was modified")
		assert.Nil(t, def.RootCAs, "http.DefaultTransport was modified")
	}

	// A trailing slash of the base URL is dropped; a path prefix is kept.
	c, err = NewClient(mtAppID, mtMchID, mtAPIKey, WithBaseURL("https://api2.mch.weixin.qq.com/sandboxnew/"))
	require.NoError(t, err)
	assert.Equal(t, "https://api2.mch.weixin.qq.com/sandboxnew", c.baseURL)

	// nil options are ignored.
	_, err = NewClient(mtAppID, mtMchID, mtAPIKey, nil, WithSignType(SignTypeHMACSHA256), nil)
	require.NoError(t, err)
}

func TestNewClientInvalid(t *testing.T) {
	t.Parallel()
	pki := mtCerts()
	missing := filepath.Join(t.TempDir(), "missing.pem")
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	custom := &http.Client{Transport: mtRoundTripperFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("unreachable")
	})}

	tests := []struct {
		name         string
		appID, mchID string
		apiKey       string
		opts         []Option
		want         error
		wantText     []string // substrings of the error text
	}{
		{name: "empty appID", mchID: mtMchID, apiKey: mtAPIKey, want: ErrInvalidConfig, wantText: []string{"appID"}},
		{name: "empty mchID", appID: mtAppID, apiKey: mtAPIKey, want: ErrInvalidConfig, wantText: []string{"mchID"}},
		{name: "API key of 31 characters", appID: mtAppID, mchID: mtMchID, apiKey: mtAPIKey[:31], want: ErrInvalidConfig, wantText: []string{"32", "31"}},
		{name: "API key of 33 characters", appID: mtAppID, mchID: mtMchID, apiKey: mtAPIKey + "x", want: ErrInvalidConfig, wantText: []string{"32", "33"}},
		{name: "empty API key", appID: mtAppID, mchID: mtMchID, apiKey: "", want: ErrInvalidConfig},
		{name: "appID XML cannot carry", appID: "wx\x00", mchID: mtMchID, apiKey: mtAPIKey, want: ErrInvalidConfig},
		{name: "mchID invalid UTF-8", appID: mtAppID, mchID: "19\xff", apiKey: mtAPIKey, want: ErrInvalidConfig},
		{name: "base URL http", opts: []Option{WithBaseURL("http://api.mch.weixin.qq.com")}, want: ErrInvalidConfig, wantText: []string{"https"}},
		{name: "base URL without host", opts: []Option{WithBaseURL("https://")}, want: ErrInvalidConfig},
		{name: "base URL relative", opts: []Option{WithBaseURL("/secapi")}, want: ErrInvalidConfig},
		{name: "base URL with query", opts: []Option{WithBaseURL("https://api.mch.weixin.qq.com/?env=test")}, want: ErrInvalidConfig},
		{name: "base URL with fragment", opts: []Option{WithBaseURL("https://api.mch.weixin.qq.com/#x")}, want: ErrInvalidConfig},
		{name: "base URL unparsable", opts: []Option{WithBaseURL("https://[::1")}, want: ErrInvalidConfig},
		{name: "sign type SHA1", opts: []Option{WithSignType("SHA1")}, want: ErrInvalidConfig, wantText: []string{"SHA1"}},
		{name: "sign type lowercase md5", opts: []Option{WithSignType("md5")}, want: ErrInvalidConfig},
		{name: "timeout 0", opts: []Option{WithTimeout(0)}, want: ErrInvalidConfig},
		{name: "timeout negative", opts: []Option{WithTimeout(-time.Second)}, want: ErrInvalidConfig},
		{
			name: "two certificate options",
			opts: []Option{WithPEM(pki.clientCertPEM, pki.clientKeyPEM), WithCertificate(pki.clientCert)},
			want: ErrInvalidConfig, wantText: []string{"WithPEM", "WithCertificate"},
		},
		{
			name: "PEM and PKCS#12",
			opts: []Option{WithPKCS12File("x.p12", ""), WithPEMFiles("a", "b")},
			want: ErrInvalidConfig,
		},
		{name: "WithHTTPClient(nil)", opts: []Option{WithHTTPClient(nil)}, want: ErrInvalidConfig},
		{name: "WithRootCAs(nil)", opts: []Option{WithRootCAs(nil)}, want: ErrInvalidConfig},
		{name: "InsecureSkipVerify transport", opts: []Option{WithHTTPClient(insecure)}, want: ErrInvalidConfig, wantText: []string{"verification"}},
		{
			name: "InsecureSkipVerify transport with certificate",
			opts: []Option{WithHTTPClient(insecure), WithPEM(pki.clientCertPEM, pki.clientKeyPEM)},
			want: ErrInvalidConfig,
		},
		{
			name: "custom RoundTripper with certificate",
			opts: []Option{WithHTTPClient(custom), WithCertificate(pki.clientCert)},
			want: ErrInvalidConfig, wantText: []string{"mtRoundTripperFunc"},
		},
		{
			name: "custom RoundTripper with root CAs",
			opts: []Option{WithHTTPClient(custom), WithRootCAs(pki.caPool)},
			want: ErrInvalidConfig,
		},
		{
			// A wrapper could hide an insecure transport.
			name: "custom RoundTripper alone",
			opts: []Option{WithHTTPClient(custom)},
			want: ErrInvalidConfig, wantText: []string{"mtRoundTripperFunc"},
		},
		{
			name: "transport with DialTLSContext",
			opts: []Option{WithHTTPClient(&http.Client{Transport: &http.Transport{
				DialTLSContext: func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("unused") },
			}})},
			want: ErrInvalidConfig, wantText: []string{"DialTLS"},
		},
		{
			name: "transport with DialTLS",
			opts: []Option{WithHTTPClient(&http.Client{Transport: &http.Transport{
				//lint:ignore SA1019 the deprecated field is what is under test
				DialTLS: func(string, string) (net.Conn, error) { return nil, errors.New("unused") }, //nolint:staticcheck // SA1019: the lint:ignore above says why
			}})},
			want: ErrInvalidConfig, wantText: []string{"DialTLS"},
		},
		{
			name: "WithCertificate with garbage DER",
			opts: []Option{WithCertificate(tls.Certificate{Certificate: [][]byte{[]byte("garbage")}, PrivateKey: pki.clientCert.PrivateKey})},
			want: ErrCertificate,
		},
		{
			name: "WithCertificate with another certificate's key",
			opts: []Option{WithCertificate(tls.Certificate{Certificate: pki.clientCert.Certificate, PrivateKey: mtOtherKey(t)})},
			want: ErrCertificate, wantText: []string{"does not match"},
		},
		{name: "bad PEM", opts: []Option{WithPEM([]byte("not a certificate"), []byte("not a key"))}, want: ErrCertificate},
		{name: "PEM key of another certificate", opts: []Option{WithPEM(pki.clientCertPEM, mtTestdataKeyPEM(t, "apiclient_key.pem"))}, want: ErrCertificate},
		{name: "PEM certificate only", opts: []Option{WithPEM(pki.clientCertPEM, nil)}, want: ErrCertificate},
		{name: "missing PEM files", opts: []Option{WithPEMFiles(missing, missing)}, want: ErrCertificate},
		{
			name: "missing PEM key file",
			opts: []Option{WithPEMFiles(filepath.Join("testdata", "certs", "apiclient_cert.pem"), missing)},
			want: ErrCertificate,
		},
		{name: "missing p12 file", opts: []Option{WithPKCS12File(missing, "")}, want: ErrCertificate},
		{name: "p12 garbage", opts: []Option{WithPKCS12([]byte("garbage"), "")}, want: ErrCertificate},
		{name: "empty tls.Certificate", opts: []Option{WithCertificate(tls.Certificate{})}, want: ErrCertificate},
		{
			name: "tls.Certificate without key",
			opts: []Option{WithCertificate(tls.Certificate{Certificate: pki.clientCert.Certificate})},
			want: ErrCertificate,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			appID, mchID, apiKey := tc.appID, tc.mchID, tc.apiKey
			if appID == "" && mchID == "" && apiKey == "" {
				appID, mchID, apiKey = mtAppID, mtMchID, mtAPIKey
			}
			c, err := NewClient(appID, mchID, apiKey, tc.opts...)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.ErrorIs(t, err, tc.want)
			for _, s := range tc.wantText {
				assert.Contains(t, err.Error(), s)
			}
			if apiKey != "" {
				assert.NotContains(t, err.Error(), apiKey, "the error reveals the API key")
			}
			assert.False(t, errors.Is(err, ErrInvalidRequest))
		})
	}
}

func TestNewClientMissingFileErrorIsNotExist(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "apiclient_cert.pem")
	for _, opt := range []Option{WithPEMFiles(missing, missing), WithPKCS12File(missing, "")} {
		_, err := NewClient(mtAppID, mtMchID, mtAPIKey, opt)
		require.ErrorIs(t, err, ErrCertificate)
		assert.ErrorIs(t, err, fs.ErrNotExist)
	}
}

type mtRoundTripperFunc func(*http.Request) (*http.Response, error)

func (f mtRoundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// ---------------------------------------------------------------------------
// Certificates

// mtRefundPresentingCert runs a Refund against a server that requires a
// client certificate issued by the CA in clientCAs and returns the
// certificates the server saw.
func mtRefundPresentingCert(t *testing.T, s *mtServer, c *Client) mtRequest {
	t.Helper()
	reqs := mtRefundHandler(t, s.mux, mtRefundOK)
	resp, err := c.Refund(context.Background(), mtRefundReq())
	require.NoError(t, err)
	assert.Equal(t, "RF20240603000001", resp.OutRefundNo)
	got := mtReceive(t, reqs)
	require.NotEmpty(t, got.PeerCerts, "the server saw no client certificate")
	return got
}

func TestCertificateSources(t *testing.T) {
	t.Parallel()
	pki := mtCerts()

	// In-memory certificate (server trusts the in-memory CA).
	certFile := filepath.Join(t.TempDir(), "apiclient_cert.pem")
	keyFile := filepath.Join(t.TempDir(), "apiclient_key.pem")
	require.NoError(t, os.WriteFile(certFile, pki.clientCertPEM, 0o600))
	require.NoError(t, os.WriteFile(keyFile, pki.clientKeyPEM, 0o600))
	inMemory := []struct {
		name string
		opt  Option
	}{
		{"WithPEM", WithPEM(pki.clientCertPEM, pki.clientKeyPEM)},
		{"WithPEMFiles", WithPEMFiles(certFile, keyFile)},
		{"WithCertificate", WithCertificate(pki.clientCert)},
	}
	for _, tc := range inMemory {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := mtNewServer(t, tls.RequireAndVerifyClientCert, pki.caPool, nil)
			c := mtNewClient(t, s, tc.opt)
			assert.True(t, c.hasCert)
			got := mtRefundPresentingCert(t, s, c)
			assert.True(t, got.PeerCerts[0].Equal(pki.clientLeaf), "the server saw another certificate")
		})
	}

	// The committed TEST-ONLY files (server trusts testdata/certs/ca.pem).
	td := mtTestdata(t)
	tdCertFile := filepath.Join(t.TempDir(), "apiclient_cert.pem")
	tdKeyFile := filepath.Join(t.TempDir(), "apiclient_key.pem")
	require.NoError(t, os.WriteFile(tdCertFile, td.certPEM, 0o600))
	require.NoError(t, os.WriteFile(tdKeyFile, td.keyPEM, 0o600))
	fromFiles := []struct {
		name      string
		opt       Option
		wantChain bool
	}{
		{name: "testdata WithPEMFiles", opt: WithPEMFiles(tdCertFile, tdKeyFile)},
		{name: "p12 default password is mch_id", opt: WithPKCS12(td.p12, "")},
		{name: "p12 explicit password", opt: WithPKCS12(td.p12, mtMchID)},
		{name: "p12 file", opt: WithPKCS12File(filepath.Join("testdata", "certs", "apiclient_cert.p12"), "")},
		{name: "p12 with CA chain", opt: WithPKCS12(td.p12Chain, mtP12ChainPassword), wantChain: true},
		{
			name:      "p12 file with CA chain",
			opt:       WithPKCS12File(filepath.Join("testdata", "certs", "apiclient_chain.p12"), mtP12ChainPassword),
			wantChain: true,
		},
	}
	for _, tc := range fromFiles {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := mtNewServer(t, tls.RequireAndVerifyClientCert, td.caPool, nil)
			c := mtNewClient(t, s, tc.opt)
			got := mtRefundPresentingCert(t, s, c)
			// The leaf comes first, whatever order the file stores the bags in.
			assert.True(t, got.PeerCerts[0].Equal(td.leaf), "the server saw %s", got.PeerCerts[0].Subject)
			if tc.wantChain {
				require.Len(t, got.PeerCerts, 2)
				assert.True(t, got.PeerCerts[1].Equal(td.ca))
			} else {
				assert.Len(t, got.PeerCerts, 1)
			}
		})
	}
}

// An ECDSA merchant key arrives from x/crypto/pkcs12 as SEC 1 DER under a
// "PRIVATE KEY" label; it must load and be presented like an RSA one.
func TestCertificatePKCS12ECDSA(t *testing.T) {
	t.Parallel()
	td := mtTestdata(t)
	s := mtNewServer(t, tls.RequireAndVerifyClientCert, td.caPool, nil)
	c := mtNewClient(t, s, WithPKCS12File(filepath.Join("testdata", "certs", "apiclient_ecdsa.p12"), ""))
	got := mtRefundPresentingCert(t, s, c)
	require.Len(t, got.PeerCerts, 1)
	assert.Equal(t, x509.ECDSA, got.PeerCerts[0].PublicKeyAlgorithm)
	assert.Contains(t, got.PeerCerts[0].Subject.CommonName, "ECDSA")
}

func TestCertificatePKCS12Errors(t *testing.T) {
	t.Parallel()
	td := mtTestdata(t)

	t.Run("wrong password", func(t *testing.T) {
		t.Parallel()
		_, err := NewClient(mtAppID, mtMchID, mtAPIKey, WithPKCS12(td.p12, "not-the-password"))
		require.ErrorIs(t, err, ErrCertificate)
		assert.Contains(t, err.Error(), "merchant id")
		assert.NotContains(t, err.Error(), "not-the-password")
	})
	t.Run("default password is the client's mch_id", func(t *testing.T) {
		t.Parallel()
		// The same file under another merchant id: "" now means that id.
		_, err := NewClient(mtAppID, "1900000110", mtAPIKey, WithPKCS12(td.p12, ""))
		require.ErrorIs(t, err, ErrCertificate)
		assert.Contains(t, err.Error(), "merchant id")
		_, err = NewClient(mtAppID, "1900000110", mtAPIKey, WithPKCS12(td.p12, mtMchID))
		require.NoError(t, err)
	})
	t.Run("chain file needs its own password", func(t *testing.T) {
		t.Parallel()
		_, err := NewClient(mtAppID, mtMchID, mtAPIKey, WithPKCS12(td.p12Chain, ""))
		require.ErrorIs(t, err, ErrCertificate)
	})
	t.Run("OpenSSL 3 default profile", func(t *testing.T) {
		t.Parallel()
		for _, opt := range []Option{
			WithPKCS12(td.p12OpenSSL3, ""),
			WithPKCS12(td.p12OpenSSL3, mtMchID),
			WithPKCS12File(filepath.Join("testdata", "certs", "apiclient_openssl3.p12"), ""),
		} {
			c, err := NewClient(mtAppID, mtMchID, mtAPIKey, opt)
			require.ErrorIs(t, err, ErrCertificate)
			assert.Nil(t, c)
			assert.Contains(t, err.Error(), "apiclient_cert.pem")
			assert.Contains(t, err.Error(), "-legacy")
		}
	})
	t.Run("truncated", func(t *testing.T) {
		t.Parallel()
		_, err := NewClient(mtAppID, mtMchID, mtAPIKey, WithPKCS12(td.p12[:len(td.p12)/2], ""))
		require.ErrorIs(t, err, ErrCertificate)
	})
}

// A certificate the server does not accept is not sent at all (Go's TLS
// client only offers a certificate issued by one of the server's acceptable
// CAs), so the nginx-style server answers 400.
func TestCertificateNotAcceptedByServer(t *testing.T) {
	t.Parallel()
	td := mtTestdata(t)
	s, hits := mtNginxServer(t)
	c := mtNewClient(t, s, WithPEM(td.certPEM, td.keyPEM))
	_, err := c.Refund(context.Background(), mtRefundReq())
	var me *MessageError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, http.StatusBadRequest, me.StatusCode)
	assert.ErrorIs(t, err, ErrCertificateRejected)
	assert.EqualValues(t, 1, hits.Load())
}

// ---------------------------------------------------------------------------
// Transport

func TestClientReusesOneConnection(t *testing.T) {
	t.Parallel()
	c, s := mtSetup(t)
	mtRefundHandler(t, s.mux, mtRefundOK)
	mtHandle(t, s.mux, pathRefundQuery, SignTypeMD5, func(map[string]string) map[string]string { return mtQueryOK() })

	ctx := context.Background()
	for i := range 6 {
		if i%2 == 0 {
			_, err := c.Refund(ctx, mtRefundReq())
			require.NoError(t, err, "call %d", i)
		} else {
			_, err := c.QueryRefund(ctx, &QueryRefundRequest{OutRefundNo: "RF20240603000001"})
			require.NoError(t, err, "call %d", i)
		}
	}
	assert.EqualValues(t, 1, s.conns.Load(), "TCP connections")
	assert.EqualValues(t, 1, s.handshakes.Load(), "TLS handshakes")
}

func TestClientConcurrentUse(t *testing.T) {
	t.Parallel()
	c, s := mtSetup(t)
	reqs := mtRefundHandler(t, s.mux, mtRefundOK)

	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			req := mtRefundReq()
			req.OutRefundNo = fmt.Sprintf("RF-concurrent-%02d", i)
			resp, err := c.Refund(context.Background(), req)
			if err == nil && resp.OutRefundNo != req.OutRefundNo {
				err = fmt.Errorf("got out_refund_no %q", resp.OutRefundNo)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "goroutine %d", i)
	}
	assert.Len(t, reqs, n)
}

func TestWithHTTPClientKeepsUserClientAndPresentsCertificate(t *testing.T) {
	t.Parallel()
	pki := mtCerts()
	s := mtNewServer(t, tls.RequireAndVerifyClientCert, pki.caPool, nil)
	user := s.Client() // trusts the server's certificate; no client certificate
	userTransport := user.Transport.(*http.Transport)
	userTLS := userTransport.TLSClientConfig
	require.NotNil(t, userTLS)
	userRoots := userTLS.RootCAs
	userMin := userTLS.MinVersion
	userIdle := userTransport.MaxIdleConnsPerHost

	c, err := NewClient(mtAppID, mtMchID, mtAPIKey,
		WithBaseURL(s.URL), WithHTTPClient(user), WithPEM(pki.clientCertPEM, pki.clientKeyPEM))
	require.NoError(t, err)
	t.Cleanup(c.hc.CloseIdleConnections)

	got := mtRefundPresentingCert(t, s, c)
	assert.True(t, got.PeerCerts[0].Equal(pki.clientLeaf))

	// The user's client is untouched.
	assert.NotSame(t, user, c.hc)
	assert.Same(t, userTransport, user.Transport, "the user's Transport was replaced")
	assert.Same(t, userTLS, userTransport.TLSClientConfig, "the user's TLS config was replaced")
	assert.Empty(t, userTLS.Certificates, "the certificate was added to the user's TLS config")
	assert.Nil(t, userTLS.GetClientCertificate)
	assert.Same(t, userRoots, userTLS.RootCAs)
	assert.Equal(t, userMin, userTLS.MinVersion)
	assert.Equal(t, userIdle, userTransport.MaxIdleConnsPerHost)
	assert.NotSame(t, userTransport, c.hc.Transport)

	// And the user's client still has no certificate: the server refuses it.
	resp, err := user.Post(s.URL+pathRefund, "text/xml", strings.NewReader("<xml></xml>"))
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "the user's own client presented a certificate")
}

func TestWithBaseURLPathPrefix(t *testing.T) {
	t.Parallel()
	pki := mtCerts()
	s := mtNewServer(t, tls.RequireAndVerifyClientCert, pki.caPool, nil)
	// The later WithBaseURL wins over mtNewClient's.
	c := mtNewClient(t, s, WithPEM(pki.clientCertPEM, pki.clientKeyPEM), WithBaseURL(s.URL+"/sandboxnew/"))
	refunds := mtHandle(t, s.mux, "/sandboxnew"+pathRefund, SignTypeMD5, mtRefundOK)
	queries := mtHandle(t, s.mux, "/sandboxnew"+pathRefundQuery, SignTypeMD5, func(map[string]string) map[string]string { return mtQueryOK() })
	_, err := c.Refund(context.Background(), mtRefundReq())
	require.NoError(t, err)
	assert.Equal(t, "/sandboxnew/secapi/pay/refund", mtReceive(t, refunds).Path)
	_, err = c.QueryRefund(context.Background(), &QueryRefundRequest{RefundID: "50300012345202406031234567890"})
	require.NoError(t, err)
	assert.Equal(t, "/sandboxnew/pay/refundquery", mtReceive(t, queries).Path)
}

func TestWithHTTPClientKeepsTimeout(t *testing.T) {
	t.Parallel()
	c, err := NewClient(mtAppID, mtMchID, mtAPIKey, WithHTTPClient(&http.Client{Timeout: 7 * time.Second}))
	require.NoError(t, err)
	assert.Equal(t, 7*time.Second, c.hc.Timeout)
	_, ok := c.hc.Transport.(*http.Transport)
	assert.True(t, ok, "a nil Transport becomes a clone of http.DefaultTransport")
}

// ---------------------------------------------------------------------------
// Printing

func TestClientFormatHidesSecrets(t *testing.T) {
	t.Parallel()
	pki := mtCerts()
	td := mtTestdata(t)
	keyDER, err := pki.clientKey.Bytes()
	require.NoError(t, err)
	notifyKey := md5.Sum([]byte(mtAPIKey))

	// Secret material that must never appear.
	secrets := []string{
		mtAPIKey,
		hex.EncodeToString(notifyKey[:]), // AES key of notifications
		hex.EncodeToString(keyDER),
		strings.ToUpper(hex.EncodeToString(keyDER)),
		"PRIVATE KEY",
		"TESTING KEY",
	}
	for _, keyPEM := range [][]byte{pki.clientKeyPEM, td.keyPEM} {
		blk, _ := pem.Decode(keyPEM)
		require.NotNil(t, blk)
		body := strings.ReplaceAll(string(pem.EncodeToMemory(&pem.Block{Type: "K", Bytes: blk.Bytes})), "\n", "")
		body = strings.TrimSuffix(strings.TrimPrefix(body, "-----BEGIN K-----"), "-----END K-----")
		// Every 16-character piece of the base64 body.
		for i := 0; i+16 <= len(body); i += 16 {
			secrets = append(secrets, body[i:i+16])
		}
	}

	clients := map[string]*Client{}
	var err2 error
	clients["PEM"], err2 = NewClient(mtAppID, mtMchID, mtAPIKey, WithPEM(pki.clientCertPEM, pki.clientKeyPEM))
	require.NoError(t, err2)
	clients["p12"], err2 = NewClient(mtAppID, mtMchID, mtAPIKey, WithPKCS12(td.p12, ""))
	require.NoError(t, err2)
	clients["no certificate"], err2 = NewClient(mtAppID, mtMchID, mtAPIKey, WithSignType(SignTypeHMACSHA256))
	require.NoError(t, err2)

	for name, c := range clients {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var outs []string
			// Every verb, including the bad ones whose fallback output
			// prints the value behind a pointer, of *Client, Client and
			// both inside structs.
			for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%t", "%e", "%d", "%x", "%X", "%p", "%T"} {
				for _, arg := range []any{c, *c, struct{ c *Client }{c}, struct{ c Client }{*c}, []Client{*c}} {
					outs = append(outs, fmt.Sprintf(verb, arg))
				}
			}
			outs = append(outs, fmt.Sprint(c), fmt.Sprintln(*c), c.String(), c.GoString(),
				fmt.Sprintf("%v", []*Client{c}), fmt.Sprintf("%+v", struct{ C *Client }{c}))
			for _, out := range outs {
				for _, s := range secrets {
					if strings.Contains(out, s) {
						require.Failf(t, "a formatted Client shows secret material", "%q in %s", s, out)
					}
				}
			}
			assert.Contains(t, c.String(), mtMchID)
			assert.Contains(t, c.String(), mtAppID)
		})
	}
}

// mtOtherKey is a private key that matches no test certificate.
func mtOtherKey(t testing.TB) crypto.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

// testify prints the values of a failed comparison by following pointers
// (spew), ignoring String methods: the API key and the notification key must
// not be reachable that way either.
func TestClientDiffHidesAPIKey(t *testing.T) {
	t.Parallel()
	a, err := NewClient(mtAppID, mtMchID, mtAPIKey)
	require.NoError(t, err)
	b, err := NewClient(mtAppID, mtMchID, strings.ToUpper(mtAPIKey))
	require.NoError(t, err)
	rec := &mtRecordingT{}
	assert.Equal(rec, a, b)
	assert.Equal(rec, *a, *b)
	require.NotEmpty(t, rec.msgs, "the comparison should have failed")
	notifyKey := md5.Sum([]byte(mtAPIKey))
	out := strings.Join(rec.msgs, "\n")
	for _, secret := range []string{mtAPIKey, strings.ToUpper(mtAPIKey), hex.EncodeToString(notifyKey[:])} {
		assert.NotContains(t, out, secret)
	}
}

// Nor may a diff of two clients with different certificates print either
// merchant private key.
func TestClientDiffHidesPrivateKey(t *testing.T) {
	t.Parallel()
	pki, td := mtCerts(), mtTestdata(t)
	a, err := NewClient(mtAppID, mtMchID, mtAPIKey, WithCertificate(pki.clientCert))
	require.NoError(t, err)
	b, err := NewClient(mtAppID, mtMchID, mtAPIKey, WithPEM(td.certPEM, td.keyPEM))
	require.NoError(t, err)
	tdPair, err := tls.X509KeyPair(td.certPEM, td.keyPEM)
	require.NoError(t, err)
	rsaKey, ok := tdPair.PrivateKey.(*rsa.PrivateKey)
	require.True(t, ok, "testdata key is %T, want RSA", tdPair.PrivateKey)

	rec := &mtRecordingT{}
	assert.Equal(rec, a, b)
	assert.Equal(rec, *a, *b)
	require.NotEmpty(t, rec.msgs, "the comparison should have failed")
	out := strings.Join(rec.msgs, "\n")
	assert.NotContains(t, out, "PrivateKey")
	ecKey, err := pki.clientKey.Bytes()
	require.NoError(t, err)
	for _, d := range []*big.Int{new(big.Int).SetBytes(ecKey), rsaKey.D, rsaKey.Primes[0]} {
		assert.NotContains(t, out, d.String())
		for _, w := range d.Bits() {
			assert.NotContains(t, out, fmt.Sprint(uint64(w)))
		}
	}
}

type mtRecordingT struct{ msgs []string }

func (r *mtRecordingT) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

// A Client that NewClient did not make fails with ErrInvalidConfig instead
// of panicking, and its NotifyHandler never acknowledges.
func TestZeroClient(t *testing.T) {
	t.Parallel()
	var nilClient *Client
	for name, c := range map[string]*Client{"zero": {}, "nil": nilClient} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := c.Refund(context.Background(), mtRefundReq())
			assert.ErrorIs(t, err, ErrInvalidConfig)
			assert.NotErrorIs(t, err, ErrOutcomeUnknown)
			_, err = c.QueryRefund(context.Background(), &QueryRefundRequest{OutRefundNo: "RF1"})
			assert.ErrorIs(t, err, ErrInvalidConfig)
			_, err = c.DecryptNotify([]byte("<xml></xml>"))
			assert.ErrorIs(t, err, ErrInvalidConfig)

			called := false
			rec := httptest.NewRecorder()
			c.NotifyHandler(func(context.Context, *RefundNotification) error { called = true; return nil }).
				ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/notify", strings.NewReader("<xml></xml>")))
			assert.Equal(t, http.StatusInternalServerError, rec.Code)
			assert.NotContains(t, rec.Body.String(), "SUCCESS")
			assert.False(t, called)
			assert.NotPanics(t, func() { _ = c.String() + c.GoString() + c.AppID() + c.MchID() })
		})
	}
}

func TestCloseIdleConnections(t *testing.T) {
	t.Parallel()
	c, s := mtSetup(t)
	mtRefundHandler(t, s.mux, mtRefundOK)
	for range 3 {
		_, err := c.Refund(context.Background(), mtRefundReq())
		require.NoError(t, err)
	}
	assert.EqualValues(t, 1, s.conns.Load(), "one connection serves many calls")
	c.CloseIdleConnections()
	_, err := c.Refund(context.Background(), mtRefundReq())
	require.NoError(t, err)
	assert.EqualValues(t, 2, s.conns.Load())
	(*Client)(nil).CloseIdleConnections() // no panic
	var zero Client
	zero.CloseIdleConnections()
	assert.True(t, errors.Is(errNotCreated, ErrInvalidConfig))
}

// The params of every request are in the byte order of their names: the
// order of the string-to-sign, which encodeRequest relies on.
func TestRequestParamsSorted(t *testing.T) {
	t.Parallel()
	c, err := NewClient(mtAppID, mtMchID, mtAPIKey, WithSignType(SignTypeHMACSHA256))
	require.NoError(t, err)
	rp := c.refundParams(&RefundRequest{OutTradeNo: "O", OutRefundNo: "R", TotalFee: 2, RefundFee: 1, SubMchID: "1", SubAppID: "wx1"})
	qp, err := c.queryParams(&QueryRefundRequest{OutTradeNo: "O", SubMchID: "1"})
	require.NoError(t, err)
	for _, params := range [][]param{rp[:], qp[:]} {
		for i := 1; i < len(params); i++ {
			assert.Less(t, params[i-1].name, params[i].name)
		}
	}
}
