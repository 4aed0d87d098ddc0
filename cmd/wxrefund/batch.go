package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-wxpay/wxrefund"
)

// This file is the batch command: many refunds from a CSV, paced, retried,
// and resumable from its results file without ever refunding a row twice.
//
// The results file is the batch's memory, one CSV line appended per event:
// "sending" before a refund request leaves, then "accepted", "failed" or
// "doubt". Run again with the same files, a row whose last line is
// "accepted" or "failed" is skipped, one never sent is sent, and one left
// "sending" or "doubt" (a crash, a lost answer) is settled with
// ResolveRefund, which looks it up and sends the same request only if
// WeChat Pay has none. A line is written with one write call, so a process
// killed at any moment leaves whole lines.

// The states of a batch row.
const (
	stateSending  = "sending"
	stateAccepted = "accepted"
	stateFailed   = "failed"
	stateDoubt    = "doubt"
)

var resultsHeader = []string{"out_refund_no", "state", "refund_id", "refund_fee", "detail", "time"}

// batchRow is one line of the input.
type batchRow struct {
	line int
	req  wxrefund.RefundRequest
}

// readBatch reads the input CSV: a header naming out_refund_no, total_fee,
// refund_fee, out_trade_no and/or transaction_id, and optionally reason.
func readBatch(path string) ([]batchRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErr("cannot read -in: %v", err)
	}
	defer func() { _ = f.Close() }()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, usageErr("-in %s: no header line: %v", path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimPrefix(strings.TrimSpace(strings.ToLower(h)), "\ufeff")] = i
	}
	for _, need := range []string{"out_refund_no", "total_fee", "refund_fee"} {
		if _, ok := col[need]; !ok {
			return nil, usageErr("-in %s: the header must name out_refund_no, total_fee, refund_fee and out_trade_no or transaction_id (optional: reason)", path)
		}
	}
	_, hasTrade := col["out_trade_no"]
	_, hasTxn := col["transaction_id"]
	if !hasTrade && !hasTxn {
		return nil, usageErr("-in %s: the header must name out_trade_no or transaction_id", path)
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var rows []batchRow
	seen := map[string]int{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, usageErr("-in %s: %v", path, err)
		}
		total, err1 := strconv.ParseInt(get(rec, "total_fee"), 10, 64)
		fee, err2 := strconv.ParseInt(get(rec, "refund_fee"), 10, 64)
		if err1 != nil || err2 != nil {
			return nil, usageErr("-in %s, line %d: total_fee and refund_fee must be whole fen", path, line)
		}
		no := get(rec, "out_refund_no")
		if first, dup := seen[no]; dup {
			return nil, usageErr("-in %s, line %d: out_refund_no %s already on line %d: each refund once", path, line, no, first)
		}
		seen[no] = line
		rows = append(rows, batchRow{line, wxrefund.RefundRequest{OutRefundNo: no, OutTradeNo: get(rec, "out_trade_no"),
			TransactionID: get(rec, "transaction_id"), TotalFee: total, RefundFee: fee, RefundDesc: get(rec, "reason")}})
	}
}

// readResults reads the last state of each row from the results file, if
// it exists. Each record is one line; a line that does not parse (the torn
// last line of a run that died writing it) is passed over, so its row keeps
// its state before, which is never final: it is looked up. A state other
// than accepted or failed counts as in doubt.
func readResults(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, usageErr("cannot read -results: %v", err)
	}
	defer func() { _ = f.Close() }()
	states := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		rec, err := csv.NewReader(strings.NewReader(sc.Text())).Read()
		if err == nil && len(rec) >= 2 && rec[0] != "out_refund_no" {
			states[rec[0]] = rec[1]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, usageErr("-results %s: %v (it is this command's own file: do not edit it)", path, err)
	}
	return states, nil
}

// resultsFile appends lines to the results file, one write each.
type resultsFile struct {
	mu sync.Mutex
	f  *os.File
}

func openResults(path string) (*resultsFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, usageErr("cannot write -results: %v", err)
	}
	rf := &resultsFile{f: f}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, usageErr("cannot write -results: %v", err)
	}
	switch {
	case st.Size() == 0:
		if err := rf.write(resultsHeader); err != nil {
			_ = f.Close()
			return nil, err
		}
	case !endsWithNewline(path, st.Size()):
		// A partial last line (a full disk, a hand edit): end it, so that
		// the next line stands on its own.
		if _, err := f.WriteString("\n"); err != nil {
			_ = f.Close()
			return nil, failf(exitFailed, "writing -results: %v", err)
		}
	}
	return rf, nil
}

// lineBreaks turns each line break in a field into a space.
var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")

// write appends one CSV line with one write call.
func (rf *resultsFile) write(fields []string) error {
	// One line per record, whatever a field holds (readResults reads
	// line by line).
	oneLine := make([]string, len(fields))
	for i, f := range fields {
		oneLine[i] = lineBreaks.Replace(f)
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	if err := w.Write(oneLine); err != nil {
		return err
	}
	w.Flush()
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if _, err := rf.f.WriteString(b.String()); err != nil {
		return failf(exitFailed, "writing -results: %v", err)
	}
	return nil
}

func (rf *resultsFile) record(no, state, refundID string, fee int64, detail string) error {
	return rf.write([]string{no, state, refundID, strconv.FormatInt(fee, 10), detail, time.Now().In(wxrefund.ChinaTime).Format(wxrefund.TimeLayout)})
}

// pacer lets one request go every interval: a limiter shared by all of the
// batch's requests (queries, retries and failovers included).
type pacer struct {
	mu       sync.Mutex
	interval time.Duration
	next     time.Time
}

func (p *pacer) Wait(ctx context.Context) error {
	p.mu.Lock()
	now := time.Now()
	at := p.next
	if at.Before(now) {
		at = now
	}
	p.next = at.Add(p.interval)
	p.mu.Unlock()
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// outcome is how a row ended in this run.
type outcome struct {
	state, detail string
}

func runBatch(a *app, args []string) error {
	fs, cf := a.newFlagSet("batch", commandSynopsis("batch"))
	in := fs.String("in", "", "CSV of refunds: out_trade_no or transaction_id, out_refund_no, total_fee, refund_fee (fen), optional reason (required)")
	results := fs.String("results", "", "results CSV, appended row by row; run again with the same file to resume (required)")
	rate := fs.Float64("rate", 20, "requests a second at most, queries and retries included (WeChat Pay allows 150 refunds a second per merchant)")
	workers := fs.Int("workers", 4, "refunds in flight at once")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *in == "" || *results == "":
		return usageErr("-in and -results are required")
	case *rate <= 0 || *rate > 150:
		return usageErr("-rate %g: want more than 0 and at most 150", *rate)
	case *workers < 1 || *workers > 64:
		return usageErr("-workers %d: want 1 to 64", *workers)
	}
	rows, err := readBatch(*in)
	if err != nil {
		return err
	}
	done, err := readResults(*results)
	if err != nil {
		return err
	}
	c, err := a.resolve(cf)
	if err != nil {
		return err
	}
	for i := range rows {
		rows[i].req.SubMchID = c.subMchID
	}
	p := &pacer{interval: time.Duration(float64(time.Second) / *rate)}
	cl, err := c.client(true, c.retry(), wxrefund.WithRateLimiter(p))
	if err != nil {
		return err
	}
	defer cl.CloseIdleConnections()
	out, err := openResults(*results)
	if err != nil {
		return err
	}
	defer func() { _ = out.f.Close() }() // each line had its own checked write

	var todo []batchRow
	skipped := map[string]int{}
	for _, r := range rows {
		switch done[r.req.OutRefundNo] {
		case stateAccepted, stateFailed:
			skipped[done[r.req.OutRefundNo]]++
		default:
			todo = append(todo, r)
		}
	}
	ctx, cancel := context.WithCancel(a.ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		outcomes = map[string]outcome{}
		fatal    error
		finished int
	)
	work := make(chan batchRow)
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				rctx, rcancel := context.WithTimeout(ctx, c.timeout) // -timeout bounds each row's calls
				o, err := a.batchOne(rctx, cl, out, r, done[r.req.OutRefundNo])
				rcancel()
				mu.Lock()
				if err != nil && fatal == nil {
					fatal = err
					cancel()
				}
				if o.state != "" {
					outcomes[r.req.OutRefundNo] = o
				}
				finished++
				if a.interactive {
					a.eprintf("\r%d/%d", finished, len(todo))
				}
				mu.Unlock()
			}
		}()
	}
	for _, r := range todo {
		if ctx.Err() != nil {
			break
		}
		work <- r
	}
	close(work)
	wg.Wait()
	if a.interactive && len(todo) > 0 {
		a.eprintf("\n")
	}
	return a.batchSummary(c, rows, skipped, outcomes, fatal)
}

// batchOne settles one row: a row never sent is sent; one an earlier run
// left "sending" or "doubt" is looked up first and sent only if WeChat Pay
// has none. Only a refund's own final answer, with no unknown outcome
// before it, marks a row failed for good; any other failure leaves it in
// doubt, for the next run. It returns an error only for what stops the
// whole batch (the configuration, an interrupt).
func (a *app) batchOne(ctx context.Context, cl *wxrefund.Client, out *resultsFile, r batchRow, previous string) (outcome, error) {
	req := r.req
	if previous != "" {
		_, err := cl.LookupRefund(ctx, &wxrefund.LookupRefundRequest{OutRefundNo: req.OutRefundNo, SubMchID: req.SubMchID})
		switch {
		case err == nil:
			return a.batchSettle(ctx, cl, out, r) // found: compare it with the row
		case !errors.Is(err, wxrefund.ErrRefundNotExist):
			return a.batchDoubt(ctx, out, r, err) // nothing known
		}
	}
	if err := out.record(req.OutRefundNo, stateSending, "", req.RefundFee, ""); err != nil {
		return outcome{}, err
	}
	resp, err := cl.Refund(ctx, &req)
	switch {
	case err == nil:
		return a.batchAccepted(out, r, resp.RefundID, resp.RefundFee, wxrefund.RefundStatusProcessing, "sent")
	case errors.Is(err, wxrefund.ErrOutcomeUnknown):
		if ctx.Err() != nil {
			return a.batchDoubt(ctx, out, r, err)
		}
		return a.batchSettle(ctx, cl, out, r)
	}
	// The refund's own answer, and nothing unknown before it.
	reason := strings.TrimPrefix(err.Error(), "wxrefund: ")
	switch wxrefund.Classify(err) {
	case wxrefund.FixConfiguration, wxrefund.SendLater, wxrefund.SendAgain:
		return a.batchDoubt(ctx, out, r, err)
	case wxrefund.FixRequest:
		reason = "invalid (line " + strconv.Itoa(r.line) + "): " + reason
	}
	return outcome{stateFailed, reason}, out.record(req.OutRefundNo, stateFailed, "", req.RefundFee, reason)
}

// batchSettle settles a row whose refund may exist, with ResolveRefund:
// found or sent is accepted (a closed refund, failed); another refund under
// the number, failed; anything else, doubt.
func (a *app) batchSettle(ctx context.Context, cl *wxrefund.Client, out *resultsFile, r batchRow) (outcome, error) {
	req := r.req
	res, err := cl.ResolveRefund(ctx, &req)
	var conflict *wxrefund.RefundConflictError
	switch {
	case err == nil:
		detail := "found"
		if res.Sent {
			detail = "sent"
		}
		return a.batchAccepted(out, r, res.Refund.RefundID, res.Refund.RefundFee, res.Refund.Status, detail)
	case errors.As(err, &conflict):
		reason := fmt.Sprintf("out_refund_no taken by another refund (%s %s, not %s)", conflict.Field, conflict.Found, conflict.Requested)
		return outcome{stateFailed, reason}, out.record(req.OutRefundNo, stateFailed, conflict.Refund.Refund.RefundID, req.RefundFee, reason)
	}
	return a.batchDoubt(ctx, out, r, err)
}

// batchAccepted records a refund WeChat Pay has: accepted, unless it was
// closed (it failed; refunding again takes a new out_refund_no) or is
// abnormal (CHANGE: handle it on the merchant platform).
func (a *app) batchAccepted(out *resultsFile, r batchRow, refundID string, fee int64, status wxrefund.RefundStatus, detail string) (outcome, error) {
	no := r.req.OutRefundNo
	switch status {
	case wxrefund.RefundStatusClosed, wxrefund.RefundStatusFail:
		reason := "the refund was closed (" + string(status) + "): refunding again takes a new out_refund_no"
		return outcome{stateFailed, reason}, out.record(no, stateFailed, refundID, fee, reason)
	case wxrefund.RefundStatusChange:
		reason := "the refund is abnormal (CHANGE): handle it on the merchant platform"
		return outcome{stateFailed, reason}, out.record(no, stateFailed, refundID, fee, reason)
	}
	if err := out.record(no, stateAccepted, refundID, fee, detail); err != nil {
		return outcome{stateAccepted, detail}, failf(exitUnknown, "%v (the refund exists: run again to record it)", err)
	}
	return outcome{stateAccepted, detail}, nil
}

// batchDoubt records a row whose outcome is not known; a configuration
// mistake or an interrupt also stops the batch.
func (a *app) batchDoubt(ctx context.Context, out *resultsFile, r batchRow, err error) (outcome, error) {
	reason := strings.TrimPrefix(err.Error(), "wxrefund: ")
	werr := out.record(r.req.OutRefundNo, stateDoubt, "", r.req.RefundFee, reason)
	switch {
	case wxrefund.Classify(err) == wxrefund.FixConfiguration:
		return outcome{stateDoubt, reason}, sdkError(err)
	case ctx.Err() != nil && a.ctx.Err() != nil:
		return outcome{stateDoubt, reason}, failf(exitUnknown, "interrupted: run the same command again to resume")
	}
	return outcome{stateDoubt, reason}, werr
}

// batchSummary prints how the batch stands and returns its exit status.
func (a *app) batchSummary(c *config, rows []batchRow, skipped map[string]int, outcomes map[string]outcome, fatal error) error {
	counts := map[string]int{stateAccepted: skipped[stateAccepted], stateFailed: skipped[stateFailed]}
	reasons := map[string]int{}
	for _, o := range outcomes {
		counts[o.state]++
		if o.state == stateFailed {
			reasons[o.detail]++
		}
	}
	pending := len(rows) - counts[stateAccepted] - counts[stateFailed] - counts[stateDoubt]
	if c.json {
		_ = printJSON(a.stdout, map[string]any{"Rows": len(rows), "Succeeded": counts[stateAccepted], "Failed": counts[stateFailed],
			"InDoubt": counts[stateDoubt] + pending, "FailureReasons": reasons})
	} else {
		a.printf("%d rows: %d succeeded, %d failed, %d in doubt", len(rows), counts[stateAccepted], counts[stateFailed], counts[stateDoubt]+pending)
		if n := skipped[stateAccepted] + skipped[stateFailed]; n > 0 {
			a.printf(" (%d settled by an earlier run)", n)
		}
		a.printf("\n")
		keys := make([]string, 0, len(reasons))
		for k := range reasons {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			a.printf("  failed %d× : %s\n", reasons[k], k)
		}
	}
	switch {
	case fatal != nil:
		return fatal
	case counts[stateDoubt]+pending > 0:
		return failf(exitUnknown, "%d refunds are in doubt: run the same command again later (it settles them without refunding twice)", counts[stateDoubt]+pending)
	case counts[stateFailed] > 0:
		return failf(exitFailed, "%d refunds failed (see the results file)", counts[stateFailed])
	}
	return nil
}

// endsWithNewline reports whether the file at path, of size bytes, ends
// with a newline.
func endsWithNewline(path string, size int64) bool {
	f, err := os.Open(path)
	if err != nil {
		return true
	}
	defer func() { _ = f.Close() }()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, size-1); err != nil {
		return true
	}
	return b[0] == '\n'
}
