package wxrefundtest

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
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

// listener serves one domain. Its socket stays bound for the Server's
// life: a domain taken down keeps its port (no other program can take it
// meanwhile) and closes every connection as it arrives.
type listener struct {
	domain Domain
	addr   string // host:port
	url    string
	hs     *http.Server
	done   chan struct{} // closed when hs's Serve returned

	mu    sync.Mutex
	down  bool
	conns map[net.Conn]http.ConnState
}

// domain returns the listener of d (DomainPrimary or DomainBackup).
func (s *Server) domain(d Domain) *listener {
	if d == DomainBackup {
		return s.domains[1]
	}
	return s.domains[0]
}

// startListener serves l on ln, before the Server is shared.
func (s *Server) startListener(l *listener, ln net.Listener) {
	l.conns = map[net.Conn]http.ConnState{}
	hs := &http.Server{
		Handler:           s.domainHandler(l.domain),
		TLSConfig:         s.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // TLS handshake noise from clients that do not trust the CA
		ConnState:         l.track,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = hs.ServeTLS(&gate{Listener: ln, l: l}, "", "") // returns http.ErrServerClosed on Close
	}()
	l.hs, l.done = hs, done
}

// gate is a listener that closes the connections it accepts while its
// domain is down, before any TLS: the client sees its connection reset.
type gate struct {
	net.Listener
	l *listener
}

func (g *gate) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		g.l.mu.Lock()
		down := g.l.down
		g.l.mu.Unlock()
		if !down {
			return c, nil
		}
		_ = c.Close() // down: nobody answers
	}
}

// track follows the connections; while the domain is down, one that turns
// idle (its request answered) is closed.
func (l *listener) track(c net.Conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, c)
		return
	case http.StateIdle:
		if l.down {
			// Its last answer may still be on its way (HTTP/2 writes
			// frames after the handler returns): close it a moment later.
			// Until then no request on it is served (domainHandler).
			// If the domain is back up by then, the connection stays.
			time.AfterFunc(100*time.Millisecond, func() {
				l.mu.Lock()
				defer l.mu.Unlock()
				if l.down {
					_ = c.Close()
				}
			})
		}
	}
	l.conns[c] = state
}

// setDown takes the domain down or brings it up. Down, it closes the open
// connections: all of them, requests in flight included; or, gracefully,
// the idle ones at once and the others as their requests are answered (or
// after a second), so that the request asking for it gets its answer.
func (l *listener) setDown(down, graceful bool) (closeRest func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.down = down
	if !down {
		return func() {}
	}
	for c, st := range l.conns {
		if !graceful || st == http.StateIdle || st == http.StateNew {
			_ = c.Close()
		}
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.down {
			for c := range l.conns {
				_ = c.Close()
			}
		}
	}
}

// stop ends l's serving at once and waits until it has (Close).
func (l *listener) stop() {
	_ = l.hs.Close()
	<-l.done
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
// answering, as when a WeChat Pay domain is unreachable: its open
// connections close, requests in flight included, and every new connection
// is closed as it arrives (the client sees it reset). The port stays the
// Server's. The other domain keeps serving the same ledger. BringUp serves
// d again. TakeDown panics for another Domain value.
func (s *Server) TakeDown(d Domain) {
	if err := checkDomain(d, false); err != nil {
		panic("wxrefundtest: TakeDown: " + err.Error())
	}
	s.domain(d).setDown(true, false)
	s.mu.Lock()
	s.changedLocked()
	s.mu.Unlock()
}

// takeDownSoon takes d down gracefully, so that the current request (of
// the admin API or the console, which d itself may serve) is answered: its
// connection closes once the answer is written, or after a second.
func (s *Server) takeDownSoon(d Domain) {
	closeRest := s.domain(d).setDown(true, true)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changedLocked()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(time.Second)
		defer t.Stop()
		select {
		case <-t.C:
			closeRest()
		case <-s.ctx.Done():
		}
	}()
}

// BringUp serves the domain d again after TakeDown; it does nothing when d
// is up, and fails only when the Server is closed. BringUp panics for
// another Domain value.
func (s *Server) BringUp(d Domain) error {
	if err := checkDomain(d, false); err != nil {
		panic("wxrefundtest: BringUp: " + err.Error())
	}
	if s.ctx.Err() != nil {
		return ErrClosed
	}
	s.domain(d).setDown(false, false)
	s.mu.Lock()
	s.changedLocked()
	s.mu.Unlock()
	return nil
}

// Down reports whether the domain d was taken down with TakeDown.
func (s *Server) Down(d Domain) bool {
	l := s.domain(d)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down
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
		l := s.domain(d)
		l.mu.Lock()
		down := l.down
		l.mu.Unlock()
		if down {
			// A request on a connection opened before the domain went
			// down: nobody answers it.
			panic(http.ErrAbortHandler)
		}
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
