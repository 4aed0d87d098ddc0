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
func (s *Server) ConsoleURL() string { return s.url + PathConsole }

//go:embed console.html
var consoleFiles embed.FS

var consoleTmpl = template.Must(template.New("console.html").Funcs(template.FuncMap{
	"fen": formatFen,
	"cst": formatCST,
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

// consolePage is what console.html renders.
type consolePage struct {
	Token      string
	Nonce      string // of the inline refresh script (Content-Security-Policy)
	Notice     string // the outcome of the last action, from the redirect
	Problem    string // the error of the last action, from the redirect
	AppID      string
	MchID      string
	Partner    bool
	SubMchIDs  []string
	Balance    int64
	Orders     []consoleOrder
	Failures   []consoleQueue
	Losses     []consoleQueue
	Pending    bool // some notification is still being delivered
	Now        time.Time
	PathRefund string
	PathQuery  string
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

// consoleSnapshot reads everything the console shows in one critical
// section.
func (s *Server) consoleSnapshot() consolePage {
	p := consolePage{
		Partner:    s.cfg.partner,
		SubMchIDs:  s.SubMerchants(),
		PathRefund: PathRefund,
		PathQuery:  PathRefundQuery,
	}
	p.AppID, p.MchID, _ = s.Credentials()

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
	action, ok := consoleActions[strings.TrimPrefix(r.URL.Path, PathConsole+"/")]
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
	q := url.Values{}
	if msg, err := action(s, r.PostForm); err != nil {
		q.Set("error", err.Error())
	} else {
		q.Set("ok", msg)
	}
	http.Redirect(w, r, PathConsole+"?"+q.Encode(), http.StatusSeeOther)
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
		w.Write([]byte(b.String()))
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
		if times <= 0 {
			return "cleared the failures queued for " + path, nil
		}
		return fmt.Sprintf("the next %d requests to %s fail with %s", times, path, code), nil
	},
	"lose": func(s *Server, f url.Values) (string, error) {
		times, err := formInt(f, "times")
		if err != nil {
			return "", err
		}
		code := strings.TrimSpace(f.Get("err_code"))
		if err := checkLose(&code, int(times)); err != nil {
			return "", err
		}
		s.LoseNext(code, int(times))
		switch {
		case times <= 0:
			return "cleared the lost answers", nil
		case code == "":
			return fmt.Sprintf("the next %d accepted refunds are applied and their connections dropped", times), nil
		}
		return fmt.Sprintf("the next %d accepted refunds are applied and answered with %s", times, code), nil
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
