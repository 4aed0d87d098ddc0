package wxrefundtest

import (
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-wxpay/wxrefund"
)

// PathConsole is where a Server serves its web console: an HTML page that
// shows the orders, refunds and notification deliveries the Server holds,
// with forms that drive it like the JSON admin API. See Server.Handler.
const PathConsole = "/fake/console"

// ConsoleURL returns the address of the Server's web console, URL followed
// by PathConsole. Open it in a browser; it needs no client certificate.
func (s *Server) ConsoleURL() string { return s.URL() + PathConsole }

//go:embed console.html
var consoleFiles embed.FS

var consoleTmpl = template.Must(template.New("console.html").Funcs(template.FuncMap{
	"fen":    formatFen,
	"cst":    formatCST,
	"domain": domainLabel,
}).ParseFS(consoleFiles, "console.html"))

// newConsoleToken returns the random token that every console form carries
// and every console action checks.
func newConsoleToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b)
}

// formatFen writes an amount as "2000 fen (20.00 CNY)".
func formatFen(fen int64) string {
	if fen == math.MaxInt64 {
		return "unlimited"
	}
	sign, abs := "", fen
	if fen < 0 {
		sign, abs = "-", -fen
	}
	return fmt.Sprintf("%d fen (%s%d.%02d CNY)", fen, sign, abs/100, abs%100)
}

// formatCST writes a time in China Standard Time, or "—" for the zero time.
func formatCST(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(chinaTime).Format("2006-01-02 15:04:05") + " CST"
}

// domainLabel names a Domain for people: DomainAny is "either domain".
func domainLabel(d Domain) string {
	if d == DomainAny {
		return "either domain"
	}
	return string(d)
}

// consoleRequests is how many of the latest requests the console lists.
const consoleRequests = 20

// consolePage is what console.html renders.
type consolePage struct {
	Token        string
	Nonce        string // of the inline refresh script (Content-Security-Policy)
	Notice       string // the outcome of the last action, from the redirect
	Problem      string // the error of the last action, from the redirect
	AppID        string
	MchID        string
	Partner      bool
	SubMchIDs    []string
	Balance      int64
	Orders       []consoleOrder
	Failures     []consoleQueue
	Losses       []consoleQueue
	BillFailures []consoleBillFailure
	Faults       []consoleFault
	Domains      []consoleDomain
	Requests     []Request // the latest consoleRequests, newest first
	RequestCount int       // all of them
	Pending      bool      // some notification is still being delivered
	Now          time.Time
	PathRefund   string
	PathQuery    string
	PathBill     string
}

type consoleOrder struct {
	Order
	Refunded       int64 // refunds that are not REFUNDCLOSE
	CouponRefunded int64
	Refundable     int64
	Refunds        []consoleRefund
}

type consoleRefund struct {
	RefundState
	Deliveries []Delivery
	Next       string // when the next scheduled delivery is due, for a pending notification
}

type consoleQueue struct {
	Path    string
	Answer  string
	Times   int
	Dropped bool // LoseNext without an err_code: the connection is dropped
}

type consoleBillFailure struct {
	ReturnMsg string
	ErrorCode string
	Times     int
}

// consoleFault is a run of a FaultNext queue.
type consoleFault struct {
	Domain Domain // DomainAny: either
	Path   string
	Fault  string
	Times  int
}

type consoleDomain struct {
	Name    Domain
	Role    string // what it stands for
	URL     string
	Console string // the console's address on this domain
	Down    bool
	Here    bool   // the page was served by this domain
	MovesTo Domain // with Here: where taking it down sends the console, if up
}

// consoleSnapshot reads everything the console shows in one critical
// section.
func (s *Server) consoleSnapshot() consolePage {
	p := consolePage{
		Partner:    s.cfg.partner,
		SubMchIDs:  s.SubMerchants(),
		PathRefund: PathRefund,
		PathQuery:  PathRefundQuery,
		PathBill:   PathDownloadBill,
	}
	p.AppID, p.MchID, _ = s.Credentials()
	// Before s.mu: Down takes the domain's own lock, never under s.mu.
	for _, d := range [...]Domain{DomainPrimary, DomainBackup} {
		role := "primary, as api.mch.weixin.qq.com"
		if d == DomainBackup {
			role = "backup, as api2.mch.weixin.qq.com"
		}
		u := s.domain(d).url
		p.Domains = append(p.Domains, consoleDomain{Name: d, Role: role, URL: u, Console: u + PathConsole, Down: s.Down(d)})
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	p.Now = s.now()
	p.Balance = s.balance
	byRefund := make(map[string][]Delivery)
	for _, d := range s.deliveries {
		byRefund[d.OutRefundNo] = append(byRefund[d.OutRefundNo], d)
	}
	for _, o := range s.orders {
		co := consoleOrder{Order: o.Order}
		for _, r := range o.refunds {
			if r.status != wxrefund.RefundStatusClosed {
				co.Refunded += r.fee
				co.CouponRefunded += r.coupon
			}
			cr := consoleRefund{RefundState: r.state(), Deliveries: byRefund[r.outRefundNo]}
			if r.notifyState == NotifyPending {
				p.Pending = true
				cr.Next = s.nextDelivery(cr.Deliveries)
			}
			co.Refunds = append(co.Refunds, cr)
		}
		co.Refundable = o.TotalFee - co.Refunded
		p.Orders = append(p.Orders, co)
	}
	// In the order they were paid, like a log.
	slices.SortFunc(p.Orders, func(a, b consoleOrder) int {
		if c := a.PaidAt.Compare(b.PaidAt); c != 0 {
			return c
		}
		return strings.Compare(a.OutTradeNo, b.OutTradeNo)
	})
	for _, path := range []string{PathRefund, PathRefundQuery} {
		for _, in := range s.failures[path] {
			p.Failures = append(p.Failures, consoleQueue{Path: path, Answer: in.answer, Times: in.times})
		}
	}
	for _, in := range s.losses {
		p.Losses = append(p.Losses, consoleQueue{Path: PathRefund, Answer: in.answer, Times: in.times, Dropped: in.answer == ""})
	}
	for _, in := range s.billFailures {
		p.BillFailures = append(p.BillFailures, consoleBillFailure{ReturnMsg: in.answer.returnMsg, ErrorCode: in.answer.errorCode, Times: in.times})
	}
	for _, d := range [...]Domain{DomainAny, DomainPrimary, DomainBackup} {
		for _, path := range [...]string{PathRefund, PathRefundQuery, PathDownloadBill} {
			for _, in := range s.faults[faultKey{d, path}] {
				p.Faults = append(p.Faults, consoleFault{Domain: d, Path: path, Fault: in.answer.String(), Times: in.times})
			}
		}
	}
	p.RequestCount = len(s.requests)
	for i := len(s.requests) - 1; i >= 0 && len(p.Requests) < consoleRequests; i-- {
		p.Requests = append(p.Requests, s.requests[i])
	}
	return p
}

// nextDelivery describes when the next scheduled delivery of a pending
// notification is due, from the deliveries recorded so far: the schedule's
// delay after the last scheduled (not Redeliver) attempt. Called with s.mu
// held.
func (s *Server) nextDelivery(ds []Delivery) string {
	var last *Delivery
	n := 0
	for i := range ds {
		if !ds[i].Duplicate {
			last = &ds[i]
			n++
		}
	}
	switch {
	case last == nil:
		return "first delivery in progress"
	case n > len(s.cfg.schedule):
		return "none: the schedule is exhausted"
	}
	delay := s.cfg.schedule[n-1]
	return fmt.Sprintf("attempt %d about %s (%v after attempt %d)", n+1, formatCST(last.Time.Add(delay)), delay, n)
}

// serveConsole serves PathConsole and its actions under PathConsole + "/".
func (s *Server) serveConsole(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Referrer-Policy", "same-origin")
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path == PathConsole {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method "+r.Method+" not allowed: the console page is GET only", http.StatusMethodNotAllowed)
			return
		}
		s.renderConsole(w, r)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, PathConsole+"/")
	action, ok := consoleActions[name]
	if !ok {
		http.Error(w, "unknown console path "+r.URL.Path, http.StatusNotFound)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method "+r.Method+" not allowed: console actions are POST only", http.StatusMethodNotAllowed)
		return
	}
	if !sameOrigin(r) {
		http.Error(w, "forbidden: a cross-site request to the console", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "cannot read the form: "+err.Error(), http.StatusBadRequest)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("token")), []byte(s.consoleToken)) != 1 {
		http.Error(w, "forbidden: the form's token is missing or wrong; reload the console", http.StatusForbidden)
		return
	}
	// Taking down the domain that serves this console: the answer is
	// delivered, then its connections are reset; send the browser to the
	// console on the other domain, if that one is up. Looked at before the
	// action: Down waits for a domain going down, which waits for this
	// answer.
	var moveTo Domain
	if here := s.servingDomain(r); name == "domain" && here != DomainAny &&
		r.PostForm.Get("state") == "down" && Domain(r.PostForm.Get("domain")) == here {
		other := DomainBackup
		if here == DomainBackup {
			other = DomainPrimary
		}
		if !s.Down(other) {
			moveTo = other
		}
	}
	q, back := url.Values{}, PathConsole
	if msg, err := action(s, r.PostForm); err != nil {
		q.Set("error", err.Error())
	} else {
		if moveTo != DomainAny {
			back = s.domain(moveTo).url + PathConsole
			msg += "; this console is now served by " + string(moveTo)
		}
		q.Set("ok", msg)
	}
	http.Redirect(w, r, back+"?"+q.Encode(), http.StatusSeeOther)
}

// servingDomain returns the domain whose listener served r, or DomainAny
// for a request that came through Handler mounted elsewhere.
func (s *Server) servingDomain(r *http.Request) Domain {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return DomainAny
	}
	host, port, err := net.SplitHostPort(local.String())
	if err != nil {
		return DomainAny
	}
	for _, d := range [...]Domain{DomainPrimary, DomainBackup} {
		h, p, err := net.SplitHostPort(s.domain(d).addr) // fixed at NewServer
		if err == nil && p == port && (h == host || net.ParseIP(h).IsUnspecified()) {
			return d
		}
	}
	return DomainAny
}

// sameOrigin reports whether a console action or admin API call may come
// from r: a browser's Origin header, when sent, must be the fake's own
// origin, and its Sec-Fetch-Site, when sent, must not name another site.
// Requests without either header (curl, say) pass; the console then also
// checks its form token.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return strings.EqualFold(origin, scheme+"://"+r.Host)
}

func (s *Server) renderConsole(w http.ResponseWriter, r *http.Request) {
	p := s.consoleSnapshot()
	if here := s.servingDomain(r); here != DomainAny {
		for i := range p.Domains {
			if p.Domains[i].Name == here {
				p.Domains[i].Here = true
				if other := p.Domains[1-i]; !other.Down {
					p.Domains[i].MovesTo = other.Name
				}
			}
		}
	}
	p.Token = s.consoleToken
	p.Nonce = newConsoleToken()
	p.Notice, p.Problem = r.URL.Query().Get("ok"), r.URL.Query().Get("error")
	var b strings.Builder
	if err := consoleTmpl.Execute(&b, p); err != nil {
		http.Error(w, "cannot render the console: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-"+p.Nonce+
		"'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		// The status is sent; a failed write means the client is gone: nothing to do.
		_, _ = w.Write([]byte(b.String()))
	}
}

// consoleActions are the console's forms, by the path under PathConsole
// they post to. Each validates its form as the JSON admin API validates its
// body and calls the same Server method; it returns what to tell the user.
var consoleActions = map[string]func(*Server, url.Values) (string, error){
	"orders": func(s *Server, f url.Values) (string, error) {
		total, err := formInt(f, "total_fee")
		if err != nil {
			return "", err
		}
		coupon, err := formInt(f, "coupon_fee")
		if err != nil {
			return "", err
		}
		o, err := s.addOrder(Order{
			OutTradeNo:    strings.TrimSpace(f.Get("out_trade_no")),
			TransactionID: strings.TrimSpace(f.Get("transaction_id")),
			TotalFee:      total,
			CouponFee:     coupon,
			SubMchID:      strings.TrimSpace(f.Get("sub_mch_id")),
			SubAppID:      strings.TrimSpace(f.Get("sub_appid")),
		})
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("added order %s (transaction_id %s) of %s", o.OutTradeNo, o.TransactionID, formatFen(o.TotalFee)), nil
	},
	"complete": func(s *Server, f url.Values) (string, error) {
		no, status := f.Get("out_refund_no"), wxrefund.RefundStatus(f.Get("status"))
		if err := s.Complete(no, status); err != nil {
			return "", err
		}
		return fmt.Sprintf("completed refund %s as %s", no, status), nil
	},
	"redeliver": func(s *Server, f url.Values) (string, error) {
		no := f.Get("out_refund_no")
		if err := s.Redeliver(no); err != nil {
			if errors.Is(err, ErrDeliveryFailed) {
				return "", fmt.Errorf("redelivered the notification of %s, but %w", no, err)
			}
			return "", err
		}
		return fmt.Sprintf("redelivered the notification of %s: acknowledged", no), nil
	},
	"fail": func(s *Server, f url.Values) (string, error) {
		times, err := formInt(f, "times")
		if err != nil {
			return "", err
		}
		path, code := f.Get("path"), strings.TrimSpace(f.Get("err_code"))
		if err := checkFail(path, code, int(times)); err != nil {
			return "", err
		}
		s.FailNext(path, code, int(times))
		return fmt.Sprintf("the next %d requests to %s fail with %s", times, path, code), nil
	},
	"lose": func(s *Server, f url.Values) (string, error) {
		times, err := formInt(f, "times")
		if err != nil {
			return "", err
		}
		code := strings.TrimSpace(f.Get("err_code"))
		if err := checkLose(code, int(times)); err != nil {
			return "", err
		}
		s.LoseNext(code, int(times))
		if code == "" {
			return fmt.Sprintf("the next %d accepted refunds are applied and their connections dropped", times), nil
		}
		return fmt.Sprintf("the next %d accepted refunds are applied and answered with %s", times, code), nil
	},
	"clear": func(s *Server, f url.Values) (string, error) {
		s.ClearFaults()
		return "cleared every queued failure", nil
	},
	"fault": func(s *Server, f url.Values) (string, error) {
		times, err := formInt(f, "times")
		if err != nil {
			return "", err
		}
		delay, err := formInt(f, "delay_ms")
		if err != nil {
			return "", err
		}
		fault, err := parseFault(f.Get("fault"), delay)
		if err != nil {
			return "", err
		}
		domain, path := Domain(f.Get("domain")), f.Get("path")
		if err := checkFaultNext(domain, path, fault, int(times)); err != nil {
			return "", err
		}
		s.FaultNext(domain, path, fault, int(times))
		where := "either domain"
		if domain != DomainAny {
			where = string(domain)
		}
		return fmt.Sprintf("the next %d requests to %s on %s meet %s", times, path, where, fault), nil
	},
	"domain": func(s *Server, f url.Values) (string, error) {
		d := Domain(f.Get("domain"))
		if err := checkDomain(d, false); err != nil {
			return "", err
		}
		switch f.Get("state") {
		case "down":
			s.takeDownSoon(d) // after this answer: the console may be served by d
			return "took " + string(d) + " down: its connections are reset", nil
		case "up":
			if err := s.BringUp(d); err != nil {
				return "", err
			}
			return "brought " + string(d) + " up", nil
		}
		return "", errors.New(`state must be "down" or "up"`)
	},
	"balance": func(s *Server, f url.Values) (string, error) {
		b, err := formInt(f, "balance")
		if err != nil {
			return "", err
		}
		if err := s.SetBalance(b); err != nil {
			return "", err
		}
		return "set the balance to " + formatFen(b), nil
	},
}

// formInt reads an integer form field; empty is 0.
func formInt(f url.Values, name string) (int64, error) {
	v := strings.TrimSpace(f.Get(name))
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s must be a whole number, got %q", name, v)
	}
	return n, nil
}
