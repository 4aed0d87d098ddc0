package wxrefundtest

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
	"time"
)

// pki is the fake's certificate hierarchy: one CA that issued both the
// server's certificate and the merchant's client certificate. Everything is
// generated in memory for each Server and never written anywhere.
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
// names) and a client certificate whose common name is mchID. Validity is
// based on the real time, not the Server's clock: TLS peers check it against
// theirs.
func newPKI(mchID string, hosts []string) (*pki, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{Organization: []string{"wxrefundtest"}, CommonName: "wxrefundtest fake CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("wxrefundtest: create CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	p := &pki{
		caCert: caCert,
		caPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pool:   x509.NewCertPool(),
	}
	p.pool.AddCert(caCert)

	leaf := func(cn string, usage x509.ExtKeyUsage, hosts []string) (der []byte, key *ecdsa.PrivateKey, err error) {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{Organization: []string{"wxrefundtest"}, CommonName: cn},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
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
		der, err = x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
		return der, key, err
	}

	srvDER, srvKey, err := leaf("wxrefundtest server", x509.ExtKeyUsageServerAuth, hosts)
	if err != nil {
		return nil, fmt.Errorf("wxrefundtest: create server certificate: %w", err)
	}
	p.server = tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}

	mchDER, mchKey, err := leaf(mchID, x509.ExtKeyUsageClientAuth, nil)
	if err != nil {
		return nil, fmt.Errorf("wxrefundtest: create merchant certificate: %w", err)
	}
	if p.mchCert, err = x509.ParseCertificate(mchDER); err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(mchKey)
	if err != nil {
		return nil, err
	}
	p.mchPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: mchDER})
	p.mchKey = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return p, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil { // crypto/rand does not fail
		panic(err)
	}
	return n
}
