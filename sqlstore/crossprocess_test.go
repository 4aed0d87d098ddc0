package sqlstore

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// These tests run the notify handler in several processes that share one
// database: the test binary started again in instance mode (TestMain), as
// a merchant runs several instances behind a load balancer.

const (
	xpAppID  = wxrefundtest.DefaultAppID
	xpMchID  = wxrefundtest.DefaultMchID
	xpAPIKey = wxrefundtest.DefaultAPIKey
)

// The environment of an instance.
const (
	envInstance = "SQLSTORE_TEST_INSTANCE" // "1": serve notifications instead of running tests
	envDriver   = "SQLSTORE_TEST_DRIVER"
	envDSN      = "SQLSTORE_TEST_DSN"
	envDialect  = "SQLSTORE_TEST_DIALECT"
	envTable    = "SQLSTORE_TEST_TABLE"   // the store's table; the effects go to <table>_effects
	envLease    = "SQLSTORE_TEST_LEASE"   // the claims' lease
	envHang     = "SQLSTORE_TEST_HANG_ON" // an out_refund_no whose handler never returns (to be killed inside it)
)

func TestMain(m *testing.M) {
	if os.Getenv(envInstance) == "1" {
		if err := serveInstance(); err != nil {
			fmt.Fprintln(os.Stderr, "instance:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// serveInstance is one merchant instance: NotifyHandler on the shared
// store, whose handler records each notification in the effects table
// (with no unique key: a second call would show as a second row). It
// prints its address, then serves until killed.
func serveInstance() error {
	dialects := map[string]Dialect{"mysql": MySQL, "postgres": Postgres, "sqlite": SQLite}
	db, err := sql.Open(os.Getenv(envDriver), os.Getenv(envDSN))
	if err != nil {
		return err
	}
	store, err := New(db, dialects[os.Getenv(envDialect)], WithTable(os.Getenv(envTable)))
	if err != nil {
		return err
	}
	lease, err := time.ParseDuration(os.Getenv(envLease))
	if err != nil {
		return err
	}
	c, err := wxrefund.NewClient(xpAppID, xpMchID, xpAPIKey)
	if err != nil {
		return err
	}
	insert := "INSERT INTO " + os.Getenv(envTable) + "_effects (out_refund_no, pid) VALUES (?, ?)"
	if os.Getenv(envDialect) == "postgres" {
		insert = strings.ReplaceAll(strings.Replace(insert, "?", "$1", 1), "?", "$2")
	}
	hang := os.Getenv(envHang)
	pid := os.Getpid()
	h := c.NotifyHandler(func(ctx context.Context, n *wxrefund.RefundNotification) error {
		if hang != "" && n.OutRefundNo == hang {
			fmt.Println("inside " + n.OutRefundNo) // the parent kills us now
			select {}
		}
		_, err := db.ExecContext(ctx, insert, n.OutRefundNo, pid)
		return err
	}, wxrefund.WithNotifyStore(store), wxrefund.WithNotifyLease(lease))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Println("listening " + ln.Addr().String())
	return http.Serve(ln, h)
}

// instance is a running instance process.
type instance struct {
	cmd  *exec.Cmd
	url  string
	out  *bufio.Scanner
	done chan struct{}
}

// startInstance starts an instance of b on table with lease; hangOn names
// a refund its handler never finishes.
func startInstance(t *testing.T, b backend, table string, lease time.Duration, hangOn string) *instance {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envInstance+"=1", envDriver+"="+b.driver, envDSN+"="+b.dsn,
		envDialect+"="+b.name, envTable+"="+table, envLease+"="+lease.String(), envHang+"="+hangOn)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	in := &instance{cmd: cmd, out: bufio.NewScanner(stdout), done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(in.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-in.done
	})
	line := in.line(t)
	addr, ok := strings.CutPrefix(line, "listening ")
	require.True(t, ok, "instance said %q", line)
	in.url = "http://" + addr
	return in
}

// line reads the instance's next line of output.
func (in *instance) line(t *testing.T) string {
	t.Helper()
	lines := make(chan string, 1)
	go func() {
		if in.out.Scan() {
			lines <- in.out.Text()
		}
		close(lines)
	}()
	select {
	case l, ok := <-lines:
		require.True(t, ok, "the instance ended")
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("no word from the instance")
		return ""
	}
}

// xpBody is the notification of refund no, encrypted as WeChat Pay sends it.
func xpBody(t testing.TB, no string) []byte {
	body, err := wxrefundtest.EncryptNotify(xpAPIKey, map[string]string{
		"transaction_id": "4200000000202406030000000001", "out_trade_no": "ORD1",
		"refund_id": "503000000002024060300000" + fmt.Sprintf("%05d", len(no)), "out_refund_no": no,
		"total_fee": "100000", "refund_fee": "100", "settlement_refund_fee": "100",
		"refund_status": "SUCCESS", "success_time": "2024-06-03 10:16:12",
		"refund_recv_accout": "支付用户零钱", "refund_account": "REFUND_SOURCE_UNSETTLED_FUNDS",
		"refund_request_source": "API",
	}, xpAppID, xpMchID)
	require.NoError(t, err)
	return body
}

// deliver posts body to url once, as WeChat Pay does, and reports whether
// the reply acknowledged it.
func deliver(hc *http.Client, url string, body []byte) (bool, error) {
	resp, err := hc.Post(url, "text/xml", strings.NewReader(string(body)))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(resp.Body)
	if err != nil {
		return false, err
	}
	return resp.StatusCode == http.StatusOK && strings.Contains(string(reply), "SUCCESS"), nil
}

// effects returns how many times each refund's handler took effect.
func effects(t *testing.T, db *sql.DB, table string) map[string]int {
	t.Helper()
	rows, err := db.Query("SELECT out_refund_no, COUNT(*) FROM " + table + "_effects GROUP BY out_refund_no")
	require.NoError(t, err)
	defer func() { _ = rows.Close() }() // rows.Err reports a failed read
	got := map[string]int{}
	for rows.Next() {
		var no string
		var n int
		require.NoError(t, rows.Scan(&no, &n))
		got[no] = n
	}
	require.NoError(t, rows.Err())
	return got
}

// setupShared creates the store's table and the effects table for the
// instances, dropped when the test ends.
func setupShared(t *testing.T, b backend, db *sql.DB) string {
	t.Helper()
	table := uniqueTable("wxxp")
	s, err := New(db, b.dialect, WithTable(table))
	require.NoError(t, err)
	require.NoError(t, s.CreateTable(context.Background()))
	_, err = db.Exec("CREATE TABLE " + table + "_effects (out_refund_no VARCHAR(64) NOT NULL, pid INTEGER NOT NULL)")
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = db.Exec("DROP TABLE " + table)
		_, _ = db.Exec("DROP TABLE " + table + "_effects")
	})
	return table
}

// Three processes share one database; every notification is delivered at
// least three times, concurrently, to different processes, and again
// after each refusal, as WeChat Pay does: the handler runs exactly once per
// notification, and every delivery ends acknowledged.
func TestAcrossProcesses(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db := b.open(t)
			table := setupShared(t, b, db)
			var instances []*instance
			for range 3 {
				instances = append(instances, startInstance(t, b, table, time.Minute, ""))
			}
			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}, Timeout: 30 * time.Second}
			t.Cleanup(hc.CloseIdleConnections)

			const copies = 3
			n := xpNotifications
			type delivery struct {
				no   string
				body []byte
				to   int
			}
			work := make(chan delivery)
			var deliveries, refused, errs atomic.Int64
			var wg sync.WaitGroup
			for range 24 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for d := range work {
						for attempt := 0; ; attempt++ {
							deliveries.Add(1)
							ok, err := deliver(hc, instances[(d.to+attempt)%len(instances)].url, d.body)
							if err != nil {
								errs.Add(1)
							}
							if ok {
								break
							}
							refused.Add(1)
							if attempt == 200 {
								t.Errorf("%s never acknowledged", d.no)
								break
							}
							time.Sleep(time.Duration(attempt+1) * 2 * time.Millisecond) // WeChat Pay waits longer
						}
					}
				}()
			}
			start := time.Now()
			for i := range n {
				no := fmt.Sprintf("RF%06d", i)
				body := xpBody(t, no)
				for j := range copies {
					work <- delivery{no, body, i + j}
				}
			}
			close(work)
			wg.Wait()
			elapsed := time.Since(start)

			got := effects(t, db, table)
			require.Len(t, got, n)
			calls := 0
			for no, k := range got {
				calls += k
				require.Equal(t, 1, k, "%s took effect %d times", no, k)
			}
			assert.Zero(t, errs.Load(), "transport errors")
			t.Logf("%s: %d notifications, %d deliveries (%d refused while claimed), %d handler calls, 3 processes, %v",
				b.name, n, deliveries.Load(), refused.Load(), calls, elapsed.Round(time.Millisecond))
		})
	}
}

// An instance killed (SIGKILL) inside the handler leaves its claim; a later
// delivery to another instance is refused until the lease ends, then takes
// the claim over and processes the notification once.
func TestKilledInsideTheHandler(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			db := b.open(t)
			table := setupShared(t, b, db)
			const lease = 3 * time.Second
			doomed := startInstance(t, b, table, lease, "RF-CRASH")
			survivor := startInstance(t, b, table, lease, "")
			body := xpBody(t, "RF-CRASH")
			hc := &http.Client{Timeout: 30 * time.Second}

			sent := time.Now() // the claim is made after this
			go func() { _, _ = deliver(hc, doomed.url, body) }()
			require.Equal(t, "inside RF-CRASH", doomed.line(t))
			require.NoError(t, doomed.cmd.Process.Signal(syscall.SIGKILL))
			<-doomed.done

			ok, err := deliver(hc, survivor.url, body)
			require.NoError(t, err)
			if time.Since(sent) < lease/2 { // surely within the lease, however slow the machine
				assert.False(t, ok, "refused while the dead instance's claim holds")
			}
			deadline := time.Now().Add(30 * time.Second)
			for !ok && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
				ok, err = deliver(hc, survivor.url, body)
				require.NoError(t, err)
			}
			require.True(t, ok, "never taken over")
			// Not before the lease ended (the store keeps milliseconds).
			assert.GreaterOrEqual(t, time.Since(sent), lease-time.Millisecond, "taken over before the lease ended")
			assert.Equal(t, map[string]int{"RF-CRASH": 1}, effects(t, db, table))
			ok, err = deliver(hc, survivor.url, body)
			require.NoError(t, err)
			assert.True(t, ok, "a later delivery is acknowledged")
			assert.Equal(t, map[string]int{"RF-CRASH": 1}, effects(t, db, table), "and not processed again")
		})
	}
}

// Through NotifyHandler, a database that fails: a handler that failed is
// never recorded as done, and a notification done is never processed
// again.
func TestHandlerWithFailingDatabase(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			db := b.open(t)
			s, _ := newStore(t, b, db)
			s.now = time.Now
			c, err := wxrefund.NewClient(xpAppID, xpMchID, xpAPIKey)
			require.NoError(t, err)
			var calls atomic.Int64
			fail := atomic.Bool{}
			h := c.NotifyHandler(func(context.Context, *wxrefund.RefundNotification) error {
				calls.Add(1)
				if fail.Load() {
					return errors.New("the merchant's own write failed")
				}
				return nil
			}, wxrefund.WithNotifyStore(s))
			srv := &http.Server{Handler: h}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			go func() { _ = srv.Serve(ln) }()
			t.Cleanup(func() { _ = srv.Close() })
			url := "http://" + ln.Addr().String()
			hc := &http.Client{Timeout: 10 * time.Second}

			// fn fails: not recorded, processed at the next delivery.
			fail.Store(true)
			ok, err := deliver(hc, url, xpBody(t, "RF1"))
			require.NoError(t, err)
			assert.False(t, ok)
			key := "wxrefund:" + xpMchID + "::RF1:SUCCESS"
			done, err := s.Processed(ctx, key)
			require.NoError(t, err)
			assert.False(t, done, "a failed handler is never recorded as done")
			fail.Store(false)
			ok, _ = deliver(hc, url, xpBody(t, "RF1"))
			assert.True(t, ok)
			done, _ = s.Processed(ctx, key)
			assert.True(t, done)
			ok, _ = deliver(hc, url, xpBody(t, "RF1"))
			assert.True(t, ok)
			assert.EqualValues(t, 2, calls.Load(), "a done notification is not processed again")

			// The database goes away: FAIL, fn not called.
			require.NoError(t, db.Close())
			ok, err = deliver(hc, url, xpBody(t, "RF2"))
			require.NoError(t, err)
			assert.False(t, ok)
			assert.EqualValues(t, 2, calls.Load())
		})
	}
}

// xpNotifications is how many notifications TestAcrossProcesses sends (see
// race_test.go).
var xpNotifications = func() int {
	if n, err := strconv.Atoi(os.Getenv("SQLSTORE_TEST_NOTIFICATIONS")); err == nil && n > 0 {
		return n
	}
	return xpDefaultNotifications
}()
