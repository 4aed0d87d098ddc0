package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// A completed refund's notification is recorded and acknowledged; WeChat
// Pay's redelivery of it is acknowledged again without a second record.
func TestNotificationsAreRecordedOnce(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	fake, err := wxrefundtest.NewServer(wxrefundtest.WithNotifySchedule(10 * time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	appID, mchID, apiKey := fake.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, apiKey, fake.ClientOptions()...)
	require.NoError(t, err)

	store := newRefundStore(logger)
	srv := httptest.NewServer(newHandler(c, "/wxpay/refund-notify", store, logger))
	t.Cleanup(srv.Close)

	require.NoError(t, fake.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD1", TotalFee: 3000}))
	_, err = c.Refund(t.Context(), &wxrefund.RefundRequest{
		OutTradeNo: "ORD1", OutRefundNo: "RF1", TotalFee: 3000, RefundFee: 1200,
		NotifyURL: srv.URL + "/wxpay/refund-notify",
	})
	require.NoError(t, err)
	require.NoError(t, fake.Complete("RF1", wxrefund.RefundStatusSuccess))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err = fake.WaitNotified(ctx, "RF1")
	require.NoError(t, err)

	require.NoError(t, fake.Redeliver("RF1")) // returns once acknowledged
	assert.Equal(t, 2, acknowledged(fake))

	store.mu.Lock()
	assert.Equal(t, map[string]wxrefund.RefundStatus{"RF1": wxrefund.RefundStatusSuccess}, store.seen)
	store.mu.Unlock()
	out := logs.String()
	assert.Equal(t, 1, strings.Count(out, `msg="refund recorded" out_refund_no=RF1 out_trade_no=ORD1 status=SUCCESS refund_fee=1200`), out)
	assert.NotContains(t, out, "duplicate", "the NotifyStore acknowledged the redelivery without calling record")
}

// record stays idempotent for a redelivery the NotifyStore no longer
// remembers (after a restart, say).
func TestRecordIsIdempotent(t *testing.T) {
	var logs syncBuffer
	store := newRefundStore(slog.New(slog.NewTextHandler(&logs, nil)))
	n := &wxrefund.RefundNotification{OutTradeNo: "ORD1", OutRefundNo: "RF1", Status: wxrefund.RefundStatusSuccess, RefundFee: 1200}
	require.NoError(t, store.record(t.Context(), n))
	require.NoError(t, store.record(t.Context(), n))
	out := logs.String()
	assert.Equal(t, 1, strings.Count(out, `msg="refund recorded" out_refund_no=RF1`), out)
	assert.Equal(t, 1, strings.Count(out, `msg="duplicate notification: already recorded" out_refund_no=RF1`), out)
}

// A notification on another path, or one that does not decrypt, is neither
// recorded nor acknowledged; the one on the notify path is logged.
func TestBadNotificationsAreNotRecorded(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	fake, err := wxrefundtest.NewServer()
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	appID, mchID, apiKey := fake.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, apiKey, fake.ClientOptions()...)
	require.NoError(t, err)
	store := newRefundStore(logger)
	h := newHandler(c, "/wxpay/refund-notify", store, logger)

	body := `<xml><return_code>SUCCESS</return_code><appid>` + appID + `</appid><mch_id>` + mchID +
		`</mch_id><nonce_str>n</nonce_str><req_info>bm90IGEgbm90aWZpY2F0aW9u</req_info></xml>`
	for _, path := range []string{"/wxpay/refund-notify", "/elsewhere"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", path, strings.NewReader(body)))
		assert.NotContains(t, rec.Body.String(), "SUCCESS", path)
	}
	assert.Empty(t, store.seen)
	assert.Equal(t, 1, strings.Count(logs.String(), "notification not acknowledged"), logs.String())
}

// Notifications need no merchant certificate; the other variables are
// required.
func TestNewClientExplainsWhatIsMissing(t *testing.T) {
	for _, v := range []string{"WXPAY_APPID", "WXPAY_MCHID", "WXPAY_APIKEY", "WXPAY_CERT_FILE", "WXPAY_KEY_FILE",
		"WXPAY_P12_FILE", "WXPAY_P12_PASSWORD", "WXPAY_BASE_URL", "WXPAY_CA_FILE"} {
		t.Setenv(v, "")
	}
	_, err := newClient(false)
	require.ErrorContains(t, err, "missing WXPAY_APPID, WXPAY_MCHID, WXPAY_APIKEY\n\nEnvironment variables:")

	t.Setenv("WXPAY_APPID", "wx8888888888888888")
	t.Setenv("WXPAY_MCHID", "1900000109")
	t.Setenv("WXPAY_APIKEY", "Illustr8tiveApiV2Key0123456789Ab")
	_, err = newClient(false)
	require.NoError(t, err)

	t.Setenv("WXPAY_CA_FILE", filepath.Join(t.TempDir(), "missing.pem"))
	_, err = newClient(false)
	require.ErrorContains(t, err, "WXPAY_CA_FILE")
}

func acknowledged(fake *wxrefundtest.Server) int {
	n := 0
	for _, d := range fake.Deliveries() {
		if d.OutRefundNo == "RF1" && d.OK() {
			n++
		}
	}
	return n
}

// syncBuffer is a bytes.Buffer that the server's goroutines may write while
// a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
