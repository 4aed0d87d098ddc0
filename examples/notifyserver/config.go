package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/go-wxpay/wxrefund"
)

// This file is the same in examples/refund and examples/notifyserver: it
// builds the Client from WXPAY_* environment variables.

const envUsage = `Environment variables:
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

// usage returns a flag.Usage that prints synopsis, the flags and envUsage.
func usage(synopsis string) func() {
	return func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s\n\n", synopsis)
		flag.PrintDefaults()
		fmt.Fprintf(flag.CommandLine.Output(), "\n%s\n", envUsage)
	}
}

// newClient returns a Client configured from the environment, with opts
// applied after it. needCert says whether the program makes refunds, which
// need the merchant certificate.
func newClient(needCert bool, opts ...wxrefund.Option) (*wxrefund.Client, error) {
	env := func(name string) string { return os.Getenv("WXPAY_" + name) }
	var missing []string
	for _, name := range []string{"APPID", "MCHID", "APIKEY"} {
		if env(name) == "" {
			missing = append(missing, "WXPAY_"+name)
		}
	}
	if needCert && env("P12_FILE") == "" && (env("CERT_FILE") == "" || env("KEY_FILE") == "") {
		missing = append(missing, "WXPAY_CERT_FILE and WXPAY_KEY_FILE (or WXPAY_P12_FILE)")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing %s\n\n%s", strings.Join(missing, ", "), envUsage)
	}

	var base []wxrefund.Option
	switch {
	case env("P12_FILE") != "":
		base = append(base, wxrefund.WithPKCS12File(env("P12_FILE"), env("P12_PASSWORD")))
	case env("CERT_FILE") != "" && env("KEY_FILE") != "":
		base = append(base, wxrefund.WithPEMFiles(env("CERT_FILE"), env("KEY_FILE")))
	}
	if u := env("BASE_URL"); u != "" {
		base = append(base, wxrefund.WithBaseURL(u))
	}
	if ca := env("CA_FILE"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("WXPAY_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("WXPAY_CA_FILE: no PEM certificate in " + ca)
		}
		base = append(base, wxrefund.WithRootCAs(pool))
	}
	return wxrefund.NewClient(env("APPID"), env("MCHID"), env("APIKEY"), append(base, opts...)...)
}
