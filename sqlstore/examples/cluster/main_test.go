package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// The variables that point the test at MySQL (or MariaDB) and PostgreSQL,
// as for package sqlstore's tests: `eval "$(bash .ci/databases.sh)"` at the
// repository's root prints them. SQLite always runs.
const (
	envMySQL    = "SQLSTORE_MYSQL_DSN"
	envPostgres = "SQLSTORE_POSTGRES_DSN"
)

// TestRun runs the program on each database and checks the story's key
// lines.
func TestRun(t *testing.T) {
	for _, tc := range []struct{ name, env string }{{"sqlite", ""}, {"mysql", envMySQL}, {"postgres", envPostgres}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"-dialect", tc.name}
			if tc.env != "" {
				dsn := os.Getenv(tc.env)
				if dsn == "" {
					t.Skipf("skipping %s: set %s (bash .ci/databases.sh prints it)", tc.name, tc.env)
				}
				args = append(args, "-dsn", dsn)
			}
			out := runOK(t, args...)
			for _, want := range []string{
				"before the crash, the previous process recorded 5 refunds \"sent\"",
				`the fake's log: a request to /secapi/pay/refund met the fault "reset"`,
				"WeChat Pay has 3 of the 5 refunds",
				"3 instances started",
				"RF1001: found at WeChat Pay",
				"RF1002: found at WeChat Pay",
				"RF2001: WeChat Pay had no such refund: sent now",
				"RF2002: WeChat Pay had no such refund: sent now",
				`RF3001: CONFLICT: WeChat Pay has it with RefundFee 1000, not the 1500 recorded; nothing sent; row marked "review"`,
				"after the sweep WeChat Pay has 5 refunds",
				"RF2002 REFUNDCLOSE acknowledged",
				"RF3001 SUCCESS     acknowledged at delivery 1; record ran on instance",
				"row: review, 1500 fen",
				"redelivered RF1001 3 times: acknowledged by instances",
				"redelivered RF3001 3 times: acknowledged by instances",
				"1 acknowledged: the one that claimed it ran record; 2 answered FAIL",
				"the same body again to all 3 at once: 3 acknowledged",
				"record ran once for RF3002",
				"deliveries by the fake: 11 (5 scheduled, 6 redelivered), 11 acknowledged",
				"check ok: record ran exactly once for each of the 6 refunds",
				"check ok: WeChat Pay has each of the 6 refunds exactly once",
				"check ok: every other row holds WeChat Pay's final status",
				"check ok: the conflict RF3001 was not overwritten: review, 1500 fen",
				"check ok: all 11 deliveries were acknowledged",
				"cluster: OK",
			} {
				assert.Contains(t, out, want)
			}
			assert.NotContains(t, out, "INCONSISTENT")
			assert.Equal(t, 2, strings.Count(out, "record ran once in all"), "each redelivered refund: record once")
		})
	}
}

// One instance and five: the story holds whatever the number.
func TestRunInstances(t *testing.T) {
	t.Parallel()
	out := runOK(t, "-instances", "1")
	assert.Contains(t, out, "1 instances started")
	assert.Contains(t, out, "1 acknowledged: the one that claimed it ran record; 0 answered FAIL")
	out = runOK(t, "-instances", "5")
	assert.Contains(t, out, "1 acknowledged: the one that claimed it ran record; 4 answered FAIL")
	assert.Contains(t, out, "deliveries by the fake: 15 (5 scheduled, 10 redelivered), 15 acknowledged")
	assert.Contains(t, out, "instance 5: ")
}

func runOK(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, &out, args)
	require.NoError(t, err, "%s", out.String())
	return out.String()
}

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-dialect", "oracle"},
		{"-dialect", "mysql"},
		{"-dialect", "postgres"},
		{"-instances", "0"},
		{"-instances", "17"},
		{"-nope"},
		{"extra"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), &out, args)
		var usage usageError
		assert.True(t, errors.As(err, &usage), "%q: %v", args, err)
	}
	var out bytes.Buffer
	assert.ErrorIs(t, run(context.Background(), &out, []string{"-h"}), flag.ErrHelp)
	assert.Contains(t, out.String(), "-instances")
}

// verify reports each kind of inconsistency.
func TestVerify(t *testing.T) {
	good := func() world {
		return world{
			rows: []refundRow{
				{OutRefundNo: "R1", OutTradeNo: "O1", TotalFee: 100, RefundFee: 40, State: "SUCCESS"},
				{OutRefundNo: "R2", OutTradeNo: "O1", TotalFee: 100, RefundFee: 60, State: stateReview},
			},
			atFake: []wxrefundtest.RefundState{
				{OutRefundNo: "R1", OutTradeNo: "O1", TotalFee: 100, RefundFee: 40, Status: wxrefund.RefundStatusSuccess,
					NotifyURL: "http://lb/n", Notify: wxrefundtest.NotifyDelivered},
				{OutRefundNo: "R2", OutTradeNo: "O1", TotalFee: 100, RefundFee: 10, Status: wxrefund.RefundStatusSuccess,
					NotifyURL: "http://lb/n", Notify: wxrefundtest.NotifyDelivered},
			},
			deliveries: []wxrefundtest.Delivery{
				{OutRefundNo: "R1", Attempt: 1, StatusCode: 200, ReturnCode: "SUCCESS"},
				{OutRefundNo: "R2", Attempt: 1, StatusCode: 200, ReturnCode: "SUCCESS"},
			},
			calls:       map[string][]int{"R1": {1}, "R2": {2}},
			conflictNo:  "R2",
			conflictFee: 60,
		}
	}
	failed := func(wd world) []string {
		var out []string
		for _, c := range verify(wd) {
			if !c.ok {
				out = append(out, c.what)
			}
		}
		return out
	}
	assert.Empty(t, failed(good()))

	for name, tc := range map[string]struct {
		mutate func(*world)
		want   string
	}{
		"record twice":       {func(w *world) { w.calls["R1"] = []int{1, 3} }, "record ran exactly once for each of the 2 refunds: R1 2 times"},
		"record never":       {func(w *world) { delete(w.calls, "R1") }, "R1 0 times"},
		"record for another": {func(w *world) { w.calls["X"] = []int{1} }, "called for X"},
		"refund twice":       {func(w *world) { w.atFake = append(w.atFake, w.atFake[0]) }, "exactly once, with the recorded amounts: R1 2 times"},
		"refund missing":     {func(w *world) { w.atFake = w.atFake[1:] }, "R1 0 times"},
		"other amounts":      {func(w *world) { w.atFake[0].RefundFee = 41 }, "R1 is O1 41 of 100 fen"},
		"stale row":          {func(w *world) { w.rows[0].State = stateAccepted }, "R1 is accepted, WeChat Pay says SUCCESS"},
		"conflict overwritten": {func(w *world) { w.rows[1].State = "SUCCESS"; w.rows[1].RefundFee = 10 },
			"the conflict R2 was not overwritten: review, 60 fen: the row is SUCCESS, 10 fen"},
		"delivery failed": {func(w *world) {
			w.deliveries = append(w.deliveries, wxrefundtest.Delivery{OutRefundNo: "R2", Attempt: 2, StatusCode: 503, ReturnCode: "FAIL"})
		}, "R2 delivery 2: HTTP 503 FAIL"},
		"never delivered": {func(w *world) { w.atFake[0].Notify = wxrefundtest.NotifyAbandoned }, "R1: notification ABANDONED"},
	} {
		t.Run(name, func(t *testing.T) {
			wd := good()
			tc.mutate(&wd)
			got := failed(wd)
			require.NotEmpty(t, got)
			assert.Contains(t, strings.Join(got, "\n"), tc.want)
		})
	}
}
