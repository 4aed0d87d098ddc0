// Package testpki generates a throwaway certificate hierarchy in memory: a
// CA, server certificates for loopback hosts and merchant client
// certificates shaped like WeChat Pay's (the subject CN is the mch_id).
//
// It is for the tests of this module and for the fake WeChat Pay of package
// wxrefundtest only, as net/http/internal/testcert serves httptest. Nothing
// it makes is trustworthy: keys are generated on each call, held in memory
// and never written anywhere. Being internal, it cannot be imported from
// outside this module.
//
// It deals in certificates only. The fake must not share package wxrefund's
// XML codec, signing or encryption, and nothing of the kind belongs here:
// the fake's independence is what lets it catch a codec bug.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// DefaultHosts are the names every server certificate covers.
var DefaultHosts = []string{"127.0.0.1", "::1", "localhost"}

// defaultValidity is how long certificates are valid by default: long
// enough that no test or fake server outlives them. They are valid from an
// hour ago, so that a peer whose clock is a little behind accepts them.
const defaultValidity = 10 * 365 * 24 * time.Hour

// CA is an in-memory certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	PEM  []byte // Cert as a "CERTIFICATE" PEM block

	org string
}

// Cert is a certificate the CA issued and its private key.
type Cert struct {
	Leaf    *x509.Certificate
	Key     *ecdsa.PrivateKey
	CertPEM []byte // Leaf as a "CERTIFICATE" PEM block (apiclient_cert.pem)
	KeyPEM  []byte // Key as a PKCS#8 "PRIVATE KEY" PEM block (apiclient_key.pem)
}

// TLS returns c as a tls.Certificate, with Leaf set.
func (c *Cert) TLS() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{c.Leaf.Raw}, PrivateKey: c.Key, Leaf: c.Leaf}
}

// Option changes a certificate before the CA signs it.
type Option func(*x509.Certificate)

// Validity sets the certificate's validity period, for certificates that
// have expired or are not yet valid.
func Validity(notBefore, notAfter time.Time) Option {
	return func(c *x509.Certificate) { c.NotBefore, c.NotAfter = notBefore, notAfter }
}

// NewCA creates a CA whose subject has organization org and common name
// org + " fake CA". Certificates it issues carry the same organization.
func NewCA(org string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{org}, CommonName: org + " fake CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(defaultValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("testpki: create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{
		Cert: cert,
		Key:  key,
		PEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		org:  org,
	}, nil
}

// Pool returns a new pool that holds the CA's certificate only.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// Server issues a server certificate (ExtKeyUsageServerAuth) for
// DefaultHosts and hosts: IP addresses or DNS names, each listed once. Its
// common name is the CA's organization + " server".
func (ca *CA) Server(hosts []string, opts ...Option) (*Cert, error) {
	all := slices.Clone(DefaultHosts)
	for _, h := range hosts {
		if !slices.Contains(all, h) {
			all = append(all, h)
		}
	}
	c, err := ca.issue(ca.org+" server", x509.ExtKeyUsageServerAuth, all, opts)
	if err != nil {
		return nil, fmt.Errorf("testpki: create server certificate: %w", err)
	}
	return c, nil
}

// Merchant issues a merchant API client certificate
// (ExtKeyUsageClientAuth) whose subject common name is mchID, as WeChat
// Pay's apiclient_cert.pem names the merchant. A test that needs a
// certificate of another shape (another merchant's, or a CN that is not a
// merchant id) passes that text as mchID.
func (ca *CA) Merchant(mchID string, opts ...Option) (*Cert, error) {
	c, err := ca.issue(mchID, x509.ExtKeyUsageClientAuth, nil, opts)
	if err != nil {
		return nil, fmt.Errorf("testpki: create merchant certificate: %w", err)
	}
	return c, nil
}

func (ca *CA) issue(cn string, usage x509.ExtKeyUsage, hosts []string, opts []Option) (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{Organization: []string{ca.org}, CommonName: cn},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(defaultValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	for _, o := range opts {
		o(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Cert{
		Leaf:    leaf,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// serial returns a random 120-bit serial number.
func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil { // crypto/rand does not fail
		panic(err)
	}
	return n
}
