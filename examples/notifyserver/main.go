// Command notifyserver receives WeChat Pay refund notifications on
// -addr/path and prints each one, with credentials from the environment (run
// it without them to see which). Put it behind your HTTPS front end and pass
// its public URL as RefundRequest.NotifyURL.
//
//	go run ./examples/notifyserver -addr :8080
//
// It acknowledges a notification only after recording it, and records each
// refund once even when WeChat Pay delivers it again.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/internal/envconfig"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	path := flag.String("path", "/wxpay/refund-notify", "notify URL path")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: notifyserver [-addr host:port] [-path /path]\n\n")
		flag.PrintDefaults()
		fmt.Fprintf(flag.CommandLine.Output(), "\n%s\n", envconfig.Usage)
	}
	flag.Parse()

	c, err := envconfig.Client(false)
	if err != nil {
		fmt.Fprintln(os.Stderr, "notifyserver:", err)
		os.Exit(2)
	}

	srv := &http.Server{Addr: *addr, Handler: newHandler(c, *path, newRefundStore()), ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	log.Printf("listening on http://%s%s", *addr, *path)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// newHandler serves WeChat Pay's refund notifications on path: c decrypts and
// checks each one, and store records it before the reply acknowledges it.
func newHandler(c *wxrefund.Client, path string, store *refundStore) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(path, c.NotifyHandler(store.record))
	return mux
}

func newRefundStore() *refundStore {
	return &refundStore{seen: map[string]wxrefund.RefundStatus{}}
}

// refundStore stands in for your database: record must be idempotent and
// return only once the result is stored.
type refundStore struct {
	mu   sync.Mutex
	seen map[string]wxrefund.RefundStatus
}

func (s *refundStore) record(_ context.Context, n *wxrefund.RefundNotification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.seen[n.OutRefundNo]; ok && prev.Final() {
		log.Printf("duplicate notification for %s (%s): already recorded", n.OutRefundNo, prev)
		return nil
	}
	s.seen[n.OutRefundNo] = n.Status
	log.Printf("refund %s of order %s: %s, %d fen to %q", n.OutRefundNo, n.OutTradeNo, n.Status, n.RefundFee, n.RecvAccount)
	return nil
}
