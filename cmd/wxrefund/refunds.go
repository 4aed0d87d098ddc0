package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/go-wxpay/wxrefund"
)

// This file holds the commands about single refunds: query, resolve and
// refund.

// recordRow is a refund as query, resolve and refund print it.
func recordRow(r wxrefund.RefundRecord) []string {
	success := ""
	if !r.SuccessTime.IsZero() {
		success = r.SuccessTime.In(wxrefund.ChinaTime).Format(wxrefund.TimeLayout)
	}
	return []string{r.OutRefundNo, r.RefundID, string(r.Status), yuan(r.RefundFee), yuan(r.SettlementRefundFee),
		yuan(r.CouponRefundFee), success, r.RecvAccount}
}

var recordHeaders = []string{"out_refund_no", "refund_id", "status", "refund", "settlement", "coupon", "success_time", "received_by"}

func runQuery(a *app, args []string) error {
	fs, cf := a.newFlagSet("query", commandSynopsis("query"))
	outRefundNo := fs.String("out-refund-no", "", "the merchant's refund number")
	refundID := fs.String("refund-id", "", "WeChat Pay's refund id")
	outTradeNo := fs.String("out-trade-no", "", "the merchant's order number: every refund of the order")
	transactionID := fs.String("transaction-id", "", "WeChat Pay's order id: every refund of the order")
	if err := parse(fs, args); err != nil {
		return err
	}
	set := 0
	for _, v := range []string{*outRefundNo, *refundID, *outTradeNo, *transactionID} {
		if v != "" {
			set++
		}
	}
	if set != 1 {
		return usageErr("give exactly one of -out-refund-no, -refund-id, -out-trade-no and -transaction-id")
	}
	c, err := a.resolve(cf)
	if err != nil {
		return err
	}
	cl, err := c.client(false)
	if err != nil {
		return err
	}
	defer cl.CloseIdleConnections()
	ctx, cancel := a.callContext(c)
	defer cancel()
	var records []wxrefund.RefundRecord
	if *outRefundNo != "" || *refundID != "" {
		found, err := cl.LookupRefund(ctx, &wxrefund.LookupRefundRequest{OutRefundNo: *outRefundNo, RefundID: *refundID, SubMchID: c.subMchID})
		if errors.Is(err, wxrefund.ErrRefundNotExist) {
			return failf(exitFailed, "WeChat Pay has no such refund (REFUNDNOTEXIST): it was never accepted")
		}
		if err != nil {
			return err
		}
		if c.json {
			return printJSON(a.stdout, found)
		}
		a.printf("order %s (transaction_id %s), %s yuan\n", found.OutTradeNo, found.TransactionID, yuan(found.TotalFee))
		a.table(recordHeaders, [][]string{recordRow(found.Refund)})
		return nil
	}
	for r, err := range cl.AllRefunds(ctx, &wxrefund.QueryRefundRequest{OutTradeNo: *outTradeNo, TransactionID: *transactionID, SubMchID: c.subMchID}) {
		if errors.Is(err, wxrefund.ErrRefundNotExist) {
			return failf(exitFailed, "WeChat Pay has no refund of that order (REFUNDNOTEXIST)")
		}
		if err != nil {
			return err
		}
		records = append(records, r)
	}
	if c.json {
		for _, r := range records {
			if err := printJSON(a.stdout, r); err != nil {
				return err
			}
		}
		return nil
	}
	rows := make([][]string, len(records))
	var total int64
	for i, r := range records {
		rows[i] = recordRow(r)
		total += r.RefundFee
	}
	a.table(recordHeaders, rows)
	a.printf("%d refunds, %s yuan\n", len(records), yuan(total))
	return nil
}

// refundFlags are the flags of a refund request, shared by resolve and
// refund.
type refundFlags struct {
	outRefundNo, outTradeNo, transactionID, desc, notifyURL *string
	total, refund                                           *int64
}

func addRefundFlags(a *app, name string) (*flag.FlagSet, *refundFlags, *configFlags) {
	fs, cf := a.newFlagSet(name, commandSynopsis(name))
	rf := &refundFlags{
		outRefundNo:   fs.String("out-refund-no", "", "the merchant's refund number: the idempotency key (required)"),
		outTradeNo:    fs.String("out-trade-no", "", "the merchant's order number (or -transaction-id)"),
		transactionID: fs.String("transaction-id", "", "WeChat Pay's order id (or -out-trade-no)"),
		total:         fs.Int64("total", 0, "the order's total, fen (required)"),
		refund:        fs.Int64("refund", 0, "the amount to refund, fen (required)"),
		desc:          fs.String("desc", "", "reason shown to the payer"),
		notifyURL:     fs.String("notify-url", "", "where WeChat Pay posts the result"),
	}
	return fs, rf, cf
}

func (rf *refundFlags) request(c *config) *wxrefund.RefundRequest {
	return &wxrefund.RefundRequest{OutRefundNo: *rf.outRefundNo, OutTradeNo: *rf.outTradeNo, TransactionID: *rf.transactionID,
		TotalFee: *rf.total, RefundFee: *rf.refund, RefundDesc: *rf.desc, NotifyURL: *rf.notifyURL, SubMchID: c.subMchID}
}

func runResolve(a *app, args []string) error {
	fs, rf, cf := addRefundFlags(a, "resolve")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := a.resolve(cf)
	if err != nil {
		return err
	}
	cl, err := c.client(true, c.retry())
	if err != nil {
		return err
	}
	defer cl.CloseIdleConnections()
	ctx, cancel := a.callContext(c)
	defer cancel()
	return a.settle(ctx, c, cl, rf.request(c))
}

// settle runs ResolveRefund and reports.
func (a *app) settle(ctx context.Context, c *config, cl *wxrefund.Client, req *wxrefund.RefundRequest) error {
	res, err := cl.ResolveRefund(ctx, req)
	var conflict *wxrefund.RefundConflictError
	if errors.As(err, &conflict) {
		if c.json {
			_ = printJSON(a.stdout, map[string]any{"Outcome": "conflict", "Field": conflict.Field,
				"Requested": conflict.Requested, "Found": conflict.Found, "Refund": conflict.Refund})
		}
		return &exitError{code: exitFailed, err: err, msg: fmt.Sprintf(
			"refund %s exists with %s %s, not %s: nothing was sent; check your records (never reuse an out_refund_no for another refund)",
			req.OutRefundNo, conflict.Field, conflict.Found, conflict.Requested)}
	}
	if err != nil {
		return err
	}
	outcome := "found"
	if res.Sent {
		outcome = "sent"
	}
	var closed string
	switch res.Refund.Status {
	case wxrefund.RefundStatusClosed, wxrefund.RefundStatusFail:
		outcome, closed = "closed", "WeChat Pay has this refund, but it was closed ("+string(res.Refund.Status)+"): nothing was sent; refunding again takes a new out_refund_no"
	case wxrefund.RefundStatusChange:
		outcome, closed = "abnormal", "WeChat Pay has this refund, but it is abnormal (CHANGE): nothing was sent; handle it on the merchant platform"
	}
	if c.json {
		if err := printJSON(a.stdout, map[string]any{"Outcome": outcome, "Refund": res.RefundLookup}); err != nil {
			return err
		}
	} else {
		if closed == "" {
			if res.Sent {
				a.printf("%s\n", "WeChat Pay had no such refund: sent the same request now, accepted")
			} else {
				a.printf("%s\n", "WeChat Pay has this refund, as requested: nothing was sent")
			}
		}
		a.table(recordHeaders, [][]string{recordRow(res.Refund)})
	}
	if closed != "" {
		return failf(exitFailed, "%s", closed)
	}
	return nil
}

func runRefund(a *app, args []string) error {
	fs, rf, cf := addRefundFlags(a, "refund")
	yes := fs.Bool("yes", false, "do not ask for confirmation")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := a.resolve(cf)
	if err != nil {
		return err
	}
	req := rf.request(c)
	if !*yes {
		if !a.interactive {
			return usageErr("refund asks for confirmation: run it at a terminal, or add -yes")
		}
		order := req.OutTradeNo
		if order == "" {
			order = req.TransactionID
		}
		a.eprintf("Refund %s yuan of order %s (total %s yuan) as %s? Type yes: ", yuan(req.RefundFee), order, yuan(req.TotalFee), req.OutRefundNo)
		line, _ := bufio.NewReader(a.stdin).ReadString('\n')
		if strings.TrimSpace(line) != "yes" {
			return failf(exitFailed, "not confirmed: nothing was sent")
		}
	}
	cl, err := c.client(true, c.retry())
	if err != nil {
		return err
	}
	defer cl.CloseIdleConnections()
	ctx, cancel := a.callContext(c)
	defer cancel()
	resp, err := cl.Refund(ctx, req)
	switch {
	case err == nil:
		if c.json {
			return printJSON(a.stdout, map[string]any{"Outcome": "accepted", "Refund": resp})
		}
		a.printf("accepted: refund_id %s, %s yuan (cash %s, coupon %s); it is PROCESSING until WeChat Pay notifies or \"wxrefund query\" shows SUCCESS\n",
			resp.RefundID, yuan(resp.RefundFee), yuan(resp.CashRefundFee), yuan(resp.CouponRefundFee))
		return nil
	case errors.Is(err, wxrefund.ErrOutcomeUnknown):
		// Settle it now: find it, or send the same request.
		a.eprintf("wxrefund: outcome unknown (%s); resolving by out_refund_no\n", strings.TrimPrefix(err.Error(), "wxrefund: "))
		if ctx.Err() != nil && a.ctx.Err() == nil {
			// The -timeout ran out on the first call: give the lookup
			// its own time rather than fail it at once.
			var cancel2 context.CancelFunc
			ctx, cancel2 = context.WithTimeout(a.ctx, c.timeout)
			defer cancel2()
		}
		if err := a.settle(ctx, c, cl, req); err != nil {
			if errors.Is(err, wxrefund.ErrOutcomeUnknown) {
				return &exitError{code: exitUnknown, err: err, msg: fmt.Sprintf(
					"the outcome of refund %s is still unknown (%s): run \"wxrefund resolve\" with the same flags later; never refund it under a new out_refund_no",
					req.OutRefundNo, strings.TrimPrefix(err.Error(), "wxrefund: "))}
			}
			return err
		}
		return nil
	}
	return err
}
