package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-wxpay/wxrefund"
)

const configHelp = `Configuration, each from its flag, else its environment variable, else the
configuration file (-config, or $WXREFUND_CONFIG, or ~/.config/wxrefund/config:
lines NAME=value with the variables' names):
  -appid         WXPAY_APPID         AppID bound to the merchant
  -mchid         WXPAY_MCHID         merchant id (mch_id)
  -api-key-file  WXPAY_APIKEY_FILE   a file holding the 32-character API v2 key;
                 WXPAY_APIKEY        or the key itself (never a flag)
  -cert, -key    WXPAY_CERT_FILE, WXPAY_KEY_FILE   apiclient_cert.pem, apiclient_key.pem
  -p12           WXPAY_P12_FILE      or apiclient_cert.p12 (WXPAY_P12_PASSWORD, default the mch_id)
  -base-url      WXPAY_BASE_URL      default https://api.mch.weixin.qq.com (a fake: its base_url)
  -ca            WXPAY_CA_FILE       PEM roots that verify the server (default: the system's)
  -sub-mch-id    WXPAY_SUB_MCH_ID    service-provider mode: the sub-merchant
Output: tables for people; -json for scripts (field names as in the Go SDK).
`

// config is the merchant's configuration, resolved from flags, the
// environment and the configuration file.
type config struct {
	appID, mchID, apiKey       string
	certFile, keyFile, p12File string
	p12Password                string
	baseURL, caFile, subMchID  string
	json                       bool
	timeout, retryPause        time.Duration
}

// retry is how commands send a request again: what IsRetryable allows,
// three attempts in all, pausing from -retry-pause.
func (c *config) retry() wxrefund.Option {
	return wxrefund.WithRetry(wxrefund.RetryPolicy{MaxAttempts: 3, BaseDelay: c.retryPause, MaxDelay: 10 * time.Second})
}

// configFlags are the flags every command takes; values are read after
// parsing.
type configFlags struct {
	appID, mchID, apiKeyFile, cert, key, p12, baseURL, ca, subMchID, config *string
	json                                                                    *bool
	timeout, retryPause                                                     *time.Duration
}

// newFlagSet returns a FlagSet for command c, with the configuration flags.
func (a *app) newFlagSet(name, synopsis string) (*flag.FlagSet, *configFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	cf := &configFlags{
		appID:      fs.String("appid", "", "AppID (WXPAY_APPID)"),
		mchID:      fs.String("mchid", "", "merchant id, mch_id (WXPAY_MCHID)"),
		apiKeyFile: fs.String("api-key-file", "", "file holding the API v2 key (WXPAY_APIKEY_FILE, or WXPAY_APIKEY)"),
		cert:       fs.String("cert", "", "apiclient_cert.pem (WXPAY_CERT_FILE)"),
		key:        fs.String("key", "", "apiclient_key.pem (WXPAY_KEY_FILE)"),
		p12:        fs.String("p12", "", "apiclient_cert.p12 (WXPAY_P12_FILE; password WXPAY_P12_PASSWORD)"),
		baseURL:    fs.String("base-url", "", "API base URL (WXPAY_BASE_URL)"),
		ca:         fs.String("ca", "", "PEM roots for the server (WXPAY_CA_FILE)"),
		subMchID:   fs.String("sub-mch-id", "", "service-provider mode: the sub-merchant (WXPAY_SUB_MCH_ID)"),
		config:     fs.String("config", "", "configuration file (WXREFUND_CONFIG)"),
		json:       fs.Bool("json", false, "JSON output for scripts"),
		timeout:    fs.Duration("timeout", 2*time.Minute, "bound on the whole command's calls to WeChat Pay"),
		retryPause: fs.Duration("retry-pause", time.Second, "first pause before sending a request again (it grows, to 10s)"),
	}
	fs.Usage = func() {
		_, _ = fmt.Fprintf(fs.Output(), "usage: wxrefund %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
		_, _ = fmt.Fprint(fs.Output(), "\n"+exitHelp)
	}
	return fs, cf
}

// parse parses args into fs, turning flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return &exitError{code: exitOK, msg: "help"}
		}
		return usageErr("%v (run \"wxrefund help %s\")", err, fs.Name())
	}
	return nil
}

// resolve reads the configuration: flags, then environment, then file.
func (a *app) resolve(cf *configFlags) (*config, error) {
	file, err := a.configFile(*cf.config)
	if err != nil {
		return nil, err
	}
	get := func(flagValue, name string) string {
		switch {
		case flagValue != "":
			return flagValue
		case a.env(name) != "":
			return a.env(name)
		}
		return file[name]
	}
	c := &config{
		appID: get(*cf.appID, "WXPAY_APPID"), mchID: get(*cf.mchID, "WXPAY_MCHID"),
		p12Password: get("", "WXPAY_P12_PASSWORD"),
		baseURL:     get(*cf.baseURL, "WXPAY_BASE_URL"), caFile: get(*cf.ca, "WXPAY_CA_FILE"),
		subMchID: get(*cf.subMchID, "WXPAY_SUB_MCH_ID"), json: *cf.json, timeout: *cf.timeout,
		retryPause: *cf.retryPause,
	}
	if c.retryPause <= 0 {
		return nil, usageErr("-retry-pause %v: want a positive duration", c.retryPause)
	}
	if c.timeout <= 0 {
		return nil, usageErr("-timeout %v: want a positive duration", c.timeout)
	}
	// The certificate comes whole from one level: flags, else the
	// environment, else the file, so that a flag is never mixed with, or
	// overridden by, a certificate named elsewhere.
	for _, level := range []func(string) string{
		func(name string) string {
			return map[string]string{"WXPAY_CERT_FILE": *cf.cert, "WXPAY_KEY_FILE": *cf.key, "WXPAY_P12_FILE": *cf.p12}[name]
		},
		a.env,
		func(name string) string { return file[name] },
	} {
		cert, key, p12 := level("WXPAY_CERT_FILE"), level("WXPAY_KEY_FILE"), level("WXPAY_P12_FILE")
		if cert != "" || key != "" || p12 != "" {
			c.certFile, c.keyFile, c.p12File = cert, key, p12
			break
		}
	}
	if c.p12File != "" && (c.certFile != "" || c.keyFile != "") {
		return nil, failf(exitConfig, "both a PEM certificate (-cert/-key, WXPAY_CERT_FILE/WXPAY_KEY_FILE) and a .p12 (-p12, WXPAY_P12_FILE) are set at one level: give one")
	}
	switch keyFile := get(*cf.apiKeyFile, "WXPAY_APIKEY_FILE"); {
	case *cf.apiKeyFile != "" || (keyFile != "" && a.env("WXPAY_APIKEY") == ""):
		b, err := os.ReadFile(keyFile)
		if err != nil {
			// Not the path: someone may have given the key itself.
			why := "cannot read it"
			if errors.Is(err, fs.ErrNotExist) {
				why = "no such file (give the path of a file that holds the key, not the key)"
			}
			return nil, failf(exitConfig, "the API key file of -api-key-file or WXPAY_APIKEY_FILE: %s", why)
		}
		c.apiKey = strings.TrimSpace(string(b))
	default:
		c.apiKey = get("", "WXPAY_APIKEY")
	}
	return c, nil
}

// configFile reads the configuration file: path, else $WXREFUND_CONFIG,
// else ~/.config/wxrefund/config if it exists.
func (a *app) configFile(path string) (map[string]string, error) {
	explicit := path != ""
	if path == "" {
		path = a.env("WXREFUND_CONFIG")
		explicit = path != ""
	}
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, nil
		}
		path = filepath.Join(home, ".config", "wxrefund", "config")
	}
	f, err := os.Open(path)
	switch {
	case err != nil && !explicit && errors.Is(err, os.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, failf(exitConfig, "cannot read the configuration file (-config or WXREFUND_CONFIG): %v", err)
	}
	defer func() { _ = f.Close() }()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, failf(exitConfig, "configuration file %s, line %d: want NAME=value", path, n)
		}
		out[strings.TrimSpace(name)] = strings.Trim(strings.TrimSpace(value), `"'`)
	}
	if err := sc.Err(); err != nil {
		return nil, failf(exitConfig, "configuration file %s: %v", path, err)
	}
	return out, nil
}

// client builds the Client; needCert: the command makes refunds.
func (c *config) client(needCert bool, opts ...wxrefund.Option) (*wxrefund.Client, error) {
	var missing []string
	if c.appID == "" {
		missing = append(missing, "-appid or WXPAY_APPID")
	}
	if c.mchID == "" {
		missing = append(missing, "-mchid or WXPAY_MCHID")
	}
	if c.apiKey == "" {
		missing = append(missing, "WXPAY_APIKEY or -api-key-file")
	}
	if needCert && c.p12File == "" && (c.certFile == "" || c.keyFile == "") {
		missing = append(missing, "-cert and -key (WXPAY_CERT_FILE, WXPAY_KEY_FILE) or -p12 (WXPAY_P12_FILE)")
	}
	if len(missing) > 0 {
		return nil, failf(exitConfig, "missing %s (run \"wxrefund help\" for the configuration)", strings.Join(missing, ", "))
	}
	var base []wxrefund.Option
	switch {
	case c.p12File != "":
		base = append(base, wxrefund.WithPKCS12File(c.p12File, c.p12Password))
	case c.certFile != "" && c.keyFile != "":
		base = append(base, wxrefund.WithPEMFiles(c.certFile, c.keyFile))
	}
	if c.baseURL != "" {
		base = append(base, wxrefund.WithBaseURL(c.baseURL))
	}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, failf(exitConfig, "cannot read the CA file (-ca or WXPAY_CA_FILE): %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, failf(exitConfig, "no PEM certificate in the CA file %s (-ca or WXPAY_CA_FILE)", c.caFile)
		}
		base = append(base, wxrefund.WithRootCAs(pool))
	}
	cl, err := wxrefund.NewClient(c.appID, c.mchID, c.apiKey, append(base, opts...)...)
	if err != nil {
		return nil, &exitError{code: exitConfig, err: err, msg: configHint(err)}
	}
	return cl, nil
}

// configHint is NewClient's error with the flag or variable to fix.
func configHint(err error) string {
	msg := strings.TrimPrefix(err.Error(), "wxrefund: ")
	switch {
	case errors.Is(err, wxrefund.ErrCertificate):
		return msg + " (check -cert/-key or -p12, WXPAY_CERT_FILE/WXPAY_KEY_FILE or WXPAY_P12_FILE)"
	case strings.Contains(msg, "API key"):
		return msg + " (check WXPAY_APIKEY or the file of -api-key-file)"
	case strings.Contains(msg, "WithBaseURL"):
		return msg + " (check -base-url or WXPAY_BASE_URL)"
	}
	return msg + " (check -appid, -mchid and the certificate)"
}

// ctx returns the command's context, bounded by -timeout.
func (a *app) callContext(c *config) (context.Context, context.CancelFunc) {
	return context.WithTimeout(a.ctx, c.timeout)
}

// sdkError turns an SDK error into one line with what to do, and the exit
// code Classify implies.
func sdkError(err error) *exitError {
	msg := strings.TrimPrefix(err.Error(), "wxrefund: ")
	switch wxrefund.Classify(err) {
	case wxrefund.FixRequest:
		return &exitError{code: exitUsage, err: err, msg: msg + " (fix the flag or CSV field it names)"}
	case wxrefund.FixConfiguration:
		return &exitError{code: exitConfig, err: err, msg: msg + " (fix the credentials or certificate; run \"wxrefund cert\" to check the certificate)"}
	case wxrefund.SendLater:
		return &exitError{code: exitUnknown, err: err, msg: msg + " (nothing was sent: run the same command again)"}
	case wxrefund.SendAgain:
		return &exitError{code: exitUnknown, err: err, msg: msg + " (run the same command again later; for a refund, \"wxrefund resolve\" with the same out_refund_no and amounts settles it)"}
	}
	return &exitError{code: exitFailed, err: err, msg: msg}
}

// isTerminal reports whether f is a terminal (a character device).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// printJSON writes v as one line of JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// table writes rows under headers, aligned, to standard output.
func (a *app) table(headers []string, rows [][]string) {
	widths := make([]int, len(headers))
	for i, h := range headers {
		widths[i] = displayWidth(h)
	}
	for _, r := range rows {
		for i, v := range r {
			widths[i] = max(widths[i], displayWidth(v))
		}
	}
	line := func(cells []string) {
		var b strings.Builder
		for i, v := range cells {
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(v)
			if i < len(cells)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-displayWidth(v)))
			}
		}
		a.printf("%s\n", b.String())
	}
	line(headers)
	for _, r := range rows {
		line(r)
	}
}

// displayWidth counts CJK characters as two columns.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x1100 && (r <= 0x115f || r >= 0x2e80 && r <= 0xa4cf || r >= 0xac00 && r <= 0xd7a3 ||
			r >= 0xf900 && r <= 0xfaff || r >= 0xfe30 && r <= 0xfe4f || r >= 0xff00 && r <= 0xff60 || r >= 0xffe0 && r <= 0xffe6) {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// yuan writes fen as yuan with two decimals: 123 is "1.23".
func yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%d.%02d", sign, fen/100, fen%100)
}
