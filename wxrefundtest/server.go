package wxrefundtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-wxpay/wxrefund"
)

// Default credentials of a Server. They are fixed, obviously fake values so
// that failures in logs are easy to recognise; the AppID and merchant id are
// those of the WeChat Pay documentation samples.
const (
	DefaultAppID  = "wx8888888888888888"
	DefaultMchID  = "1900000109"
	DefaultAPIKey = "wxrefundtestFakeAPIKey0123456789" // 32 characters, like a real API v2 key
)

// DefaultAddr is the address a Server listens on unless WithAddr is given: a
// free port on the loopback interface.
const DefaultAddr = "127.0.0.1:0"

// ErrClosed is returned by Server methods called after Close that would
// need to start work.
var ErrClosed = errors.New("wxrefundtest: server closed")

// DefaultNotifySchedule returns the delays between deliveries of a refund
// notification that WeChat Pay documents today (15s, 15s, 30s, 3m, 10m, 20m,
// 30m, 30m, 30m, 60m, 3h, 3h, 3h, 6h, 6h; about 24h4m in all): the first
// delivery is immediate, each delay precedes one redelivery. Tests usually
// compress it with WithNotifySchedule.
func DefaultNotifySchedule() []time.Duration {
	const s, m, h = time.Second, time.Minute, time.Hour
	return []time.Duration{15 * s, 15 * s, 30 * s, 3 * m, 10 * m, 20 * m, 30 * m, 30 * m, 30 * m, 60 * m, 3 * h, 3 * h, 3 * h, 6 * h, 6 * h}
}

// Option configures NewServer. Options are applied in order; a bad option
// makes NewServer fail.
type Option func(*config) error

type config struct {
	appID, mchID, apiKey string
	clock                func() time.Time
	autoComplete         time.Duration // < 0: off
	schedule             []time.Duration
	balance              int64
	addr, backupAddr     string
	notifyClient         *http.Client
	notifyURL            string
	partner              bool                // WithPartner, WithSubMerchant
	subMerchants         map[string][]string // sub_mch_id -> the sub_appids bound to it
	billLayout           BillLayout
}

// WithCredentials sets the AppID, merchant id and API v2 key the Server
// accepts (and signs its responses with). The key must be 32 characters.
func WithCredentials(appID, mchID, apiKey string) Option {
	return func(c *config) error {
		switch {
		case appID == "" || mchID == "":
			return errors.New("wxrefundtest: WithCredentials: appID and mchID must not be empty")
		case !validText(appID) || !validText(mchID) || len(appID) > 32 || len(mchID) > 32:
			return errors.New("wxrefundtest: WithCredentials: appID and mchID must be at most 32 valid characters")
		case len(apiKey) != 32:
			return fmt.Errorf("wxrefundtest: WithCredentials: the API key must be 32 characters, got %d", len(apiKey))
		}
		c.appID, c.mchID, c.apiKey = appID, mchID, apiKey
		return nil
	}
}

// WithClock makes the Server read the time from now instead of time.Now: it
// stamps orders (Order.PaidAt when zero), refunds, success times and
// deliveries with it, and decides TRADE_OVERDUE (orders paid more than a year
// ago) by it. Timers (WithAutoComplete, WithNotifySchedule) still run on real
// time. now is called with the Server's lock held, so it must not call the
// Server.
func WithClock(now func() time.Time) Option {
	return func(c *config) error {
		if now == nil {
			return errors.New("wxrefundtest: WithClock(nil)")
		}
		c.clock = now
		return nil
	}
}

// WithAutoComplete makes every new refund complete with status SUCCESS, and
// send its notification, after the real-time delay d (0: as soon as the
// refund was accepted). Without it refunds stay PROCESSING until Complete.
func WithAutoComplete(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("wxrefundtest: WithAutoComplete(%v): want a delay >= 0", d)
		}
		c.autoComplete = d
		return nil
	}
}

// WithNotifySchedule sets the real-time delays before each redelivery of a
// notification whose delivery failed; the first delivery is always
// immediate, so a notification is delivered at most len(delays)+1 times. No
// delays means a single delivery. The default is DefaultNotifySchedule.
func WithNotifySchedule(delays ...time.Duration) Option {
	return func(c *config) error {
		for _, d := range delays {
			if d < 0 {
				return fmt.Errorf("wxrefundtest: WithNotifySchedule: negative delay %v", d)
			}
		}
		c.schedule = append([]time.Duration(nil), delays...)
		return nil
	}
}

// WithBalance sets the merchant's refundable balance in fen. Each accepted
// refund takes its cash part from it (a closed refund gives it back); a
// refund whose cash part exceeds it fails with NOTENOUGH. The default is
// effectively unlimited. See also Server.SetBalance.
func WithBalance(fen int64) Option {
	return func(c *config) error {
		if fen < 0 {
			return fmt.Errorf("wxrefundtest: WithBalance(%d): want a balance >= 0", fen)
		}
		c.balance = fen
		return nil
	}
}

// WithAddr sets the TCP address to listen on, such as "127.0.0.1:8443" for a
// standalone fake at a fixed address. The default is DefaultAddr. A host
// name or IP in addr is added to the server certificate.
func WithAddr(addr string) Option {
	return func(c *config) error {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("wxrefundtest: WithAddr(%q): %w", addr, err)
		}
		c.addr = addr
		return nil
	}
}

// WithBackupAddr sets the TCP address of the backup domain (BackupURL), such
// as "127.0.0.1:8444". The default is a free port on WithAddr's host. A host
// name or IP in addr is added to the server certificate.
func WithBackupAddr(addr string) Option {
	return func(c *config) error {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return fmt.Errorf("wxrefundtest: WithBackupAddr(%q): %w", addr, err)
		}
		c.backupAddr = addr
		return nil
	}
}

// WithNotifyClient sets the HTTP client that delivers notifications, for
// notify URLs served with certificates the system does not trust (pass
// httptest.Server.Client(), say). The default trusts the system roots and
// times out after 10 seconds. Redirects are never followed: like WeChat Pay,
// the Server counts them as failed deliveries.
func WithNotifyClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return errors.New("wxrefundtest: WithNotifyClient(nil)")
		}
		c.notifyClient = hc
		return nil
	}
}

// WithNotifyURL sets the notify URL of refunds whose request has no
// notify_url, like the URL configured on the merchant platform. Without it
// such refunds send no notification.
func WithNotifyURL(u string) Option {
	return func(c *config) error {
		if !validNotifyURL(u) {
			return fmt.Errorf("wxrefundtest: WithNotifyURL(%q): want an absolute http(s) URL without query", u)
		}
		c.notifyURL = u
		return nil
	}
}

func validNotifyURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		!strings.ContainsAny(s, "?#") && len(s) <= 256
}

// Server is a stateful fake of the WeChat Pay API v2 refund endpoints: it
// serves /secapi/pay/refund (mutual TLS), /pay/refundquery and the refund
// bill of /pay/downloadbill over HTTPS, keeps orders and refunds in memory,
// sends encrypted refund notifications and offers a JSON admin API under
// /fake/. It acts as a direct merchant, or as a service provider with
// sub-merchants (WithPartner). Create it with NewServer and stop it with
// Close. A Server is safe for concurrent use; it never holds its lock while
// talking to the network.
//
// It checks signatures (MD5 or HMAC-SHA256), signs every answer, enforces
// the business rules (order totals, refundable amounts, 50 refunds per
// order, the one-year refund window, the merchant balance, out_refund_no
// idempotency), splits refunds of coupon orders into cash and coupon
// parts, pages refund queries, and delivers notifications until the
// merchant acknowledges them.
//
// The fake answers like WeChat Pay's documentation and observed behaviour:
//
//   - unsigned return_code FAIL for requests refused before any business
//     logic: malformed XML ("XML格式错误"), a missing or wrong sign
//     ("签名错误"), an unknown sign_type, and a missing or malformed field
//     such as "invalid refund_fee" (also when refund_fee exceeds total_fee);
//   - HTTP 400 with nginx's "400 No required SSL certificate was sent" page
//     for /secapi/pay/refund without a client certificate, and HTTP 413 for
//     bodies over 64 KiB;
//   - a signed result_code FAIL with an err_code for everything else:
//     REQUIRE_POST_METHOD, MCHID_NOT_EXIST, APPID_NOT_EXIST, PARAM_ERROR (no
//     order id; a refund_fee_type other than CNY; a query without an id, with
//     a bad offset or one past the last refund), ORDERNOTEXIST,
//     INVALID_REQUEST (total_fee not the order's total; refund_fee above what
//     is left; a 51st refund; an out_refund_no already used on another
//     order), ERROR (the order is fully refunded), TRADE_OVERDUE, NOTENOUGH,
//     REFUND_FEE_MISMATCH, REFUNDNOTEXIST, and whatever FailNext and
//     LoseNext inject;
//   - no answer at all, the connection closed (HTTP/1) or the stream reset
//     (HTTP/2), for an accepted refund whose answer LoseNext("", n) drops;
//   - before any of this, what FaultNext queued for the request's domain
//     and path, and nothing at all from a domain TakeDown took away.
//
// A bill download that fails is answered, never gzipped, with an unsigned
// <xml> of return_code FAIL, return_msg and error_code: "No Bill Exist"
// (20002) for a day without refunds, and with error_code 20001 "invalid
// bill_date", "invalid bill_type", "invalid tar_type, Only GZIP supported",
// "missing parameter", "nonce_str too long", "SIGN ERROR", "data format
// error", "empty post data", "require POST method", "invalid appid",
// "invalid mch_id" and "invalid sign_type" (the last two are the fake's own
// words), the sub-merchant messages of WithPartner, and the unsupported
// bill types; or with what FailNextBill injects.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4,
// chapter=9_5, chapter=9_16 and chapter=9_6.
type Server struct {
	cfg     config
	pki     *pki
	mux     http.Handler // the endpoints, whatever the domain
	handler http.Handler // mux as DomainPrimary: Handler

	domains [2]*listener // DomainPrimary, DomainBackup

	consoleToken string // hidden in every console form; see serveConsole

	ctx    context.Context // cancelled by Close; bounds deliveries
	cancel context.CancelFunc
	wg     sync.WaitGroup // deliveries and auto-completion timers
	once   sync.Once

	mu         sync.Mutex
	closed     bool
	balance    int64
	seq        uint64
	orders     map[string]*order // by out_trade_no
	ordersTxn  map[string]*order // by transaction_id
	refunds    map[string]*refund
	refundIDs  map[string]*refund
	failures   map[string]injections[string]  // path -> FailNext's queue
	losses     injections[string]             // LoseNext's queue
	faults     map[faultKey]injections[Fault] // FaultNext's queues
	requests   []Request
	deliveries []Delivery
	timers     map[*time.Timer]struct{}
	changed    chan struct{} // closed and replaced on every change: see waitFor

	subAppIDs    map[string]map[string]bool       // partner mode: sub_mch_id -> bound sub_appids, with those of its orders
	ledger       []*refund                        // every refund, in the order it was accepted
	bills        map[string]func(io.Writer) error // bill_date (yyyyMMdd) -> SetBill's body
	billFailures injections[billFailure]          // FailNextBill's queue
}

// NewServer starts a fake WeChat Pay server on a fresh CA and certificates,
// listening with HTTPS on DefaultAddr (or WithAddr's address). The server
// certificate is issued for 127.0.0.1, ::1, localhost and the host of
// WithAddr. Client certificates are verified when sent (TLS
// VerifyClientCertIfGiven); /secapi/ paths refuse requests without one.
//
// Call Close when done, typically with t.Cleanup(s.Close).
func NewServer(opts ...Option) (*Server, error) {
	cfg := config{
		appID:        DefaultAppID,
		mchID:        DefaultMchID,
		apiKey:       DefaultAPIKey,
		clock:        time.Now,
		autoComplete: -1,
		schedule:     DefaultNotifySchedule(),
		balance:      math.MaxInt64,
		addr:         DefaultAddr,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.notifyClient == nil {
		cfg.notifyClient = &http.Client{Timeout: 10 * time.Second}
	}
	// Never follow redirects, without modifying the caller's client.
	nc := *cfg.notifyClient
	nc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cfg.notifyClient = &nc

	if cfg.backupAddr == "" {
		h, _, _ := net.SplitHostPort(cfg.addr)
		cfg.backupAddr = net.JoinHostPort(h, "0")
	}
	hosts := []string{"127.0.0.1", "::1", "localhost"}
	for _, addr := range []string{cfg.addr, cfg.backupAddr} {
		if h, _, _ := net.SplitHostPort(addr); h != "" && !isUnspecified(h) && !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	p, err := newPKI(cfg.mchID, hosts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("wxrefundtest: listen: %w", err)
	}
	ln2, err := net.Listen("tcp", cfg.backupAddr)
	if err != nil {
		_ = ln.Close() // unused: the listen error is the one to report
		return nil, fmt.Errorf("wxrefundtest: listen (backup): %w", err)
	}

	s := &Server{
		cfg:       cfg,
		pki:       p,
		balance:   cfg.balance,
		orders:    make(map[string]*order),
		ordersTxn: make(map[string]*order),
		refunds:   make(map[string]*refund),
		refundIDs: make(map[string]*refund),
		failures:  make(map[string]injections[string]),
		faults:    make(map[faultKey]injections[Fault]),
		timers:    make(map[*time.Timer]struct{}),
		subAppIDs: make(map[string]map[string]bool),
		bills:     make(map[string]func(io.Writer) error),
		changed:   make(chan struct{}),

		consoleToken: newConsoleToken(),
	}
	for sub, apps := range cfg.subMerchants {
		s.subAppIDs[sub] = make(map[string]bool)
		for _, a := range apps {
			s.subAppIDs[sub][a] = true
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mux = s.newMux()
	s.handler = s.domainHandler(DomainPrimary)
	for i, l := range []net.Listener{ln, ln2} {
		addr := l.Addr().(*net.TCPAddr)
		s.domains[i] = &listener{
			domain: [...]Domain{DomainPrimary, DomainBackup}[i],
			addr:   addr.String(),
			url:    "https://" + urlHost(addr),
		}
		s.startListener(s.domains[i], l)
	}
	return s, nil
}

func isUnspecified(h string) bool {
	ip := net.ParseIP(h)
	return ip != nil && ip.IsUnspecified()
}

// urlHost is the host:port clients should dial: the listener's address, with
// an unspecified IP (listening on all interfaces) replaced by 127.0.0.1.
func urlHost(a *net.TCPAddr) string {
	ip := a.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(a.Port))
}

// Close stops the server: it closes the listener and open connections,
// cancels pending automatic completions and notification deliveries
// (including one in flight), and waits for them to end. Close is idempotent.
func (s *Server) Close() {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		for t := range s.timers {
			if t.Stop() {
				s.wg.Done() // the timer's function will not run
			}
		}
		clear(s.timers)
		s.changedLocked() // waiters see closed
		s.mu.Unlock()
		s.cancel()
		for _, l := range s.domains {
			l.stop()
		}
		s.wg.Wait()
	})
}

// URL returns the base URL of the server's primary domain, such as
// "https://127.0.0.1:41234", for wxrefund.WithBaseURL. BackupURL is the
// other domain.
func (s *Server) URL() string { return s.domains[0].url }

// Credentials returns the AppID, merchant id and API key the server accepts.
func (s *Server) Credentials() (appID, mchID, apiKey string) {
	return s.cfg.appID, s.cfg.mchID, s.cfg.apiKey
}

// RootCAs returns a pool holding the fake CA. Trust it to reach the server;
// it is a fresh pool on each call, so callers may add to it.
func (s *Server) RootCAs() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(s.pki.caCert)
	return pool
}

// CACertPEM returns the fake CA's certificate in PEM form, for clients that
// are not written in Go (curl --cacert, say).
func (s *Server) CACertPEM() []byte { return clone(s.pki.caPEM) }

// MerchantCertPEM returns the merchant client certificate the server accepts
// on /secapi/ paths and its private key (PKCS#8), in the PEM form of
// apiclient_cert.pem and apiclient_key.pem. The certificate is signed by the
// fake CA and its common name is the merchant id.
func (s *Server) MerchantCertPEM() (certPEM, keyPEM []byte) {
	return clone(s.pki.mchPEM), clone(s.pki.mchKey)
}

// ClientOptions returns the options that point a wxrefund.Client at this
// server: WithBaseURL(URL), WithRootCAs(RootCAs) and WithPEM with the
// merchant certificate. Use them with Credentials:
//
//	appID, mchID, key := s.Credentials()
//	c, err := wxrefund.NewClient(appID, mchID, key, s.ClientOptions()...)
//
// They set no failover; add wxrefund.WithFailover(s.BackupURL()) for one
// (see BackupURL).
func (s *Server) ClientOptions() []wxrefund.Option {
	cert, key := s.MerchantCertPEM()
	return []wxrefund.Option{
		wxrefund.WithBaseURL(s.URL()),
		wxrefund.WithRootCAs(s.RootCAs()),
		wxrefund.WithPEM(cert, key),
	}
}

// TLSConfig returns a copy of the server's TLS configuration: its
// certificate, TLS 1.2 as the minimum, and client certificates verified
// against the fake CA when sent (tls.VerifyClientCertIfGiven). Use it to
// serve Handler on a listener of your own.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{s.pki.server},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    s.pki.pool,
	}
}

// Handler returns the server's HTTP handler: the protocol endpoints
// PathRefund, PathRefundQuery and PathDownloadBill plus a JSON admin API
// under /fake/. It is
// the handler the Server itself serves. Served elsewhere it needs TLS with
// TLSConfig for PathRefund, which looks at the request's peer certificates.
//
// The admin API lets programs that are not written in Go, or that run the
// fake as a separate process, drive the Server without a client
// certificate. Bodies and answers are JSON with the snake_case field names
// of Order, RefundState and Delivery; errors are {"error": "..."} with 400
// for bad input, 404 for an unknown path, 405 for a wrong method and 502
// when a redelivery was not acknowledged.
//
//	POST /fake/orders                    an Order (with sub_mch_id in partner mode); answers the stored Order (201)
//	GET  /fake/refunds?out_trade_no=...  the order's refunds, []RefundState
//	POST /fake/refunds/complete          {"out_refund_no", "status"}; answers the RefundState
//	POST /fake/refunds/redeliver         {"out_refund_no"}; answers the Delivery
//	GET  /fake/deliveries                every []Delivery
//	POST /fake/fail                      {"path", "err_code", "times"}, as FailNext
//	POST /fake/lose                      {"err_code", "times"}, as LoseNext ("" drops the connection)
//	POST /fake/faults                    {"domain", "path", "fault", "delay_ms", "times"}, as FaultNext; fault is
//	                                     500, 502, 503, 504, no_certificate, certificate_error, reset or delay
//	POST /fake/faults/clear              as ClearFaults
//	GET  /fake/domains                   [{"domain", "url", "down"}] for api and api2
//	POST /fake/domains                   {"domain", "down"}, as TakeDown (true) or BringUp (false)
//	GET  /fake/requests                  every []Request
//	GET  /fake/balance                   {"balance"}
//	POST /fake/balance                   {"balance"}, as SetBalance
//	POST /fake/bills/fail                {"return_msg", "error_code", "times"}, as FailNextBill
//	POST /fake/bills/synthetic           {"bill_date": "20240603", "rows"}, as SetBill with SyntheticRefundBill (rows 0 removes it)
//
// PathConsole (see ConsoleURL) serves a web console for people: an HTML page
// of the orders, refunds, notification deliveries, balance and queued
// failures, with plain HTML forms that add an order, complete a refund,
// redeliver a notification, queue FailNext, LoseNext or FaultNext, take a
// domain down or up, clear the queues and set the balance
// through the same code as the admin API, answering 303 See Other back to
// the page. Its forms are POST only and carry a random per-Server token;
// a form posted from another origin (by its Origin or Sec-Fetch-Site
// header) or without the token is refused with 403. It is a test double's
// console: it has no login, so serve it on a loopback address only.
func (s *Server) Handler() http.Handler { return s.handler }

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// now reads the configured clock.
func (s *Server) now() time.Time { return s.cfg.clock() }
