package main

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/crypto/pkcs12"

	"github.com/go-wxpay/wxrefund"
)

// This file holds the commands that need no call to WeChat Pay: decrypt,
// verify and cert.

// readBody reads FILE (the only argument) or standard input, at most 1 MiB.
func (a *app) readBody(args []string) ([]byte, error) {
	r := a.stdin
	switch len(args) {
	case 0:
	case 1:
		f, err := os.Open(args[0])
		if err != nil {
			return nil, usageErr("cannot read %v", err)
		}
		defer func() { _ = f.Close() }()
		r = f
	default:
		return nil, usageErr("give one file, or the body on standard input")
	}
	b, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, usageErr("cannot read the body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, usageErr("the body is empty: give a file, or the body on standard input")
	}
	return b, nil
}

func runDecrypt(a *app, args []string) error {
	fs, cf := a.newFlagSet("decrypt", commandSynopsis("decrypt"))
	if err := parse(fs, args); err != nil {
		return err
	}
	body, err := a.readBody(fs.Args())
	if err != nil {
		return err
	}
	c, err := a.resolve(cf)
	if err != nil {
		return err
	}
	cl, err := c.client(false)
	if err != nil {
		return err
	}
	n, err := cl.DecryptNotify(body)
	if errors.Is(err, wxrefund.ErrDecrypt) {
		return &exitError{code: exitFailed, err: err, msg: strings.TrimPrefix(err.Error(), "wxrefund: ") +
			" (most often the API key is not this merchant's: check WXPAY_APIKEY)"}
	}
	if err != nil {
		return err
	}
	if c.json {
		return printJSON(a.stdout, n)
	}
	rows := make([][]string, 0, len(n.Raw)+4)
	for _, k := range []string{"appid", "mch_id", "sub_appid", "sub_mch_id"} {
		v := map[string]string{"appid": n.AppID, "mch_id": n.MchID, "sub_appid": n.SubAppID, "sub_mch_id": n.SubMchID}[k]
		if v != "" {
			rows = append(rows, []string{k, v})
		}
	}
	for _, k := range sortedKeys(n.Raw) {
		rows = append(rows, []string{k, n.Raw[k]})
	}
	a.table([]string{"field", "value"}, rows)
	return nil
}

// flatXML reads a flat <xml> document into its fields.
func flatXML(body []byte) (map[string]string, error) {
	d := xml.NewDecoder(bytes.NewReader(body))
	fields := map[string]string{}
	depth := 0
	var name string
	var text strings.Builder
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > 2 {
				return nil, errors.New("not a flat document")
			}
			name = t.Name.Local
			text.Reset()
		case xml.CharData:
			if depth == 2 {
				text.Write(t)
			}
		case xml.EndElement:
			if depth == 2 {
				fields[name] = text.String()
			}
			depth--
		}
	}
	if len(fields) == 0 {
		return nil, errors.New("no fields")
	}
	return fields, nil
}

// digest signs fields as API v2 does, or with a variation: withEmpty signs
// empty values too; trim signs values without surrounding white space.
func digest(fields map[string]string, key string, t wxrefund.SignType, withEmpty, trim bool) string {
	var h hash.Hash
	if t == wxrefund.SignTypeHMACSHA256 {
		h = hmac.New(sha256.New, []byte(key))
	} else {
		h = md5.New()
	}
	keys := make([]string, 0, len(fields))
	for k, v := range fields {
		if k != "sign" && (v != "" || withEmpty) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := fields[k]
		if trim {
			v = strings.TrimSpace(v)
		}
		_, _ = fmt.Fprintf(h, "%s=%s&", k, v)
	}
	_, _ = fmt.Fprintf(h, "key=%s", key)
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil)))
}

// abbreviated shows the start of a signature, never all of it.
func abbreviated(sig string) string {
	if len(sig) > 6 {
		return sig[:6] + "…"
	}
	return sig
}

func runVerify(a *app, args []string) error {
	fs, cf := a.newFlagSet("verify", commandSynopsis("verify"))
	signType := fs.String("sign-type", "", "MD5 or HMAC-SHA256 (default: the body's sign_type, else MD5)")
	if err := parse(fs, args); err != nil {
		return err
	}
	body, err := a.readBody(fs.Args())
	if err != nil {
		return err
	}
	c, err := a.resolve(cf)
	if err != nil {
		return err
	}
	if c.apiKey == "" {
		return failf(exitConfig, "missing the API key: set WXPAY_APIKEY or -api-key-file")
	}
	fields, err := flatXML(body)
	if err != nil {
		return usageErr("the body is not a flat <xml> document: %v", err)
	}
	got := fields["sign"]
	if got == "" {
		return failf(exitFailed, "the body has no sign field: WeChat Pay does not sign return_code FAIL answers or refund notifications")
	}
	t := wxrefund.SignType(*signType)
	if t != "" && t != wxrefund.SignTypeMD5 && t != wxrefund.SignTypeHMACSHA256 {
		return usageErr("-sign-type %q: want MD5 or HMAC-SHA256", *signType)
	}
	if t == "" {
		t = wxrefund.SignType(fields["sign_type"])
	}
	if t != wxrefund.SignTypeHMACSHA256 {
		t = wxrefund.SignTypeMD5
	}
	other := wxrefund.SignTypeHMACSHA256
	if t == other {
		other = wxrefund.SignTypeMD5
	}
	match := func(sig string) bool {
		return subtle.ConstantTimeCompare([]byte(sig), []byte(strings.ToUpper(got))) == 1
	}
	result := map[string]any{"SignType": string(t), "Sign": abbreviated(got)}
	var verdict string
	code := exitFailed
	switch {
	case match(wxrefund.Sign(fields, c.apiKey, t)):
		verdict, code = "the signature verifies ("+string(t)+")", exitOK
		result["Cause"] = "none"
	case match(wxrefund.Sign(fields, c.apiKey, other)):
		verdict = "wrong sign type: it was signed with " + string(other) + ", but " + string(t) + " was expected (check sign_type, or WithSignType)"
		result["Cause"] = "wrong sign type"
	case match(digest(fields, c.apiKey, t, true, false)) || match(digest(fields, c.apiKey, other, true, false)):
		verdict = "an empty field was signed: API v2 leaves empty values out of the string to sign"
		result["Cause"] = "empty field signed"
	case match(digest(fields, c.apiKey, t, false, true)) || match(digest(fields, c.apiKey, other, false, true)):
		verdict = "a field changed: white space was added around a value after signing"
		result["Cause"] = "field changed"
	default:
		verdict = "wrong API key, or a field changed after signing: it verifies with neither sign type under the configured key (WXPAY_APIKEY must be this mch_id's API v2 key, not the APIv3 key)"
		result["Cause"] = "wrong key or field changed"
	}
	if c.json {
		result["OK"] = code == exitOK
		if err := printJSON(a.stdout, result); err != nil {
			return err
		}
	} else {
		a.printf("sign %s: %s\n", abbreviated(got), verdict)
	}
	if code != exitOK {
		return &exitError{code: code, msg: "signature mismatch: " + verdict}
	}
	return nil
}

// certInfo is what cert shows.
type certInfo struct {
	Subject, Issuer, MchID, Serial string
	NotBefore, NotAfter            time.Time
	DaysLeft                       int
	MatchesMchID                   bool
}

func runCert(a *app, args []string) error {
	fs, cf := a.newFlagSet("cert", commandSynopsis("cert"))
	days := fs.Int("days", 30, "fail (exit 1) when the certificate expires within this many days")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := a.resolve(cf)
	if err != nil {
		return err
	}
	leaf, err := c.leaf()
	if err != nil {
		return err
	}
	now := time.Now()
	// WeChat Pay's certificates name the mch_id as their CN, a string of
	// digits; another CN (a test or a proxy's certificate) is not judged,
	// as NewClient does not judge it.
	cn, shown := leaf.Subject.CommonName, leaf.Subject.CommonName
	if cn == "" || strings.Trim(cn, "0123456789") != "" {
		cn, shown = "", "(the CN is not a mch_id: not checked)"
	}
	info := certInfo{Subject: leaf.Subject.String(), Issuer: leaf.Issuer.CommonName, MchID: cn,
		Serial: strings.ToUpper(leaf.SerialNumber.Text(16)), NotBefore: leaf.NotBefore.In(wxrefund.ChinaTime),
		NotAfter: leaf.NotAfter.In(wxrefund.ChinaTime), DaysLeft: int(leaf.NotAfter.Sub(now).Hours() / 24),
		MatchesMchID: c.mchID == "" || cn == "" || cn == c.mchID}
	if c.json {
		if err := printJSON(a.stdout, info); err != nil {
			return err
		}
	} else {
		a.table([]string{"field", "value"}, [][]string{
			{"subject", info.Subject}, {"mch_id (CN)", shown}, {"issuer", info.Issuer}, {"serial", info.Serial},
			{"valid from", info.NotBefore.Format(wxrefund.TimeLayout)}, {"expires", info.NotAfter.Format(wxrefund.TimeLayout)},
			{"days left", fmt.Sprint(info.DaysLeft)},
		})
	}
	switch {
	case !info.MatchesMchID:
		return failf(exitConfig, "the certificate was issued to mch_id %s, not %s (check -cert/-p12 against -mchid or WXPAY_MCHID)", info.MchID, c.mchID)
	case now.After(leaf.NotAfter):
		return failf(exitFailed, "the certificate expired on %s: WeChat Pay refuses refunds with it; apply for a new API certificate on the merchant platform", info.NotAfter.Format(wxrefund.TimeLayout))
	case leaf.NotAfter.Sub(now) < time.Duration(*days)*24*time.Hour:
		return failf(exitFailed, "the certificate expires in %d days, within the %d of -days: renew it on the merchant platform", info.DaysLeft, *days)
	}
	return nil
}

// leaf loads the merchant certificate's leaf from -cert or -p12, without
// the checks NewClient makes (so that an expired one can be shown).
func (c *config) leaf() (*x509.Certificate, error) {
	switch {
	case c.certFile != "":
		b, err := os.ReadFile(c.certFile)
		if err != nil {
			return nil, failf(exitConfig, "cannot read the certificate (-cert or WXPAY_CERT_FILE): %v", err)
		}
		for {
			var block *pem.Block
			block, b = pem.Decode(b)
			if block == nil {
				return nil, failf(exitConfig, "no PEM certificate in %s (-cert or WXPAY_CERT_FILE)", c.certFile)
			}
			if block.Type == "CERTIFICATE" {
				cert, err := x509.ParseCertificate(block.Bytes)
				if err != nil {
					return nil, failf(exitConfig, "the certificate in %s does not parse: %v", c.certFile, err)
				}
				return cert, nil
			}
		}
	case c.p12File != "":
		b, err := os.ReadFile(c.p12File)
		if err != nil {
			return nil, failf(exitConfig, "cannot read the certificate (-p12 or WXPAY_P12_FILE): %v", err)
		}
		password := c.p12Password
		if password == "" {
			password = c.mchID
		}
		blocks, err := pkcs12.ToPEM(b, password)
		if err != nil {
			return nil, failf(exitConfig, "cannot open %s: %v (the password is WXPAY_P12_PASSWORD, by default the mch_id)", c.p12File, err)
		}
		var certs []*x509.Certificate
		var key interface{ Equal(crypto.PublicKey) bool }
		for _, block := range blocks {
			switch block.Type {
			case "CERTIFICATE":
				cert, err := x509.ParseCertificate(block.Bytes)
				if err != nil {
					return nil, failf(exitConfig, "a certificate in %s does not parse: %v", c.p12File, err)
				}
				certs = append(certs, cert)
			case "PRIVATE KEY":
				key = publicOf(block.Bytes)
			}
		}
		if len(certs) == 0 {
			return nil, failf(exitConfig, "no certificate in %s (-p12 or WXPAY_P12_FILE)", c.p12File)
		}
		// The merchant's certificate is the one that matches the
		// private key; a CA certificate in the file does not.
		for _, cert := range certs {
			if key != nil && key.Equal(cert.PublicKey) {
				return cert, nil
			}
		}
		for _, cert := range certs {
			if cert.Subject.CommonName == c.mchID {
				return cert, nil
			}
		}
		return certs[0], nil
	}
	return nil, failf(exitConfig, "no certificate: set -cert (WXPAY_CERT_FILE) or -p12 (WXPAY_P12_FILE)")
}

// publicOf returns the public half of a private key that pkcs12.ToPEM
// produced (PKCS #1 for RSA, SEC 1 for EC, else PKCS #8), or nil.
func publicOf(der []byte) interface{ Equal(crypto.PublicKey) bool } {
	var priv any
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		priv = k
	} else if k, err := x509.ParseECPrivateKey(der); err == nil {
		priv = k
	} else if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		priv = k
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return nil
	}
	pub, _ := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	return pub
}
