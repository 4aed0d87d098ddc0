// Package envconfig builds a wxrefund.Client from environment variables for
// the example programs, and explains what is missing when it cannot.
package envconfig

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/go-wxpay/wxrefund"
)

// Usage lists the variables the example programs read.
const Usage = `Environment variables:
  WXPAY_APPID       AppID bound to the merchant (required)
  WXPAY_MCHID       merchant id, mch_id (required)
  WXPAY_APIKEY      32-character API v2 key from the merchant platform (required)
  WXPAY_CERT_FILE   path of apiclient_cert.pem  } the merchant API certificate:
  WXPAY_KEY_FILE    path of apiclient_key.pem   } needed for refunds, not for
  WXPAY_P12_FILE    or the path of apiclient_cert.p12 } queries or notifications
  WXPAY_P12_PASSWORD  password of the .p12 (default: the mch_id)
  WXPAY_BASE_URL    API base URL (default https://api.mch.weixin.qq.com;
                    set it to the "base_url" that examples/fakeserver prints)
  WXPAY_CA_FILE     PEM roots that verify the server (default: system roots;
                    set it to the "ca" that examples/fakeserver prints)`

// Client returns a Client configured from the environment. needCert says
// whether the caller will make refunds, which need the merchant certificate.
func Client(needCert bool) (*wxrefund.Client, error) {
	appID, mchID, apiKey := os.Getenv("WXPAY_APPID"), os.Getenv("WXPAY_MCHID"), os.Getenv("WXPAY_APIKEY")
	var missing []string
	for name, v := range map[string]string{"WXPAY_APPID": appID, "WXPAY_MCHID": mchID, "WXPAY_APIKEY": apiKey} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	certFile, keyFile, p12 := os.Getenv("WXPAY_CERT_FILE"), os.Getenv("WXPAY_KEY_FILE"), os.Getenv("WXPAY_P12_FILE")
	if needCert && p12 == "" && (certFile == "" || keyFile == "") {
		missing = append(missing, "WXPAY_CERT_FILE and WXPAY_KEY_FILE (or WXPAY_P12_FILE)")
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("missing %s\n\n%s", strings.Join(missing, ", "), Usage)
	}

	var opts []wxrefund.Option
	switch {
	case p12 != "":
		opts = append(opts, wxrefund.WithPKCS12File(p12, os.Getenv("WXPAY_P12_PASSWORD")))
	case certFile != "" && keyFile != "":
		opts = append(opts, wxrefund.WithPEMFiles(certFile, keyFile))
	}
	if u := os.Getenv("WXPAY_BASE_URL"); u != "" {
		opts = append(opts, wxrefund.WithBaseURL(u))
	}
	if ca := os.Getenv("WXPAY_CA_FILE"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("WXPAY_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("WXPAY_CA_FILE: no PEM certificate in " + ca)
		}
		opts = append(opts, wxrefund.WithRootCAs(pool))
	}
	return wxrefund.NewClient(appID, mchID, apiKey, opts...)
}
