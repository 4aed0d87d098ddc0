package wxrefund

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/pkcs12"
)

// This file loads and checks the merchant API certificate (mutual TLS for
// /secapi/ calls): PEM pairs, PKCS#12 files and tls.Certificates.

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

// checkCertificate refuses, with ErrCertificate, a merchant certificate that
// cannot be the Client's at now: one that has expired or is not yet valid,
// or one issued to another merchant. WeChat Pay's merchant API certificates
// name the merchant id as their subject CN (a string of digits); a
// certificate whose CN is all digits and another mch_id belongs to another
// merchant (in service-provider mode the provider's certificate is used,
// and the Client's mch_id is the provider's). A CN that is not all digits
// (a test or a proxy's certificate) is not judged.
func checkCertificate(cert tls.Certificate, mchID string, now time.Time) (*x509.Certificate, error) {
	leaf := cert.Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrCertificate, err)
		}
	}
	const day = "2006-01-02 15:04:05 MST"
	switch cn := leaf.Subject.CommonName; {
	case now.After(leaf.NotAfter):
		return nil, fmt.Errorf("%w: the merchant certificate expired on %s; download a new one from the merchant platform",
			ErrCertificate, leaf.NotAfter.UTC().Format(day))
	case now.Before(leaf.NotBefore):
		return nil, fmt.Errorf("%w: the merchant certificate is not valid before %s (check the clock)",
			ErrCertificate, leaf.NotBefore.UTC().Format(day))
	case cn != "" && strings.Trim(cn, "0123456789") == "" && cn != mchID:
		return nil, fmt.Errorf("%w: the merchant certificate was issued to merchant %s, not to %s",
			ErrCertificate, cn, mchID)
	}
	return leaf, nil
}
