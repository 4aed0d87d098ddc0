package testpki_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/internal/testpki"
)

const mchID = "1900000109"

func newCA(t *testing.T) *testpki.CA {
	t.Helper()
	ca, err := testpki.NewCA("testpki tests")
	require.NoError(t, err)
	return ca
}

func TestCA(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	assert.True(t, ca.Cert.IsCA)
	assert.Equal(t, "testpki tests fake CA", ca.Cert.Subject.CommonName)
	block, rest := pem.Decode(ca.PEM)
	require.NotNil(t, block)
	assert.Empty(t, rest)
	assert.Equal(t, "CERTIFICATE", block.Type)
	assert.Equal(t, ca.Cert.Raw, block.Bytes)
	assert.NotSame(t, ca.Pool(), ca.Pool(), "a new pool on each call")
}

// The server certificate covers the default hosts and the extras, each
// once, and only for server authentication.
func TestServer(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	srv, err := ca.Server([]string{"localhost", "192.0.2.7", "fake.example"})
	require.NoError(t, err)
	assert.Equal(t, []string{"localhost", "fake.example"}, srv.Leaf.DNSNames)
	assert.Equal(t, []net.IP{net.ParseIP("127.0.0.1").To4(), net.ParseIP("::1"), net.ParseIP("192.0.2.7").To4()}, srv.Leaf.IPAddresses)
	for _, h := range []string{"127.0.0.1", "::1", "localhost", "192.0.2.7", "fake.example"} {
		_, err := srv.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: h})
		assert.NoError(t, err, h)
	}
	_, err = srv.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "127.0.0.1",
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	assert.Error(t, err, "a server certificate is no client certificate")
	_, err = srv.Leaf.Verify(x509.VerifyOptions{Roots: newCA(t).Pool(), DNSName: "127.0.0.1"})
	assert.Error(t, err, "another CA verifies it")

	pair := srv.TLS()
	assert.Same(t, srv.Leaf, pair.Leaf)
	assert.Equal(t, [][]byte{srv.Leaf.Raw}, pair.Certificate)
}

// The merchant certificate has the shape of apiclient_cert.pem and
// apiclient_key.pem: the mch_id as CN, a PKCS#8 key, client authentication.
func TestMerchant(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	mch, err := ca.Merchant(mchID)
	require.NoError(t, err)
	assert.Equal(t, mchID, mch.Leaf.Subject.CommonName)
	_, err = mch.Leaf.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)

	pair, err := tls.X509KeyPair(mch.CertPEM, mch.KeyPEM)
	require.NoError(t, err)
	assert.Equal(t, mch.Leaf.Raw, pair.Certificate[0])
	block, _ := pem.Decode(mch.KeyPEM)
	require.NotNil(t, block)
	assert.Equal(t, "PRIVATE KEY", block.Type)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	assert.True(t, mch.Key.Equal(key))

	// The SDK takes it as this merchant's, and refuses it for another.
	_, err = wxrefund.NewClient("wx8888888888888888", mchID, "Illustr8tiveApiV2Key0123456789Ab", wxrefund.WithPEM(mch.CertPEM, mch.KeyPEM))
	require.NoError(t, err)
	_, err = wxrefund.NewClient("wx8888888888888888", "1230000109", "Illustr8tiveApiV2Key0123456789Ab", wxrefund.WithPEM(mch.CertPEM, mch.KeyPEM))
	require.ErrorIs(t, err, wxrefund.ErrCertificate)
}

func TestValidity(t *testing.T) {
	t.Parallel()
	ca := newCA(t)
	from, to := time.Now().Add(-48*time.Hour).Truncate(time.Second), time.Now().Add(-24*time.Hour).Truncate(time.Second)
	mch, err := ca.Merchant(mchID, testpki.Validity(from, to))
	require.NoError(t, err)
	assert.True(t, mch.Leaf.NotBefore.Equal(from))
	assert.True(t, mch.Leaf.NotAfter.Equal(to))
	_, err = wxrefund.NewClient("wx8888888888888888", mchID, "Illustr8tiveApiV2Key0123456789Ab", wxrefund.WithPEM(mch.CertPEM, mch.KeyPEM))
	require.ErrorIs(t, err, wxrefund.ErrCertificate, "expired")

	mch, err = ca.Merchant(mchID)
	require.NoError(t, err)
	assert.True(t, mch.Leaf.NotBefore.Before(time.Now().Add(-time.Minute)), "valid a little in the past, for peers whose clock is behind")
	assert.True(t, mch.Leaf.NotAfter.After(time.Now().AddDate(5, 0, 0)), "no test outlives it")
}
