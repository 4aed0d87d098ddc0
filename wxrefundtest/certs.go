package wxrefundtest

import (
	"crypto/tls"
	"crypto/x509"

	"github.com/go-wxpay/wxrefund/internal/testpki"
)

// pki is the fake's certificate hierarchy: one CA that issued both the
// server's certificate and the merchant's client certificate. Everything is
// generated in memory (by internal/testpki) for each Server and never
// written anywhere.
type pki struct {
	caCert  *x509.Certificate
	caPEM   []byte
	pool    *x509.CertPool
	server  tls.Certificate
	mchCert *x509.Certificate
	mchPEM  []byte // apiclient_cert.pem
	mchKey  []byte // apiclient_key.pem (PKCS#8)
}

// newPKI creates a CA, a server certificate for hosts (IP addresses or DNS
// names, besides testpki.DefaultHosts) and a client certificate whose
// common name is mchID. Validity is based on the real time, not the
// Server's clock: TLS peers check it against theirs.
func newPKI(mchID string, hosts []string) (*pki, error) {
	ca, err := testpki.NewCA("wxrefundtest")
	if err != nil {
		return nil, err
	}
	srv, err := ca.Server(hosts)
	if err != nil {
		return nil, err
	}
	mch, err := ca.Merchant(mchID)
	if err != nil {
		return nil, err
	}
	return &pki{
		caCert:  ca.Cert,
		caPEM:   ca.PEM,
		pool:    ca.Pool(),
		server:  tls.Certificate{Certificate: [][]byte{srv.Leaf.Raw}, PrivateKey: srv.Key},
		mchCert: mch.Leaf,
		mchPEM:  mch.CertPEM,
		mchKey:  mch.KeyPEM,
	}, nil
}
