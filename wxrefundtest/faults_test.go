package wxrefundtest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// These tests drive the fake's two domains and HTTP-level faults through a
// real wxrefund.Client with WithRetry and WithFailover(BackupURL).

// failoverClient is a Client of s that retries and fails over to s's
// backup domain, with short pauses.
func failoverClient(t *testing.T, s *wxrefundtest.Server, opts ...wxrefund.Option) *wxrefund.Client {
	t.Helper()
	return newClient(t, s, append([]wxrefund.Option{
		wxrefund.WithFailover(s.BackupURL()),
		wxrefund.WithRetry(wxrefund.RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}),
	}, opts...)...)
}

// domains lists the domain of each request to path, with its fault.
func domains(s *wxrefundtest.Server, path string) []string {
	var out []string
	for _, r := range s.Requests() {
		if r.Path == path {
			out = append(out, strings.TrimSpace(string(r.Domain)+" "+r.Fault))
		}
	}
	return out
}

func refundReq(no string, fee int64) *wxrefund.RefundRequest {
	return &wxrefund.RefundRequest{OutTradeNo: "O1", OutRefundNo: no, TotalFee: 10000, RefundFee: fee}
}

func TestTwoDomainsOneLedger(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 10000})
	require.NotEqual(t, s.URL(), s.BackupURL())
	ctx := context.Background()

	// A refund made on the backup is found on the primary.
	backup := newClient(t, s, wxrefund.WithBaseURL(s.BackupURL()))
	primary := newClient(t, s)
	_, err := backup.Refund(ctx, refundReq("R1", 100))
	require.NoError(t, err)
	q, err := primary.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutRefundNo: "R1"})
	require.NoError(t, err)
	require.EqualValues(t, 100, q.Refunds[0].RefundFee)
	assert.Equal(t, []string{"api2"}, domains(s, wxrefundtest.PathRefund))
	assert.Equal(t, []string{"api"}, domains(s, wxrefundtest.PathRefundQuery))
}

// A 502 on the primary is answered by the backup, and the backup is then
// preferred.
func TestFaultStatusFailsOver(t *testing.T) {
	t.Parallel()
	for _, code := range []int{http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusInternalServerError} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 10000})
			c := failoverClient(t, s)
			s.FaultNext(wxrefundtest.DomainPrimary, wxrefundtest.PathRefund, wxrefundtest.StatusFault(code), 1)
			_, err := c.Refund(context.Background(), refundReq("R1", 100))
			require.NoError(t, err)
			_, err = c.Refund(context.Background(), refundReq("R2", 100))
			require.NoError(t, err)
			want := []string{"api " + fmt.Sprint(code), "api2", "api2"}
			assert.Equal(t, want, domains(s, wxrefundtest.PathRefund))
			assert.Len(t, s.Refunds("O1"), 2, "each refund once")
		})
	}
}

// Without failover, a 502 is an unknown outcome, but nothing was applied.
func TestFaultStatusWithoutFailover(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 10000})
	c := newClient(t, s)
	s.FaultNext(wxrefundtest.DomainAny, wxrefundtest.PathRefund, wxrefundtest.StatusFault(http.StatusBadGateway), 1)
	_, err := c.Refund(context.Background(), refundReq("R1", 100))
	require.ErrorIs(t, err, wxrefund.ErrOutcomeUnknown)
	var me *wxrefund.MessageError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, http.StatusBadGateway, me.StatusCode)
	assert.Empty(t, s.Refunds("O1"))
}

// nginx's certificate pages are not unknown outcomes, and fail over
// nowhere: they would fail on both domains.
func TestFaultCertificatePages(t *testing.T) {
	t.Parallel()
	for _, f := range []wxrefundtest.Fault{wxrefundtest.NoCertificateFault(), wxrefundtest.CertificateErrorFault()} {
		t.Run(f.String(), func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 10000})
			c := failoverClient(t, s)
			s.FaultNext(wxrefundtest.DomainAny, wxrefundtest.PathRefund, f, 1)
			_, err := c.Refund(context.Background(), refundReq("R1", 100))
			require.ErrorIs(t, err, wxrefund.ErrCertificateRejected)
			assert.NotErrorIs(t, err, wxrefund.ErrOutcomeUnknown)
			assert.Equal(t, []string{"api " + f.String()}, domains(s, wxrefundtest.PathRefund))
			assert.Empty(t, s.Refunds("O1"))
		})
	}
}

// A reset before processing leaves no refund; LoseNext leaves one. Either
// way the outcome is unknown to the client, and a retry with the same
// out_refund_no makes exactly one refund.
func TestFaultResetVersusLoseNext(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 10000})
	c := newClient(t, s)
	ctx := context.Background()

	s.FaultNext(wxrefundtest.DomainPrimary, wxrefundtest.PathRefund, wxrefundtest.ResetFault(), 1)
	_, err := c.Refund(ctx, refundReq("R1", 100))
	require.ErrorIs(t, err, wxrefund.ErrOutcomeUnknown)
	assert.Empty(t, s.Refunds("O1"), "a reset before processing applies nothing")
	_, err = c.QueryRefund(ctx, &wxrefund.QueryRefundRequest{OutRefundNo: "R1"})
	assert.Equal(t, wxrefund.CodeRefundNotExist, wxrefund.ErrorCode(err))

	s.LoseNext("", 1)
	_, err = c.Refund(ctx, refundReq("R2", 100))
	require.ErrorIs(t, err, wxrefund.ErrOutcomeUnknown)
	require.Len(t, s.Refunds("O1"), 1, "LoseNext applies the refund")

	for _, no := range []string{"R1", "R2"} {
		_, err = c.Refund(ctx, refundReq(no, 100))
		require.NoError(t, err, no)
	}
	assert.Len(t, s.Refunds("O1"), 2)
	assert.Equal(t, []string{"api reset", "api", "api", "api"}, domains(s, wxrefundtest.PathRefund))
}

// A reset with failover is answered by the backup: one refund.
func TestFaultResetFailsOver(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 10000})
	c := failoverClient(t, s)
	s.FaultNext(wxrefundtest.DomainPrimary, wxrefundtest.PathRefundQuery, wxrefundtest.ResetFault(), 1)
	s.FaultNext(wxrefundtest.DomainPrimary, wxrefundtest.PathRefund, wxrefundtest.ResetFault(), 1)
	_, err := c.Refund(context.Background(), refundReq("R1", 100))
	require.NoError(t, err)
	assert.Equal(t, []string{"api reset", "api2"}, domains(s, wxrefundtest.PathRefund))
	assert.Len(t, s.Refunds("O1"), 1)
}

// A slow answer: the refund is applied at once, the client's timeout ends
// first (unknown outcome), and the retry finds the refund.
func TestFaultDelay(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 10000})
	c := newClient(t, s, wxrefund.WithTimeout(100*time.Millisecond))
	s.FaultNext(wxrefundtest.DomainAny, wxrefundtest.PathRefund, wxrefundtest.DelayFault(5*time.Second), 1)
	_, err := c.Refund(context.Background(), refundReq("R1", 100))
	require.ErrorIs(t, err, wxrefund.ErrOutcomeUnknown)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Len(t, s.Refunds("O1"), 1, "applied before the answer")
	resp, err := c.Refund(context.Background(), refundReq("R1", 100))
	require.NoError(t, err)
	assert.Equal(t, s.Refunds("O1")[0].RefundID, resp.RefundID)

	// A delay shorter than the timeout is only slow.
	s.FaultNext(wxrefundtest.DomainAny, wxrefundtest.PathRefundQuery, wxrefundtest.DelayFault(20*time.Millisecond), 1)
	start := time.Now()
	_, err = c.QueryRefund(context.Background(), &wxrefund.QueryRefundRequest{OutRefundNo: "R1"})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)
}

// A domain taken down is skipped; once the backup fails while the primary
// is back, the primary is preferred again.
func TestTakeDownAndBringUp(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 10000})
	c := failoverClient(t, s)
	ctx := context.Background()
	_, err := c.Refund(ctx, refundReq("R0", 100)) // a connection to the primary in the pool
	require.NoError(t, err)

	s.TakeDown(wxrefundtest.DomainPrimary)
	require.True(t, s.Down(wxrefundtest.DomainPrimary))
	for _, no := range []string{"R1", "R2"} {
		_, err := c.Refund(ctx, refundReq(no, 100))
		require.NoError(t, err, no)
	}
	require.NoError(t, s.BringUp(wxrefundtest.DomainPrimary))
	_, err = c.Refund(ctx, refundReq("R3", 100)) // the backup is still preferred
	require.NoError(t, err)
	s.TakeDown(wxrefundtest.DomainBackup)
	for _, no := range []string{"R4", "R5"} {
		_, err := c.Refund(ctx, refundReq(no, 100))
		require.NoError(t, err, no)
	}
	require.NoError(t, s.BringUp(wxrefundtest.DomainBackup))
	_, err = c.Refund(ctx, refundReq("R6", 100))
	require.NoError(t, err)
	assert.Equal(t, []string{"api", "api2", "api2", "api2", "api", "api", "api"}, domains(s, wxrefundtest.PathRefund))
	assert.Len(t, s.Refunds("O1"), 7)

	// Both down: no answer, an unknown outcome, nothing applied.
	s.TakeDown(wxrefundtest.DomainPrimary)
	s.TakeDown(wxrefundtest.DomainBackup)
	_, err = c.Refund(ctx, refundReq("R7", 100))
	require.ErrorIs(t, err, wxrefund.ErrOutcomeUnknown)
	assert.Len(t, s.Refunds("O1"), 7)
}

// WithFailover("") next to the fake's options would reach the real WeChat
// Pay: NewClient refuses it.
func TestFailoverToRealWeChatPayIsRefused(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	appID, mchID, key := s.Credentials()
	_, err := wxrefund.NewClient(appID, mchID, key, append(s.ClientOptions(), wxrefund.WithFailover(""))...)
	require.ErrorIs(t, err, wxrefund.ErrInvalidConfig)
	assert.Contains(t, err.Error(), "BackupURL")
}

// Every injection refuses what would never fire, with a message that says
// why.
func TestInjectionsRefuseMistypedInput(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	for name, tc := range map[string]struct {
		call func()
		want string
	}{
		"FailNext, a path the fake does not serve": {func() { s.FailNext("/pay/refund", wxrefund.CodeSystemError, 1) }, `path "/pay/refund"`},
		"FailNext, the bill":                       {func() { s.FailNext(wxrefundtest.PathDownloadBill, wxrefund.CodeSystemError, 1) }, "FailNextBill"},
		"FailNext, an unknown code":                {func() { s.FailNext(wxrefundtest.PathRefund, "SYSTEM_ERROR", 1) }, `err_code "SYSTEM_ERROR"`},
		"FailNext, a code of the other path":       {func() { s.FailNext(wxrefundtest.PathRefund, wxrefund.CodeRefundNotExist, 1) }, "REFUNDNOTEXIST"},
		"FailNext, no code":                        {func() { s.FailNext(wxrefundtest.PathRefundQuery, "", 1) }, `err_code ""`},
		"FailNext, times 0":                        {func() { s.FailNext(wxrefundtest.PathRefund, wxrefund.CodeSystemError, 0) }, "times 0"},
		"FailNext, times -1":                       {func() { s.FailNext(wxrefundtest.PathRefund, wxrefund.CodeSystemError, -1) }, "times -1"},
		"LoseNext, an unknown code":                {func() { s.LoseNext("TIMEOUT", 1) }, `err_code "TIMEOUT"`},
		"LoseNext, times 0":                        {func() { s.LoseNext("", 0) }, "times 0"},
		"FailNextBill, no message":                 {func() { s.FailNextBill("", "20002", 1) }, "return_msg"},
		"FailNextBill, times 0":                    {func() { s.FailNextBill("Bill Creating", "", 0) }, "times 0"},
		"FaultNext, an unknown path":               {func() { s.FaultNext(wxrefundtest.DomainAny, "/secapi/pay/refundv2", wxrefundtest.ResetFault(), 1) }, "refundv2"},
		"FaultNext, an unknown domain":             {func() { s.FaultNext("api3", wxrefundtest.PathRefund, wxrefundtest.ResetFault(), 1) }, `domain "api3"`},
		"FaultNext, the zero Fault":                {func() { s.FaultNext(wxrefundtest.DomainAny, wxrefundtest.PathRefund, wxrefundtest.Fault{}, 1) }, "zero Fault"},
		"FaultNext, status 404":                    {func() { s.FaultNext(wxrefundtest.DomainAny, wxrefundtest.PathRefund, wxrefundtest.StatusFault(404), 1) }, "500, 502, 503 or 504"},
		"FaultNext, no delay":                      {func() { s.FaultNext(wxrefundtest.DomainAny, wxrefundtest.PathRefund, wxrefundtest.DelayFault(0), 1) }, "positive"},
		"FaultNext, times 0":                       {func() { s.FaultNext(wxrefundtest.DomainAny, wxrefundtest.PathRefund, wxrefundtest.ResetFault(), 0) }, "times 0"},
		"TakeDown, DomainAny":                      {func() { s.TakeDown(wxrefundtest.DomainAny) }, "TakeDown"},
	} {
		t.Run(name, func(t *testing.T) {
			var got any
			func() {
				defer func() { got = recover() }()
				tc.call()
			}()
			require.NotNil(t, got, "no panic")
			msg := fmt.Sprint(got)
			assert.True(t, strings.HasPrefix(msg, "wxrefundtest: "), msg)
			assert.Contains(t, msg, tc.want)
		})
	}
	// Nothing was queued: a refund goes through.
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 10000})
	_, err := newClient(t, s).Refund(context.Background(), refundReq("R1", 100))
	require.NoError(t, err)

	// The admin API answers 400 for the same mistakes.
	for _, body := range []string{
		`{"path":"/pay/refund","err_code":"SYSTEMERROR","times":1}`,
		`{"path":"/secapi/pay/refund","err_code":"SYSTEM_ERROR","times":1}`,
		`{"path":"/secapi/pay/refund","err_code":"SYSTEMERROR","times":0}`,
	} {
		status, raw := admin(t, s, http.MethodPost, "/fake/fail", body)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %s", body, raw)
	}
	for _, body := range []string{
		`{"path":"/pay/refund","fault":"502","times":1}`,
		`{"path":"/secapi/pay/refund","fault":"404","times":1}`,
		`{"path":"/secapi/pay/refund","fault":"delay","times":1}`,
		`{"path":"/secapi/pay/refund","fault":"delay","delay_ms":18446744073710,"times":1}`, // would overflow to 448µs
		`{"domain":"api3","path":"/secapi/pay/refund","fault":"reset","times":1}`,
		`{"path":"/secapi/pay/refund","fault":"reset","times":0}`,
	} {
		status, raw := admin(t, s, http.MethodPost, "/fake/faults", body)
		assert.Equal(t, http.StatusBadRequest, status, "%s: %s", body, raw)
	}
}

// The admin API queues faults, takes domains down and lists requests.
func TestAdminFaultsAndDomains(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 10000})
	c := failoverClient(t, s)
	ctx := context.Background()

	status, raw := admin(t, s, http.MethodPost, "/fake/faults", `{"domain":"api","path":"/secapi/pay/refund","fault":"503","times":1}`)
	require.Equal(t, http.StatusOK, status, "%s", raw)
	_, err := c.Refund(ctx, refundReq("R1", 100))
	require.NoError(t, err)
	status, raw = admin(t, s, http.MethodGet, "/fake/requests", "")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, string(raw), `"domain":"api","path":"/secapi/pay/refund"`)
	assert.Contains(t, string(raw), `"fault":"503"`)

	status, raw = admin(t, s, http.MethodPost, "/fake/domains", `{"domain":"api2","down":true}`)
	require.Equal(t, http.StatusOK, status, "%s", raw)
	assert.Contains(t, string(raw), `"domain":"api2","url":"`+s.BackupURL()+`","down":true`)
	require.Eventually(t, func() bool { return s.Down(wxrefundtest.DomainBackup) }, 5*time.Second, time.Millisecond)
	_, err = c.Refund(ctx, refundReq("R2", 100)) // the backup was preferred; it is down
	require.NoError(t, err)
	status, raw = admin(t, s, http.MethodPost, "/fake/domains", `{"domain":"api2","down":false}`)
	require.Equal(t, http.StatusOK, status, "%s", raw)
	assert.False(t, s.Down(wxrefundtest.DomainBackup))
	status, raw = admin(t, s, http.MethodGet, "/fake/domains", "")
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, string(raw), `"down":false`)
	assert.NotContains(t, string(raw), `"down":true`)

	// Clearing.
	s.FaultNext(wxrefundtest.DomainAny, wxrefundtest.PathRefund, wxrefundtest.StatusFault(502), 100)
	status, _ = admin(t, s, http.MethodPost, "/fake/faults/clear", "")
	require.Equal(t, http.StatusOK, status)
	_, err = newClient(t, s).Refund(ctx, refundReq("R3", 100))
	require.NoError(t, err)
}

// Waiting without polling: a notification acknowledged, a number of
// deliveries, a status.
func TestWaitNotifiedAndStatus(t *testing.T) {
	t.Parallel()
	s := newServer(t, wxrefundtest.WithNotifySchedule(time.Millisecond, time.Millisecond),
		wxrefundtest.WithAutoComplete(10*time.Millisecond))
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 10000})
	c := newClient(t, s)
	fails := 2
	notified := make(chan string, 4)
	h := c.NotifyHandler(func(_ context.Context, n *wxrefund.RefundNotification) error {
		if fails > 0 {
			fails--
			return errors.New("not yet")
		}
		notified <- n.OutRefundNo
		return nil
	})
	m := httptest.NewServer(h)
	t.Cleanup(m.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	_, err := c.Refund(ctx, &wxrefund.RefundRequest{OutTradeNo: "O1", OutRefundNo: "R1", TotalFee: 10000, RefundFee: 100, NotifyURL: m.URL})
	require.NoError(t, err)
	st, err := s.WaitStatus(ctx, "R1", wxrefund.RefundStatusSuccess)
	require.NoError(t, err)
	assert.Equal(t, wxrefund.RefundStatusSuccess, st.Status)
	d, err := s.WaitNotified(ctx, "R1")
	require.NoError(t, err)
	assert.True(t, d.OK())
	assert.Equal(t, 3, d.Attempt, "two refused, the third acknowledged")
	assert.Equal(t, "R1", <-notified)
	ds, err := s.WaitDeliveries(ctx, "R1", 3)
	require.NoError(t, err)
	assert.Len(t, ds, 3)
	assert.False(t, ds[0].OK())

	// A wait that cannot end says what it saw.
	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	_, err = s.WaitDeliveries(short, "R1", 5)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "3 deliveries, 1 acknowledged")
	_, err = s.WaitNotified(short, "NOPE")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "no such refund")
	_, err = s.WaitStatus(short, "R1", wxrefund.RefundStatusClosed)
	assert.Contains(t, err.Error(), "the refund is SUCCESS")
	_, err = s.WaitDeliveries(ctx, "R1", 0)
	assert.Error(t, err)

	// Close ends every wait.
	done := make(chan error, 1)
	go func() { _, err := s.WaitNotified(context.Background(), "NOPE"); done <- err }()
	s.Close()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, wxrefundtest.ErrClosed)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the wait")
	}
}

// Server.EncryptNotify builds a notification from the SDK's type, which
// DecryptNotify reads back.
func TestServerEncryptNotify(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	c := newClient(t, s)
	n := wxrefund.RefundNotification{
		TransactionID: "4200000000202406030000000001", OutTradeNo: "O1", RefundID: "50300000000202406030000000001",
		OutRefundNo: "R1", TotalFee: 5000, SettlementTotalFee: 4500, RefundFee: 2000, SettlementRefundFee: 1800,
		Status: wxrefund.RefundStatusSuccess, SuccessTime: time.Date(2024, 6, 3, 10, 16, 12, 0, wxrefund.ChinaTime),
		RecvAccount: "支付用户零钱", RefundAccount: wxrefund.RefundAccountUnsettledFunds, RequestSource: "API",
	}
	body, err := s.EncryptNotify(n)
	require.NoError(t, err)
	got, err := c.DecryptNotify(body)
	require.NoError(t, err)
	appID, mchID, _ := s.Credentials()
	want := n
	want.AppID, want.MchID = appID, mchID
	got.Raw = nil
	assert.Equal(t, want, *got)

	// Partner mode: the sub-merchant outside.
	p := newServer(t, wxrefundtest.WithPartner("1900000110"))
	n.SubMchID = "1900000110"
	body, err = p.EncryptNotify(n)
	require.NoError(t, err)
	got, err = newClient(t, p).DecryptNotify(body)
	require.NoError(t, err)
	assert.Equal(t, "1900000110", got.SubMchID)

	for name, bad := range map[string]func(n *wxrefund.RefundNotification){
		"no out_refund_no":        func(n *wxrefund.RefundNotification) { n.OutRefundNo = "" },
		"no order":                func(n *wxrefund.RefundNotification) { n.TransactionID, n.OutTradeNo = "", "" },
		"no status":               func(n *wxrefund.RefundNotification) { n.Status = "" },
		"negative":                func(n *wxrefund.RefundNotification) { n.RefundFee = -1 },
		"another mch_id":          func(n *wxrefund.RefundNotification) { n.MchID = "1900000999" },
		"a sub-merchant, direct":  func(n *wxrefund.RefundNotification) { n.SubMchID = "1900000110" },
		"sub_appid, no sub_mchid": func(n *wxrefund.RefundNotification) { n.SubAppID = "wx1" },
	} {
		m := n
		m.SubMchID = ""
		bad(&m)
		_, err := s.EncryptNotify(m)
		assert.Error(t, err, name)
	}
}
