package main

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"strings"
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
	var logs bytes.Buffer
	captureLog(t, &logs)

	fake, err := wxrefundtest.NewServer(wxrefundtest.WithNotifySchedule(10 * time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	appID, mchID, apiKey := fake.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, apiKey, fake.ClientOptions()...)
	require.NoError(t, err)

	store := newRefundStore()
	srv := httptest.NewServer(newHandler(c, "/wxpay/refund-notify", store))
	t.Cleanup(srv.Close)

	require.NoError(t, fake.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD1", TotalFee: 3000}))
	_, err = c.Refund(t.Context(), &wxrefund.RefundRequest{
		OutTradeNo: "ORD1", OutRefundNo: "RF1", TotalFee: 3000, RefundFee: 1200,
		NotifyURL: srv.URL + "/wxpay/refund-notify",
	})
	require.NoError(t, err)
	require.NoError(t, fake.Complete("RF1", wxrefund.RefundStatusSuccess))
	require.Eventually(t, func() bool { return acknowledged(fake) == 1 }, 5*time.Second, 5*time.Millisecond)

	require.NoError(t, fake.Redeliver("RF1"))
	require.Eventually(t, func() bool { return acknowledged(fake) == 2 }, 5*time.Second, 5*time.Millisecond)

	store.mu.Lock()
	assert.Equal(t, map[string]wxrefund.RefundStatus{"RF1": wxrefund.RefundStatusSuccess}, store.seen)
	store.mu.Unlock()
	out := logs.String()
	assert.Equal(t, 1, strings.Count(out, "refund RF1 of order ORD1: SUCCESS, 1200 fen"), out)
	assert.Equal(t, 1, strings.Count(out, "duplicate notification for RF1"), out)
}

// A notification on another path, or one that does not decrypt, is neither
// recorded nor acknowledged.
func TestBadNotificationsAreNotRecorded(t *testing.T) {
	captureLog(t, io.Discard)
	fake, err := wxrefundtest.NewServer()
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	appID, mchID, apiKey := fake.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, apiKey, fake.ClientOptions()...)
	require.NoError(t, err)
	store := newRefundStore()
	h := newHandler(c, "/wxpay/refund-notify", store)

	body := `<xml><return_code>SUCCESS</return_code><appid>` + appID + `</appid><mch_id>` + mchID +
		`</mch_id><nonce_str>n</nonce_str><req_info>bm90IGEgbm90aWZpY2F0aW9u</req_info></xml>`
	for _, path := range []string{"/wxpay/refund-notify", "/elsewhere"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", path, strings.NewReader(body)))
		assert.NotContains(t, rec.Body.String(), "SUCCESS", path)
	}
	assert.Empty(t, store.seen)
}

// captureLog sends the standard logger, which main.go uses, to w until the
// test ends. Tests that call it must not run in parallel.
func captureLog(t *testing.T, w io.Writer) {
	prev := log.Writer()
	log.SetOutput(w)
	t.Cleanup(func() { log.SetOutput(prev) })
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
