package wxrefundtest

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"
)

// Domain is one of the two domains WeChat Pay serves its API on. The
// Server listens for both, on two ports of the same host, with one ledger
// behind them: a refund accepted on one is found on the other, as on
// api.mch.weixin.qq.com and api2.mch.weixin.qq.com. Pair a Client with the
// backup by adding wxrefund.WithFailover(s.BackupURL()) to ClientOptions.
type Domain string

// The domains, and DomainAny for faults that hit whichever domain a
// request reaches.
const (
	DomainAny     Domain = ""     // in FaultNext: either domain
	DomainPrimary Domain = "api"  // api.mch.weixin.qq.com: URL
	DomainBackup  Domain = "api2" // api2.mch.weixin.qq.com: BackupURL
)

// checkDomain reports a Domain that is neither of the two (nor DomainAny,
// when any is true).
func checkDomain(d Domain, any bool) error {
	switch d {
	case DomainPrimary, DomainBackup:
		return nil
	case DomainAny:
		if any {
			return nil
		}
	}
	return fmt.Errorf("domain %q: want %q (DomainPrimary) or %q (DomainBackup)", string(d), DomainPrimary, DomainBackup)
}

// listener serves one domain.
type listener struct {
	domain Domain
	addr   string // host:port, kept across TakeDown and BringUp
	url    string
	hs     *http.Server  // nil while the domain is down
	done   chan struct{} // closed when hs's Serve returned
}

// domain returns the listener of d (DomainPrimary or DomainBackup).
func (s *Server) domain(d Domain) *listener {
	if d == DomainBackup {
		return s.domains[1]
	}
	return s.domains[0]
}

// startListener serves l on ln. Called with s.domainMu held (or before the
// Server is shared).
func (s *Server) startListener(l *listener, ln net.Listener) {
	hs := &http.Server{
		Handler:           s.domainHandler(l.domain),
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // TLS handshake noise from clients that do not trust the CA
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.ServeTLS(ln, "", "") // returns http.ErrServerClosed on Close
	}()
	l.hs, l.done = hs, done
}

// stop ends l's serving and waits until it has: at once (Close), or
// gracefully, as a domain going down: no new connection is accepted, idle
// ones are closed, and requests in flight have a second to end before
// their connections are closed too. Called with s.domainMu held.
func (l *listener) stop(graceful bool) {
	if l.hs == nil {
		return
	}
	if graceful {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = l.hs.Shutdown(ctx)
		cancel()
	}
	_ = l.hs.Close()
	<-l.done
	l.hs, l.done = nil, nil
}

// BackupURL returns the base URL of the backup domain, such as
// "https://127.0.0.1:41235": the same ledger as URL behind another port.
// Give it to wxrefund.WithFailover:
//
//	appID, mchID, key := s.Credentials()
//	c, err := wxrefund.NewClient(appID, mchID, key,
//		append(s.ClientOptions(), wxrefund.WithFailover(s.BackupURL()))...)
//
// Requests reports which domain each request reached.
func (s *Server) BackupURL() string { return s.domains[1].url }

// TakeDown stops the domain d (DomainPrimary or DomainBackup) from
// answering, as when a WeChat Pay domain is unreachable: its listener
// closes, so new connections are refused, and its open connections close,
// requests in flight included. The other domain keeps serving the same
// ledger. BringUp serves d again. TakeDown panics for another Domain value.
func (s *Server) TakeDown(d Domain) {
	if err := checkDomain(d, false); err != nil {
		panic("wxrefundtest: TakeDown: " + err.Error())
	}
	s.takeDown(d, false)
}

func (s *Server) takeDown(d Domain, graceful bool) {
	s.domainMu.Lock()
	defer s.domainMu.Unlock()
	s.domain(d).stop(graceful)
	s.mu.Lock()
	s.changedLocked()
	s.mu.Unlock()
}

// takeDownSoon takes d down gracefully, so that the current request (of
// the admin API or the console, which d itself may serve) is answered.
func (s *Server) takeDownSoon(d Domain) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.takeDown(d, true)
	}()
}

// BringUp serves the domain d again at the same address after TakeDown. It
// fails if the Server is closed or the port was taken meanwhile; it does
// nothing when d is up. BringUp panics for another Domain value.
func (s *Server) BringUp(d Domain) error {
	if err := checkDomain(d, false); err != nil {
		panic("wxrefundtest: BringUp: " + err.Error())
	}
	s.domainMu.Lock()
	defer s.domainMu.Unlock()
	l := s.domain(d)
	if l.hs != nil {
		return nil
	}
	if s.ctx.Err() != nil {
		return ErrClosed
	}
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return fmt.Errorf("wxrefundtest: BringUp(%s): %w", d, err)
	}
	s.startListener(l, ln)
	s.mu.Lock()
	s.changedLocked()
	s.mu.Unlock()
	return nil
}

// Down reports whether the domain d was taken down with TakeDown.
func (s *Server) Down(d Domain) bool {
	s.domainMu.Lock()
	defer s.domainMu.Unlock()
	return s.domain(d).hs == nil
}

// Request is a protocol request the Server received: which domain and path
// it reached and, when an HTTP-level fault was played instead of (or
// before) the answer, which one.
type Request struct {
	Domain Domain    `json:"domain"`
	Path   string    `json:"path"`
	Time   time.Time `json:"time"`            // by the Server's clock
	Fault  string    `json:"fault,omitempty"` // Fault.String of the fault played, "" for none
}

// Requests returns every request to PathRefund, PathRefundQuery and
// PathDownloadBill so far, on both domains, oldest first. Requests to a
// domain that was down never arrived and are not listed; admin and console
// requests are not listed either.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// domainHandler serves the Server's handler as domain d: a protocol
// request is logged and meets its queued fault, if any, before the mux.
func (s *Server) domainHandler(d Domain) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case PathRefund, PathRefundQuery, PathDownloadBill:
		default:
			s.mux.ServeHTTP(w, r)
			return
		}
		s.mu.Lock()
		f, faulted := s.takeFault(d, r.URL.Path)
		req := Request{Domain: d, Path: r.URL.Path, Time: s.now()}
		if faulted {
			req.Fault = f.String()
		}
		s.requests = append(s.requests, req)
		s.changedLocked()
		s.mu.Unlock()
		if faulted {
			if f.play(w, r) {
				return
			}
			w = &lateWriter{ResponseWriter: w, ctx: r.Context(), due: time.Now().Add(f.delay)}
		}
		s.mux.ServeHTTP(w, r)
	})
}
