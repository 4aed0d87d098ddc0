// Command fakeserver runs the wxrefundtest fake WeChat Pay API v2 refund
// server as a standalone simulator, for clients written in any language.
//
//	go run ./examples/fakeserver -addr 127.0.0.1:8443 -dir ./fake-certs
//
// It writes the fake CA certificate and the merchant client certificate and
// key to -dir (ca.pem, apiclient_cert.pem, apiclient_key.pem), prints exactly
// one JSON line to stdout once it accepts connections:
//
//	{"base_url":"https://127.0.0.1:8443","backup_url":"https://127.0.0.1:8444","appid":"wx8888888888888888","mch_id":"1900000109","api_key":"...","ca":"/abs/ca.pem","cert":"/abs/apiclient_cert.pem","key":"/abs/apiclient_key.pem","console_url":"https://127.0.0.1:8443/fake/console"}
//
// and serves /secapi/pay/refund (mutual TLS), /pay/refundquery, the refund
// bill of /pay/downloadbill, the JSON admin API under /fake/ and a web
// console for browsers at console_url until it gets SIGINT or SIGTERM. It
// serves them twice, on two ports sharing one ledger, as WeChat Pay serves
// api.mch.weixin.qq.com and its backup api2.mch.weixin.qq.com: base_url and
// backup_url (-backup-addr; default a free port on -addr's host). Logs go
// to stderr. With -partner it is a service provider (服务商) serving those
// sub-merchants, and the JSON line also has "sub_mch_ids". See README.md in this directory for a walkthrough with curl
// and openssl, and demo.sh for the same walkthrough as a script.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second signal kills the process the usual way
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		os.Exit(2) // the flag set already printed the problem and the usage
	default:
		fmt.Fprintln(os.Stderr, "fakeserver:", err)
		os.Exit(1)
	}
}

// usageError is a bad command line; the usage has been printed.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// announcement is the JSON line printed on stdout once the server is ready.
type announcement struct {
	BaseURL   string `json:"base_url"`   // the primary domain ("api")
	BackupURL string `json:"backup_url"` // the backup domain ("api2"): the same ledger
	AppID     string `json:"appid"`
	MchID     string `json:"mch_id"`
	APIKey    string `json:"api_key"`
	CA        string `json:"ca"`   // absolute path of ca.pem
	Cert      string `json:"cert"` // absolute path of apiclient_cert.pem
	Key       string `json:"key"`  // absolute path of apiclient_key.pem

	ConsoleURL string `json:"console_url"` // the web console, for a browser

	SubMchIDs []string `json:"sub_mch_ids,omitempty"` // -partner: the sub-merchants served
}

// The files written to -dir.
const (
	caFile   = "ca.pem"
	certFile = "apiclient_cert.pem"
	keyFile  = "apiclient_key.pem"
)

// run is the whole program: it parses args, starts the server, writes the
// certificate files, prints the announcement to stdout and serves until ctx
// is cancelled, then closes the server and returns nil.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fakeserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8443", "`host:port` to listen on (port 0: a free port; see base_url)")
	backupAddr := fs.String("backup-addr", "", "`host:port` of the backup domain, the same ledger as -addr (empty or port 0: a free port on -addr's host; see backup_url)")
	dir := fs.String("dir", "./fake-certs", "`directory` for ca.pem, apiclient_cert.pem and apiclient_key.pem (created if missing)")
	appID := fs.String("appid", wxrefundtest.DefaultAppID, "AppID the server accepts")
	mchID := fs.String("mchid", wxrefundtest.DefaultMchID, "merchant id (mch_id) the server accepts")
	apiKey := fs.String("apikey", wxrefundtest.DefaultAPIKey, "API v2 key (32 characters) for signatures and notification encryption")
	auto := fs.Duration("auto-complete", 0, "complete every new refund with SUCCESS after this `delay` (0: off; refunds stay PROCESSING until POST /fake/refunds/complete)")
	sched := scheduleFlag(wxrefundtest.DefaultNotifySchedule())
	fs.Var(&sched, "notify-schedule", "comma-separated `delays` before each redelivery of an unacknowledged notification (\"none\": deliver once)")
	notifyURL := fs.String("notify-url", "", "the notify `URL` configured on the merchant platform: where notifications of refunds requested without notify_url go (empty: such refunds send none)")
	partner := fs.String("partner", "", "comma-separated `sub_mch_ids`: run as a service provider (服务商) serving these sub-merchants; requests must then carry one of them as sub_mch_id")
	layout := fs.String("bill-layout", "current", "`layout` of the refund bill of /pay/downloadbill: current (29 columns) or legacy (26 columns)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: fakeserver [flags]\n\n"+
			"Runs a fake WeChat Pay API v2 refund server, writes its certificates to -dir and\n"+
			"prints one JSON line (base_url, backup_url, appid, mch_id, api_key, ca, cert, key,\n"+
			"console_url, and sub_mch_ids with -partner) to stdout.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	bad := func(format string, a ...any) error {
		err := fmt.Errorf(format, a...)
		fmt.Fprintln(stderr, err)
		fs.Usage()
		return usageError{err}
	}
	switch {
	case fs.NArg() > 0:
		return bad("unexpected arguments: %q", fs.Args())
	case !validHostPort(*addr):
		return bad("invalid value %q for flag -addr: want host:port", *addr)
	case *backupAddr != "" && !validHostPort(*backupAddr):
		return bad("invalid value %q for flag -backup-addr: want host:port", *backupAddr)
	case *dir == "":
		return bad("invalid value for flag -dir: must not be empty")
	case !validID(*appID, 32):
		return bad("invalid value %q for flag -appid: want 1 to 32 letters, digits, _ or -", *appID)
	case !validID(*mchID, 32):
		return bad("invalid value %q for flag -mchid: want 1 to 32 letters, digits, _ or -", *mchID)
	case len(*apiKey) != 32 || !printable(*apiKey):
		return bad("invalid value for flag -apikey: want 32 printable ASCII characters without spaces, got %d bytes", len(*apiKey))
	case *auto < 0:
		return bad("invalid value %v for flag -auto-complete: must not be negative", *auto)
	case *notifyURL != "" && !validNotifyURL(*notifyURL):
		return bad("invalid value %q for flag -notify-url: want an absolute http or https URL without a query", *notifyURL)
	case *layout != "current" && *layout != "legacy":
		return bad("invalid value %q for flag -bill-layout: want current or legacy", *layout)
	}
	var subs []string
	if *partner != "" {
		for sub := range strings.SplitSeq(*partner, ",") {
			sub = strings.TrimSpace(sub)
			if !validID(sub, 32) {
				return bad("invalid value %q for flag -partner: want sub-merchant ids (1 to 32 letters, digits, _ or -) separated by commas", *partner)
			}
			subs = append(subs, sub)
		}
	}

	logger := log.New(stderr, "fakeserver: ", log.Ltime)
	absDir, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(absDir, 0o755); err != nil {
		return fmt.Errorf("-dir: %w", err)
	}

	opts := []wxrefundtest.Option{
		wxrefundtest.WithAddr(*addr),
		wxrefundtest.WithCredentials(*appID, *mchID, *apiKey),
		wxrefundtest.WithNotifySchedule(sched...),
	}
	if *backupAddr != "" {
		opts = append(opts, wxrefundtest.WithBackupAddr(*backupAddr))
	}
	if *auto > 0 {
		opts = append(opts, wxrefundtest.WithAutoComplete(*auto))
	}
	if *notifyURL != "" {
		opts = append(opts, wxrefundtest.WithNotifyURL(*notifyURL))
	}
	if len(subs) > 0 {
		opts = append(opts, wxrefundtest.WithPartner(subs...))
	}
	if *layout == "legacy" {
		opts = append(opts, wxrefundtest.WithBillLayout(wxrefundtest.BillLayoutLegacy))
	}
	s, err := wxrefundtest.NewServer(opts...)
	if err != nil {
		return err
	}
	defer s.Close()

	certPEM, keyPEM := s.MerchantCertPEM()
	ann := announcement{
		BaseURL:   s.URL(),
		BackupURL: s.BackupURL(),
		CA:        filepath.Join(absDir, caFile),
		Cert:      filepath.Join(absDir, certFile),
		Key:       filepath.Join(absDir, keyFile),

		ConsoleURL: s.ConsoleURL(),
	}
	ann.AppID, ann.MchID, ann.APIKey = s.Credentials()
	ann.SubMchIDs = s.SubMerchants()
	for _, f := range []struct {
		path string
		data []byte
		perm os.FileMode
	}{
		{ann.CA, s.CACertPEM(), 0o644},
		{ann.Cert, certPEM, 0o644},
		{ann.Key, keyPEM, 0o600},
	} {
		if err := writeFile(f.path, f.data, f.perm); err != nil {
			return err
		}
	}

	// One line, no HTML escaping, so that shell scripts can pick values out.
	var line strings.Builder
	enc := json.NewEncoder(&line)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ann); err != nil {
		return err
	}
	if _, err := io.WriteString(stdout, line.String()); err != nil {
		return fmt.Errorf("writing the JSON line to stdout: %w", err)
	}

	logger.Printf("serving %s (apply refund %s needs the client certificate; %s and %s do not)",
		ann.BaseURL, wxrefundtest.PathRefund, wxrefundtest.PathRefundQuery, wxrefundtest.PathDownloadBill)
	logger.Printf("backup domain: %s, the same orders and refunds behind another port (for your client's failover)", ann.BackupURL)
	if len(ann.SubMchIDs) > 0 {
		logger.Printf("partner mode: service provider %s serving sub-merchants %s", ann.MchID, strings.Join(ann.SubMchIDs, ", "))
	}
	logger.Printf("admin API (on both): POST /fake/orders, POST /fake/refunds/complete, GET /fake/deliveries, POST /fake/faults, POST /fake/domains, ...")
	logger.Printf("web console: %s (open it in a browser and accept the fake CA's certificate, or trust ca.pem)", ann.ConsoleURL)
	logger.Printf("certificates in %s; auto-complete %s; notify schedule %s; default notify URL %s; bill layout %s",
		absDir, autoString(*auto), sched.String(), orNone(*notifyURL), *layout)

	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		logEvents(s, logger, done)
	}()

	<-ctx.Done()
	logger.Printf("shutting down")
	close(done) // before Close, whose closed domains are no news
	wg.Wait()
	s.Close()
	return nil
}

// logEvents logs each notification delivery as the server records it, and
// each domain going down or coming up (POST /fake/domains), until done is
// closed.
func logEvents(s *wxrefundtest.Server, logger *log.Logger, done <-chan struct{}) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	seen := 0
	domains := []struct {
		d    wxrefundtest.Domain
		url  string
		down bool
	}{{d: wxrefundtest.DomainPrimary, url: s.URL()}, {d: wxrefundtest.DomainBackup, url: s.BackupURL()}}
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		ds := s.Deliveries()
		for _, d := range ds[seen:] {
			switch {
			case d.Err != "":
				logger.Printf("notification %s attempt %d to %s failed: %s", d.OutRefundNo, d.Attempt, d.URL, d.Err)
			case d.OK():
				logger.Printf("notification %s attempt %d to %s acknowledged", d.OutRefundNo, d.Attempt, d.URL)
			default:
				logger.Printf("notification %s attempt %d to %s not acknowledged: HTTP %d, return_code %q %s",
					d.OutRefundNo, d.Attempt, d.URL, d.StatusCode, d.ReturnCode, d.ReturnMsg)
			}
		}
		seen = len(ds)
		for i := range domains {
			d := &domains[i]
			if down := s.Down(d.d); down != d.down {
				d.down = down
				if down {
					logger.Printf("domain %s (%s) is down: its connections are reset", d.d, d.url)
				} else {
					logger.Printf("domain %s (%s) is up again", d.d, d.url)
				}
			}
		}
	}
}

// writeFile replaces path with data and mode perm: it writes a temporary file
// in the same directory and renames it over path, so a reader never sees a
// half-written file and an old file's looser mode does not survive.
func writeFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp) // best effort: err is the failure to report
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// scheduleFlag is the -notify-schedule value: delays separated by commas.
type scheduleFlag []time.Duration

func (f *scheduleFlag) String() string {
	if f == nil || len(*f) == 0 {
		return "none"
	}
	parts := make([]string, len(*f))
	for i, d := range *f {
		parts[i] = shortDuration(d)
	}
	return strings.Join(parts, ",")
}

func (f *scheduleFlag) Set(v string) error {
	v = strings.TrimSpace(v)
	if v == "" || v == "none" {
		*f = nil
		return nil
	}
	var ds []time.Duration
	for p := range strings.SplitSeq(v, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil {
			return err
		}
		if d < 0 {
			return fmt.Errorf("negative delay %v", d)
		}
		ds = append(ds, d)
	}
	*f = ds
	return nil
}

// shortDuration writes d like time.Duration.String without zero minutes and
// seconds: 3m instead of 3m0s, 6h instead of 6h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func autoString(d time.Duration) string {
	if d == 0 {
		return "off"
	}
	return "after " + shortDuration(d)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// validNotifyURL reports whether s is an absolute http or https URL without
// a query or fragment, at most 256 characters: what WeChat Pay accepts as a
// notify URL.
func validNotifyURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		!strings.ContainsAny(s, "?#") && len(s) <= 256
}

func validHostPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port != ""
}

// validID reports whether s is 1 to max letters, digits, '_' or '-'.
func validID(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// printable reports whether s is printable ASCII without spaces.
func printable(s string) bool {
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}
