// Command cluster shows "many instances, one truth": several instances of
// a merchant's backend behind a load balancer, sharing one database through
// package sqlstore, against the fake WeChat Pay of package wxrefundtest,
// in-process.
//
//	go run ./examples/cluster                     # SQLite, in a temporary file
//	go run ./examples/cluster -dialect mysql -dsn "$SQLSTORE_MYSQL_DSN"
//	go run ./examples/cluster -dialect postgres -dsn "$SQLSTORE_POSTGRES_DSN"
//
// It plays a crash before start-up (refunds recorded "sent" whose requests
// WeChat Pay applied with the answer lost, never received, or holds with
// other amounts), starts the instances (NotifyHandler on a sqlstore.Store)
// behind a round-robin reverse proxy, runs the start-up sweep
// (Client.ResolveRefund) over the rows left "sent", completes the refunds,
// redelivers notifications and delivers one to every instance at once.
// Then it checks that every refund exists once at WeChat Pay, that each
// notification's handler ran exactly once across the instances, that the
// conflicting refund was left for a person, and that every delivery was
// acknowledged. It exits 0 when all holds, 1 on any inconsistency, 2 on bad
// flags. See README.md.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/sqlstore"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	err := run(ctx, os.Stdout, os.Args[1:])
	cancel()
	var usage usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "cluster failed:", err)
		os.Exit(1)
	}
}

// usageError is a bad command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// backend is a database the program runs against.
type backend struct {
	driver  string // the database/sql driver's name
	dialect sqlstore.Dialect
}

var backends = map[string]backend{
	"sqlite":   {"sqlite", sqlstore.SQLite},
	"mysql":    {"mysql", sqlstore.MySQL},
	"postgres": {"pgx", sqlstore.Postgres},
}

// options are the command line's.
type options struct {
	dialect   string
	dsn       string
	instances int
}

func parseFlags(w io.Writer, args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(w)
	fs.StringVar(&o.dialect, "dialect", "sqlite", "the database: sqlite, mysql (MySQL or MariaDB) or postgres")
	fs.StringVar(&o.dsn, "dsn", "", "the database's data source name (default for sqlite: a file in a temporary folder, removed at the end)")
	fs.IntVar(&o.instances, "instances", 3, "how many merchant instances share the database (1 to 16)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usageError{err.Error()}
	}
	switch {
	case fs.NArg() > 0:
		return o, usageError{fmt.Sprintf("unexpected arguments: %q", fs.Args())}
	case backends[o.dialect].driver == "":
		return o, usageError{fmt.Sprintf("-dialect %q: want sqlite, mysql or postgres", o.dialect)}
	case o.dsn == "" && o.dialect != "sqlite":
		return o, usageError{fmt.Sprintf("-dialect %s needs -dsn (see README.md)", o.dialect)}
	case o.instances < 1 || o.instances > 16:
		return o, usageError{fmt.Sprintf("-instances %d: want 1 to 16", o.instances)}
	}
	return o, nil
}

// The merchant's orders, and the refunds of the story.
const (
	ordOne, ordTwo, ordThree = "ORD1", "ORD2", "ORD3"

	rfLost     = "RF1001" // applied by WeChat Pay, its answer lost (SYSTEMERROR)
	rfDropped  = "RF1002" // applied by WeChat Pay, the connection dropped before the answer
	rfReset    = "RF2001" // the connection reset before WeChat Pay received it
	rfUnsent   = "RF2002" // never sent: the process died first
	rfConflict = "RF3001" // WeChat Pay has it with other amounts
	rfLive     = "RF3002" // made after start-up; delivered to every instance at once

	conflictFee       = 1500 // what the merchant's row says of rfConflict
	conflictFeeWeChat = 1000 // what WeChat Pay has

	stateSent     = "sent"
	stateAccepted = "accepted"
	stateReview   = "review" // a person must look: the row and WeChat Pay disagree

	notifyPath = "/wxpay/refund-notify"
)

var orders = []wxrefundtest.Order{
	{OutTradeNo: ordOne, TotalFee: 10000},
	{OutTradeNo: ordTwo, TotalFee: 8000},
	{OutTradeNo: ordThree, TotalFee: 5000},
}

// The final status each refund is completed with.
var finalStatus = map[string]wxrefund.RefundStatus{
	rfLost:     wxrefund.RefundStatusSuccess,
	rfDropped:  wxrefund.RefundStatusSuccess,
	rfReset:    wxrefund.RefundStatusSuccess,
	rfUnsent:   wxrefund.RefundStatusClosed,
	rfConflict: wxrefund.RefundStatusSuccess,
	rfLive:     wxrefund.RefundStatusSuccess,
}

// The sweep's outcome for each row left "sent".
var wantSweep = map[string]string{
	rfLost:     "found",
	rfDropped:  "found",
	rfReset:    "sent",
	rfUnsent:   "sent",
	rfConflict: "conflict",
}

func run(ctx context.Context, w io.Writer, args []string) (err error) {
	o, err := parseFlags(w, args)
	if err != nil {
		return err
	}
	step := func(format string, args ...any) { fmt.Fprintf(w, "• "+format+"\n", args...) }
	line := func(format string, args ...any) { fmt.Fprintf(w, "    "+format+"\n", args...) }
	var problems []string
	problem := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		problems = append(problems, msg)
		line("INCONSISTENT: %s", msg)
	}
	be := backends[o.dialect]

	// 1. The database: the notify store's table and the merchant's own
	// table of refunds, both with names of this run (dropped at the end),
	// so that runs sharing a database never meet.
	dsn := o.dsn
	if dsn == "" {
		dir, err := os.MkdirTemp("", "wxrefund-cluster-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(dir) }() // best effort: a directory under the system's temporary one
		// WAL, and waiting up to 10 s for another writer's lock: several
		// connections write the file at once.
		dsn = "file:" + filepath.Join(dir, "cluster.db") + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"
	}
	openDB := func() (*sql.DB, error) {
		db, err := sql.Open(be.driver, dsn)
		if err != nil {
			return nil, fmt.Errorf("open the %s database: %w", o.dialect, err)
		}
		if err := db.PingContext(ctx); err != nil {
			_ = db.Close() // the ping's error is the one to report
			return nil, fmt.Errorf("connect to the %s database: %w", o.dialect, err)
		}
		return db, nil
	}
	db, err := openDB()
	if err != nil {
		return err
	}
	defer func() { _ = db.Close() }() // every statement has completed by then: Close only ends connections
	suffix := randomHex(6)
	notifyTable, refundTable := "cluster_notify_"+suffix, "cluster_refunds_"+suffix
	setupStore, err := sqlstore.New(db, be.dialect, sqlstore.WithTable(notifyTable))
	if err != nil {
		return err
	}
	m := &merchant{db: db, dialect: o.dialect, table: refundTable}
	defer func() {
		// Drop both tables, even when ctx has ended.
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, t := range []string{notifyTable, refundTable} {
			if _, derr := db.ExecContext(cctx, "DROP TABLE IF EXISTS "+t); derr != nil && err == nil {
				err = fmt.Errorf("drop table %s: %w", t, derr)
			}
		}
	}()
	if err := setupStore.CreateTable(ctx); err != nil {
		return err
	}
	if err := m.createTable(ctx); err != nil {
		return err
	}
	step("database: %s; notify store %s; the merchant's refunds in table %s", o.dialect, setupStore, refundTable)

	// 2. The fake WeChat Pay, with paid orders and a short notify schedule
	// (WeChat Pay's own spans a day). The load balancer's address is fixed
	// before anything runs: it is the notify URL every refund carries.
	fake, err := wxrefundtest.NewServer(wxrefundtest.WithNotifySchedule(
		20*time.Millisecond, 50*time.Millisecond, 100*time.Millisecond, 200*time.Millisecond, 500*time.Millisecond))
	if err != nil {
		return fmt.Errorf("start the fake WeChat Pay: %w", err)
	}
	defer fake.Close()
	for _, ord := range orders {
		if err := fake.AddOrder(ord); err != nil {
			return fmt.Errorf("add order %s: %w", ord.OutTradeNo, err)
		}
	}
	lbListener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen for the load balancer: %w", err)
	}
	defer func() { _ = lbListener.Close() }() // for the returns before Serve; lbServer.Close closes it too
	notifyURL := "http://" + lbListener.Addr().String() + notifyPath
	step("fake WeChat Pay at %s with orders %s (10000 fen), %s (8000), %s (5000); notify URL %s (the load balancer)",
		fake.URL(), ordOne, ordTwo, ordThree, notifyURL)

	// 3. Before start-up, the previous process wrote refunds "sent", sent
	// them and died before it learnt (or recorded) their outcome.
	prev, err := newClient(fake)
	if err != nil {
		return err
	}
	step("before the crash, the previous process recorded 5 refunds \"sent\":")
	crash := []struct {
		no, order   string
		total, fee  int64
		what        string
		inject      func()
		send        bool
		wechatFee   int64 // > 0: WeChat Pay already has the number with this refund_fee
		wantApplied bool
	}{
		{rfLost, ordOne, 10000, 2000, "WeChat Pay applied it; its answer was lost (SYSTEMERROR)",
			func() { fake.LoseNext(wxrefund.CodeSystemError, 1) }, true, 0, true},
		{rfDropped, ordOne, 10000, 3000, "WeChat Pay applied it; the connection dropped before the answer",
			func() { fake.LoseNext("", 1) }, true, 0, true},
		{rfReset, ordTwo, 8000, 5000, "the connection was reset before WeChat Pay received it",
			func() {
				fake.FaultNext(wxrefundtest.DomainPrimary, wxrefundtest.PathRefund, wxrefundtest.ResetFault(), 1)
			}, true, 0, false},
		{rfUnsent, ordTwo, 8000, 1000, "never sent: the process died first", nil, false, 0, false},
		{rfConflict, ordThree, 5000, conflictFee, fmt.Sprintf("WeChat Pay already has %s, for %d fen: the number was reused", rfConflict, conflictFeeWeChat),
			nil, false, conflictFeeWeChat, true},
	}
	for _, r := range crash {
		if r.wechatFee > 0 {
			// An earlier refund under the same number, answered and
			// forgotten: the row below says another amount.
			if _, err := prev.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: r.order, OutRefundNo: r.no,
				TotalFee: r.total, RefundFee: r.wechatFee, NotifyURL: notifyURL}); err != nil {
				return fmt.Errorf("the earlier refund %s: %w", r.no, err)
			}
		}
		if err := m.insert(ctx, refundRow{OutRefundNo: r.no, OutTradeNo: r.order, TotalFee: r.total, RefundFee: r.fee, State: stateSent}); err != nil {
			return err
		}
		outcome := ""
		if r.send {
			r.inject()
			_, err := prev.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: r.order, OutRefundNo: r.no,
				TotalFee: r.total, RefundFee: r.fee, NotifyURL: notifyURL})
			if !errors.Is(err, wxrefund.ErrOutcomeUnknown) {
				return fmt.Errorf("refund %s: want an unknown outcome, got %v", r.no, err)
			}
			outcome = ": the client saw an unknown outcome"
		}
		if _, applied := fake.RefundState(r.no); applied != r.wantApplied {
			return fmt.Errorf("refund %s: the fake has it: %t, want %t", r.no, applied, r.wantApplied)
		}
		line("%s (%s, %d of %d fen): %s%s", r.no, r.order, r.fee, r.total, r.what, outcome)
	}
	for _, rq := range fake.Requests() {
		if rq.Fault != "" {
			line("(the fake's log: a request to %s met the fault %q)", rq.Path, rq.Fault)
		}
	}
	step("the process crashed: WeChat Pay has %d of the 5 refunds; the merchant's rows say \"sent\" for all 5", countRefunds(fake))

	// 4. N instances, each with its own connection pool, client and
	// NotifyHandler on a sqlstore.Store over the shared table; a
	// round-robin reverse proxy in front.
	tl := &tally{calls: map[string][]int{}}
	var insts []*instance
	defer func() {
		for _, in := range insts {
			in.close()
		}
	}()
	for i := 1; i <= o.instances; i++ {
		in, err := startInstance(i, fake, be, notifyTable, openDB, m, tl)
		if err != nil {
			return err
		}
		insts = append(insts, in)
	}
	lb := newBalancer(insts)
	lbServer := &http.Server{Handler: lb, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = lbServer.Serve(lbListener) }() // http.ErrServerClosed, once the deferred Close runs
	defer func() { _ = lbServer.Close() }()
	defer lb.transport.CloseIdleConnections()
	addrs := make([]string, len(insts))
	for i, in := range insts {
		addrs[i] = in.url
	}
	step("%d instances started: %s; the load balancer sends to them in turn", len(insts), strings.Join(addrs, ", "))

	// 5. The start-up sweep (instance 1 runs it): every row still "sent" is
	// resolved with the request it records. ResolveRefund never makes a
	// refund twice: the lost answers are found, what WeChat Pay never
	// received is sent now, and a number it holds with other amounts is a
	// conflict, sent nowhere and left for a person.
	sent, err := m.withState(ctx, stateSent)
	if err != nil {
		return err
	}
	step("start-up sweep: %d rows \"sent\"", len(sent))
	for _, r := range sent {
		req := &wxrefund.RefundRequest{OutTradeNo: r.OutTradeNo, OutRefundNo: r.OutRefundNo,
			TotalFee: r.TotalFee, RefundFee: r.RefundFee, NotifyURL: notifyURL}
		res, err := insts[0].client.ResolveRefund(ctx, req)
		var conflict *wxrefund.RefundConflictError
		outcome := ""
		switch {
		case errors.As(err, &conflict):
			outcome = "conflict"
			if err := m.advance(ctx, r.OutRefundNo, stateReview, stateSent); err != nil {
				return err
			}
			line("%s: CONFLICT: WeChat Pay has it with %s %s, not the %s recorded; nothing sent; row marked %q for a person",
				r.OutRefundNo, conflict.Field, conflict.Found, conflict.Requested, stateReview)
		case err != nil:
			// A failed lookup (IsRetryable): the row stays "sent" for the
			// next sweep. Here it is an inconsistency: the fake answers.
			problem("%s: the sweep failed: %v", r.OutRefundNo, err)
			continue
		case res.Sent:
			outcome = "sent"
			if err := m.advance(ctx, r.OutRefundNo, stateAccepted, stateSent); err != nil {
				return err
			}
			line("%s: WeChat Pay had no such refund: sent now, accepted as %s; row %q", r.OutRefundNo, res.Refund.RefundID, stateAccepted)
		default:
			outcome = "found"
			if err := m.advance(ctx, r.OutRefundNo, stateAccepted, stateSent); err != nil {
				return err
			}
			line("%s: found at WeChat Pay (%s, %s, %d fen): the lost request had been applied; row %q",
				r.OutRefundNo, res.Refund.RefundID, res.Refund.Status, res.Refund.RefundFee, stateAccepted)
		}
		if want := wantSweep[r.OutRefundNo]; outcome != want {
			problem("%s: the sweep %s it, want %s", r.OutRefundNo, outcome, want)
		}
	}
	step("after the sweep WeChat Pay has %d refunds: each of the 5 once", countRefunds(fake))

	// 6. WeChat Pay completes the refunds and notifies the load balancer.
	completed := []string{rfLost, rfDropped, rfReset, rfUnsent, rfConflict}
	for _, no := range completed {
		if err := fake.Complete(no, finalStatus[no]); err != nil {
			return fmt.Errorf("complete %s: %w", no, err)
		}
	}
	step("WeChat Pay completes the 5 refunds and delivers their notifications")
	for _, no := range completed {
		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		d, err := fake.WaitNotified(wctx, no)
		cancel()
		if err != nil {
			problem("%s: %v", no, err)
			continue
		}
		row, err := m.get(ctx, no)
		if err != nil {
			return err
		}
		line("%s %-11s acknowledged at delivery %d; record ran on instance %s; row: %s, %d fen",
			no, finalStatus[no], d.Attempt, joinInts(tl.of(no)), row.State, row.RefundFee)
	}

	// Duplicates: each redelivery reaches the next instance, which finds
	// the notification processed in the shared table and acknowledges it
	// without calling record.
	for _, no := range []string{rfLost, rfConflict} {
		var by []int
		for range insts {
			before := requestCounts(insts)
			if err := fake.Redeliver(no); err != nil {
				problem("redeliver %s: %v", no, err)
				continue
			}
			after := requestCounts(insts)
			for i := range after {
				if after[i] != before[i] {
					by = append(by, i+1)
				}
			}
		}
		step("redelivered %s %s: acknowledged by instances %s; record ran %s in all, on instance %s",
			no, times(len(insts)), joinInts(by), times(len(tl.of(no))), joinInts(tl.of(no)))
	}

	// One notification delivered to every instance at the same moment: a
	// refund made now, with no notify URL (so the fake sends nothing), whose
	// notification we POST ourselves.
	if err := m.insert(ctx, refundRow{OutRefundNo: rfLive, OutTradeNo: ordThree, TotalFee: 5000, RefundFee: 2000, State: stateSent}); err != nil {
		return err
	}
	live, err := insts[len(insts)-1].client.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: ordThree, OutRefundNo: rfLive, TotalFee: 5000, RefundFee: 2000})
	if err != nil {
		return fmt.Errorf("refund %s: %w", rfLive, err)
	}
	if err := m.advance(ctx, rfLive, stateAccepted, stateSent); err != nil {
		return err
	}
	if err := fake.Complete(rfLive, finalStatus[rfLive]); err != nil {
		return fmt.Errorf("complete %s: %w", rfLive, err)
	}
	body, err := notificationBody(fake, rfLive)
	if err != nil {
		return err
	}
	step("%s (%s, 2000 fen) accepted as %s and completed; its notification goes to all %d instances at once:",
		rfLive, ordThree, live.RefundID, len(insts))
	// The instance that wins the claim takes its time in record: until the
	// others have answered (at most 5 s), as a slow database would.
	base := answeredCount(insts)
	tl.hold(rfLive, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		for answeredCount(insts)-base < int64(len(insts)-1) && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
	})
	first := deliverToAll(ctx, insts, body)
	acked := 0
	for i, rep := range first {
		line("instance %d: %s", i+1, rep)
		if rep.ok() {
			acked++
		}
	}
	if acked == 0 {
		problem("%s: no instance acknowledged the simultaneous delivery", rfLive)
	}
	line("%d acknowledged: the one that claimed it ran record; %d answered FAIL while it was being processed (WeChat Pay delivers again)",
		acked, len(insts)-acked)
	again := deliverToAll(ctx, insts, body)
	acked = 0
	for i, rep := range again {
		if rep.ok() {
			acked++
		} else {
			problem("%s: instance %d answered the repeat with %s", rfLive, i+1, rep)
		}
	}
	line("the same body again to all %d at once: %d acknowledged, as processed", len(insts), acked)
	line("record ran %s for %s, on instance %s", times(len(tl.of(rfLive))), rfLive, joinInts(tl.of(rfLive)))

	// 7. The summary and the checks.
	rows, err := m.all(ctx)
	if err != nil {
		return err
	}
	var atFake []wxrefundtest.RefundState
	for _, ord := range orders {
		atFake = append(atFake, fake.Refunds(ord.OutTradeNo)...)
	}
	deliveries := fake.Deliveries()
	dups := 0
	for _, d := range deliveries {
		if d.Duplicate {
			dups++
		}
	}
	step("summary")
	line("notifications: %d (%d delivered by the fake, 1 delivered by hand to every instance, twice)", len(completed)+1, len(completed))
	line("deliveries by the fake: %d (%d scheduled, %d redelivered), %d acknowledged",
		len(deliveries), len(deliveries)-dups, dups, countOK(deliveries))
	for _, in := range insts {
		line("instance %d: %d requests; record ran %s", in.n, in.requests.Load(), times(int(in.calls.Load())))
	}
	for _, r := range rows {
		line("row %s  %s  %5d of %5d fen  %s", r.OutRefundNo, r.OutTradeNo, r.RefundFee, r.TotalFee, r.State)
	}
	for _, c := range verify(world{rows: rows, atFake: atFake, deliveries: deliveries, calls: tl.snapshot(),
		conflictNo: rfConflict, conflictFee: conflictFee}) {
		if c.ok {
			line("check ok: %s", c.what)
		} else {
			problem("check failed: %s", c.what)
		}
	}
	if len(problems) > 0 {
		fmt.Fprintf(w, "cluster: %d inconsistencies\n", len(problems))
		return fmt.Errorf("%d inconsistencies: %s", len(problems), strings.Join(problems, "; "))
	}
	fmt.Fprintln(w, "cluster: OK")
	return nil
}

// newClient is a client of the fake, as each instance has its own.
func newClient(fake *wxrefundtest.Server) (*wxrefund.Client, error) {
	appID, mchID, apiKey := fake.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, apiKey, fake.ClientOptions()...)
	if err != nil {
		return nil, fmt.Errorf("create a client: %w", err)
	}
	return c, nil
}

func countRefunds(fake *wxrefundtest.Server) int {
	n := 0
	for _, ord := range orders {
		n += len(fake.Refunds(ord.OutTradeNo))
	}
	return n
}

func countOK(ds []wxrefundtest.Delivery) int {
	n := 0
	for _, d := range ds {
		if d.OK() {
			n++
		}
	}
	return n
}

func joinInts(ns []int) string {
	if len(ns) == 0 {
		return "(none)"
	}
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}

// times says n times in words.
func times(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return strconv.Itoa(n) + " times"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// instance is one of the merchant's instances: its own connection pool,
// client and notify handler, served on a loopback port.
type instance struct {
	n        int
	db       *sql.DB
	client   *wxrefund.Client
	srv      *http.Server
	url      string        // its base URL
	requests atomic.Int64  // notification requests that reached it
	answered atomic.Int64  // and that it answered
	calls    atomic.Int64  // record calls on it
	done     chan struct{} // closed when Serve returned
}

func startInstance(n int, fake *wxrefundtest.Server, be backend, notifyTable string,
	openDB func() (*sql.DB, error), m *merchant, tl *tally) (*instance, error) {
	db, err := openDB()
	if err != nil {
		return nil, err
	}
	in := &instance{n: n, db: db, done: make(chan struct{})}
	ok := false
	defer func() {
		if !ok {
			_ = db.Close() // the error that stopped the start is the one to report
		}
	}()
	store, err := sqlstore.New(db, be.dialect, sqlstore.WithTable(notifyTable))
	if err != nil {
		return nil, err
	}
	if in.client, err = newClient(fake); err != nil {
		return nil, err
	}
	// The instance writes the merchant's table through its own pool too.
	mine := &merchant{db: db, dialect: m.dialect, table: m.table}
	record := func(ctx context.Context, nt *wxrefund.RefundNotification) error {
		in.calls.Add(1)
		tl.add(nt.OutRefundNo, n)
		tl.wait(ctx, nt.OutRefundNo)
		return mine.record(ctx, nt)
	}
	mux := http.NewServeMux()
	mux.Handle(notifyPath, in.client.NotifyHandler(record,
		wxrefund.WithNotifyStore(store), wxrefund.WithNotifyLease(30*time.Second)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("instance %d: listen: %w", n, err)
	}
	in.url = "http://" + ln.Addr().String()
	in.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.requests.Add(1)
		mux.ServeHTTP(w, r)
		in.answered.Add(1)
	})}
	go func() {
		defer close(in.done)
		_ = in.srv.Serve(ln) // http.ErrServerClosed, once close runs
	}()
	ok = true
	return in, nil
}

// close stops the instance as run returns, when what the Closes could report
// (a listener or connection that failed to close) no longer matters.
func (in *instance) close() {
	_ = in.srv.Close()
	<-in.done
	_ = in.db.Close()
}

func answeredCount(insts []*instance) int64 {
	var n int64
	for _, in := range insts {
		n += in.answered.Load()
	}
	return n
}

func requestCounts(insts []*instance) []int64 {
	out := make([]int64, len(insts))
	for i, in := range insts {
		out[i] = in.requests.Load()
	}
	return out
}

// balancer is the load balancer: a reverse proxy that sends each request
// to the next instance in turn.
type balancer struct {
	*httputil.ReverseProxy
	transport *http.Transport
}

func newBalancer(insts []*instance) *balancer {
	targets := make([]*url.URL, len(insts))
	for i, in := range insts {
		targets[i], _ = url.Parse(in.url) // "http://127.0.0.1:port": always parses
	}
	var next atomic.Uint64
	tr := http.DefaultTransport.(*http.Transport).Clone()
	return &balancer{
		ReverseProxy: &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(targets[(next.Add(1)-1)%uint64(len(targets))])
			},
			Transport: tr,
		},
		transport: tr,
	}
}

// tally counts record's calls: the instances it ran on, per refund.
type tally struct {
	mu    sync.Mutex
	calls map[string][]int
	gates map[string]func(ctx context.Context) // see hold
}

// hold makes record wait, for outRefundNo, until until returns (a slow
// handler, to show what the other instances answer meanwhile).
func (t *tally) hold(outRefundNo string, until func(ctx context.Context)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gates == nil {
		t.gates = map[string]func(context.Context){}
	}
	t.gates[outRefundNo] = until
}

// wait waits as hold asked for outRefundNo.
func (t *tally) wait(ctx context.Context, outRefundNo string) {
	t.mu.Lock()
	gate := t.gates[outRefundNo]
	t.mu.Unlock()
	if gate != nil {
		gate(ctx)
	}
}

func (t *tally) add(outRefundNo string, instance int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls[outRefundNo] = append(t.calls[outRefundNo], instance)
}

func (t *tally) of(outRefundNo string) []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.calls[outRefundNo])
}

func (t *tally) snapshot() map[string][]int {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string][]int, len(t.calls))
	for k, v := range t.calls {
		out[k] = slices.Clone(v)
	}
	return out
}

// notificationBody is the notification WeChat Pay would POST for the final
// refund outRefundNo.
func notificationBody(fake *wxrefundtest.Server, outRefundNo string) ([]byte, error) {
	st, ok := fake.RefundState(outRefundNo)
	if !ok {
		return nil, fmt.Errorf("the fake has no refund %s", outRefundNo)
	}
	return fake.EncryptNotify(wxrefund.RefundNotification{
		TransactionID: st.TransactionID, OutTradeNo: st.OutTradeNo, RefundID: st.RefundID, OutRefundNo: st.OutRefundNo,
		TotalFee: st.TotalFee, RefundFee: st.RefundFee, SettlementRefundFee: st.CashRefundFee,
		Status: st.Status, SuccessTime: st.SuccessTime, RefundAccount: st.RefundAccount, RequestSource: "API",
	})
}

// reply is an instance's answer to a notification.
type reply struct {
	status    int
	code, msg string
	err       error
}

func (r reply) ok() bool { return r.err == nil && r.status == http.StatusOK && r.code == "SUCCESS" }

func (r reply) String() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return fmt.Sprintf("HTTP %d %s %q", r.status, r.code, r.msg)
}

// deliverToAll POSTs body to every instance at the same moment and returns
// their replies, by instance.
func deliverToAll(ctx context.Context, insts []*instance, body []byte) []reply {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	out := make([]reply, len(insts))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, in := range insts {
		wg.Go(func() {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.url+notifyPath, bytes.NewReader(body))
			if err != nil {
				out[i].err = err
				return
			}
			req.Header.Set("Content-Type", "text/xml; charset=utf-8")
			<-start
			resp, err := hc.Do(req)
			if err != nil {
				out[i].err = err
				return
			}
			defer func() { _ = resp.Body.Close() }() // read from, not written to: its Close has nothing to report
			var x struct {
				ReturnCode string `xml:"return_code"`
				ReturnMsg  string `xml:"return_msg"`
			}
			raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			if err == nil {
				err = xml.Unmarshal(raw, &x)
			}
			out[i] = reply{status: resp.StatusCode, code: x.ReturnCode, msg: x.ReturnMsg, err: err}
		})
	}
	close(start)
	wg.Wait()
	return out
}
