// Command notifyserver receives WeChat Pay refund notifications on
// -addr/path and logs each one, with credentials from the environment (run
// it without them to see which). Put it behind your HTTPS front end and pass
// its public URL as RefundRequest.NotifyURL.
//
//	go run ./examples/notifyserver -addr :8080
//
// It acknowledges a notification only after recording it, and records each
// refund once even when WeChat Pay delivers it again: NotifyHandler's
// NotifyStore skips redeliveries it remembers, and the record itself is
// idempotent for those it does not. It logs to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/go-wxpay/wxrefund"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	path := flag.String("path", "/wxpay/refund-notify", "notify URL path")
	flag.Usage = usage("notifyserver [-addr host:port] [-path /path]")
	flag.Parse()

	c, err := newClient(false)
	if err != nil {
		fmt.Fprintln(os.Stderr, "notifyserver:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))

	srv := &http.Server{Addr: *addr, Handler: newHandler(c, *path, newRefundStore(logger), logger), ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	shutdownErr := make(chan error, 1)
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shutdownErr <- srv.Shutdown(shutdown)
	}()
	logger.Info("listening", "url", "http://"+*addr+*path)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		logger.Error(err.Error())
		os.Exit(1)
	}
	// ListenAndServe returns as soon as Shutdown begins: wait for the
	// notifications in flight to be answered, or for the 5 s to run out.
	if err := <-shutdownErr; err != nil {
		logger.Error("shutdown: " + err.Error())
		os.Exit(1)
	}
}

// newHandler serves WeChat Pay's refund notifications on path: c decrypts and
// checks each one, and store records it before the reply acknowledges it.
// Deliveries of one notification are handled one at a time; one already
// processed is acknowledged without calling store again, as long as the
// in-memory NotifyStore remembers it (share a database-backed NotifyStore
// between instances instead). Deliveries that are not acknowledged are
// logged to logger, with the reason.
func newHandler(c *wxrefund.Client, path string, store *refundStore, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(path, c.NotifyHandler(store.record,
		wxrefund.WithNotifyStore(wxrefund.NewMemoryNotifyStore(wxrefund.DefaultMemoryNotifyEntries, wxrefund.DefaultMemoryNotifyTTL)),
		wxrefund.WithNotifyLogger(logger)))
	return mux
}

func newRefundStore(logger *slog.Logger) *refundStore {
	return &refundStore{log: logger, seen: map[string]wxrefund.RefundStatus{}}
}

// refundStore stands in for your database: record must be idempotent (the
// NotifyStore forgets, and a process restarts) and return only once the
// result is stored.
type refundStore struct {
	log  *slog.Logger
	mu   sync.Mutex
	seen map[string]wxrefund.RefundStatus
}

func (s *refundStore) record(_ context.Context, n *wxrefund.RefundNotification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.seen[n.OutRefundNo]; ok && prev.Final() {
		s.log.Info("duplicate notification: already recorded", "out_refund_no", n.OutRefundNo, "status", prev)
		return nil
	}
	s.seen[n.OutRefundNo] = n.Status
	s.log.Info("refund recorded", "out_refund_no", n.OutRefundNo, "out_trade_no", n.OutTradeNo,
		"status", n.Status, "refund_fee", n.RefundFee, "recv_account", n.RecvAccount)
	return nil
}
