package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // the driver is yours: MySQL, PostgreSQL or SQLite

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/sqlstore"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// Two instances of a notify handler share one database: a notification
// delivered to both is processed once, and its redelivery is acknowledged
// without calling the handler.
func Example() {
	dir, err := os.MkdirTemp("", "sqlstore")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = os.RemoveAll(dir) }() // best effort: a temporary directory
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "notify.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	store, err := sqlstore.New(db, sqlstore.SQLite)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	if err := store.CreateTable(ctx); err != nil {
		log.Fatal(err)
	}

	c, err := wxrefund.NewClient(wxrefundtest.DefaultAppID, wxrefundtest.DefaultMchID, wxrefundtest.DefaultAPIKey)
	if err != nil {
		log.Fatal(err)
	}
	calls := 0
	record := func(_ context.Context, n *wxrefund.RefundNotification) error {
		calls++ // store the refund's outcome here
		return nil
	}
	a := httptest.NewServer(c.NotifyHandler(record, wxrefund.WithNotifyStore(store)))
	defer a.Close()
	b := httptest.NewServer(c.NotifyHandler(record, wxrefund.WithNotifyStore(store)))
	defer b.Close()

	body, err := wxrefundtest.EncryptNotify(wxrefundtest.DefaultAPIKey, map[string]string{
		"out_trade_no": "ORD1", "out_refund_no": "RF1", "refund_id": "50300000000000000000000000001",
		"total_fee": "100", "refund_fee": "100", "refund_status": "SUCCESS", "success_time": "2024-06-03 10:15:42",
	}, wxrefundtest.DefaultAppID, wxrefundtest.DefaultMchID)
	if err != nil {
		log.Fatal(err)
	}
	for _, url := range []string{a.URL, b.URL, a.URL} {
		resp, err := http.Post(url, "text/xml", strings.NewReader(string(body)))
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.StatusCode)
	}
	fmt.Println("handler calls:", calls)
	// Output:
	// 200
	// 200
	// 200
	// handler calls: 1
}
