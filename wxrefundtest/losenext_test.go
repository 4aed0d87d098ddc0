package wxrefundtest_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// TestLoseNext: the refund whose answer is lost is applied exactly once, and
// a retry with the same out_refund_no and amounts gets it.
func TestLoseNext(t *testing.T) {
	m := newMerchant(t, alwaysOK)
	s := newServer(t, wxrefundtest.WithBalance(10000), wxrefundtest.WithNotifySchedule(time.Millisecond))
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 1000})
	req := params{"out_trade_no": "O1", "out_refund_no": "R1", "total_fee": "1000", "refund_fee": "600",
		"notify_url": m.URL}

	s.LoseNext(wxrefund.CodeSystemError, 1)
	f := call(t, s, wxrefundtest.PathRefund, req) // call verifies the answer's sign
	requireErrCode(t, f, wxrefund.CodeSystemError)

	// Yet the refund exists, and the order and balance are charged.
	st := s.Refunds("O1")
	require.Len(t, st, 1)
	require.Equal(t, "R1", st[0].OutRefundNo)
	require.NotEmpty(t, st[0].RefundID)
	require.Equal(t, wxrefund.RefundStatusProcessing, st[0].Status)
	require.EqualValues(t, 600, st[0].RefundFee)
	require.EqualValues(t, 9400, s.Balance())
	q := query(t, s, params{"out_refund_no": "R1"})
	requireOK(t, q)
	require.Equal(t, st[0].RefundID, q["refund_id_0"], "a query finds the refund")

	// The retry gets the same refund, applied once.
	again := call(t, s, wxrefundtest.PathRefund, req)
	requireOK(t, again)
	require.Equal(t, st[0].RefundID, again["refund_id"])
	require.Len(t, s.Refunds("O1"), 1)
	fee, _, _ := sum(s.Refunds("O1"))
	require.EqualValues(t, 600, fee)
	require.EqualValues(t, 9400, s.Balance())
	requireErrCode(t, refund(t, s, "O1", "R2", 1000, 401), wxrefund.CodeInvalidRequest) // 400 left
	mustRefund(t, s, "O1", "R2", 1000, 400)
	requireErrCode(t, refund(t, s, "O1", "R3", 1000, 1), wxrefund.CodeBusinessError) // fully refunded

	// The lost refund completes and is notified like any other.
	require.NoError(t, s.Complete("R1", wxrefund.RefundStatusSuccess))
	waitNotify(t, s, "R1", wxrefundtest.NotifyDelivered)
	_, inner := decryptNotify(t, s, m.received()[0])
	require.Equal(t, st[0].RefundID, inner["refund_id"])
}

// TestLoseNextQueue: the queue's order, what consumes it, FailNext's
// precedence and clearing.
func TestLoseNextQueue(t *testing.T) {
	s := newServer(t, wxrefundtest.WithBalance(100))
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 1000})

	s.LoseNext(wxrefund.CodeSystemError, 1)
	s.LoseNext(wxrefund.CodeBizErrNeedRetry, 2)
	s.FailNext(wxrefundtest.PathRefund, "FREQUENCY_LIMITED", 1)

	// FailNext wins: nothing is applied and no lost answer is consumed.
	requireErrCode(t, refund(t, s, "O1", "R1", 1000, 10), "FREQUENCY_LIMITED")
	require.Empty(t, s.Refunds("O1"))
	// Neither do requests that are refused, nor queries.
	_, raw := postRaw(t, httpClient(t, s, true), s.URL()+wxrefundtest.PathRefund, []byte("junk"))
	requireReturnFail(t, decode(t, s, raw, wxrefund.SignTypeMD5), "XML格式错误")
	requireReturnFail(t, refund(t, s, "O1", "R1", 1000, 0), "invalid refund_fee")
	requireErrCode(t, refund(t, s, "NOPE", "R1", 1000, 10), wxrefund.CodeOrderNotExist)
	requireErrCode(t, refund(t, s, "O1", "R1", 1000, 101), wxrefund.CodeNotEnough)
	requireErrCode(t, query(t, s, params{"out_refund_no": "R1"}), wxrefund.CodeRefundNotExist)
	require.Empty(t, s.Refunds("O1"))

	// Accepted refunds consume the queue in order, HMAC requests get
	// HMAC-signed answers, and a retry of an existing refund loses its
	// answer too.
	requireErrCode(t, refund(t, s, "O1", "R1", 1000, 10), wxrefund.CodeSystemError)
	requireErrCode(t, callType(t, s, wxrefundtest.PathRefund, params{"out_trade_no": "O1", "out_refund_no": "R2",
		"total_fee": "1000", "refund_fee": "20"}, wxrefund.SignTypeHMACSHA256), wxrefund.CodeBizErrNeedRetry)
	requireErrCode(t, refund(t, s, "O1", "R1", 1000, 10), wxrefund.CodeBizErrNeedRetry)
	r1 := mustRefund(t, s, "O1", "R1", 1000, 10)
	r2 := mustRefund(t, s, "O1", "R2", 1000, 20)
	st := s.Refunds("O1")
	require.Len(t, st, 2)
	require.Equal(t, st[0].RefundID, r1["refund_id"])
	require.Equal(t, st[1].RefundID, r2["refund_id"])
	require.EqualValues(t, 70, s.Balance())

	// A mismatched retry is answered REFUND_FEE_MISMATCH, not lost.
	s.LoseNext(wxrefund.CodeSystemError, 1)
	requireErrCode(t, refund(t, s, "O1", "R1", 1000, 11), wxrefund.CodeRefundFeeMismatch)
	requireErrCode(t, refund(t, s, "O1", "R3", 1000, 30), wxrefund.CodeSystemError)
	require.Len(t, s.Refunds("O1"), 3)

	// ClearFaults clears, and huge counts are fine.
	s.LoseNext(wxrefund.CodeSystemError, 1<<62)
	s.LoseNext(wxrefund.CodeSystemError, 1<<62)
	requireErrCode(t, refund(t, s, "O1", "R4", 1000, 1), wxrefund.CodeSystemError)
	s.ClearFaults()
	mustRefund(t, s, "O1", "R5", 1000, 1)
	require.Len(t, s.Refunds("O1"), 5)
}

// h2Client is a client that speaks HTTP/2 to the server, as wxrefund.Client
// does, and presents the merchant certificate.
func h2Client(t testing.TB, s *wxrefundtest.Server) *http.Client {
	t.Helper()
	c, k := s.MerchantCertPEM()
	pair, err := tls.X509KeyPair(c, k)
	require.NoError(t, err)
	tr := &http.Transport{ForceAttemptHTTP2: true, TLSClientConfig: &tls.Config{RootCAs: s.RootCAs(),
		MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{pair}}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestLoseNextDropConnection: with an empty errCode the refund is applied
// and the client gets no HTTP response at all, over HTTP/1 (the connection
// is closed) and HTTP/2 (the stream is reset).
func TestLoseNextDropConnection(t *testing.T) {
	s := newServer(t)
	for proto, hc := range map[int]*http.Client{1: httpClient(t, s, true), 2: h2Client(t, s)} {
		t.Run(fmt.Sprint("HTTP/", proto), func(t *testing.T) {
			no := fmt.Sprint("O", proto)
			addOrder(t, s, wxrefundtest.Order{OutTradeNo: no, TotalFee: 100})
			body := encode(t, sign(s, params{"out_trade_no": no, "out_refund_no": "R" + no, "total_fee": "100",
				"refund_fee": "100"}, wxrefund.SignTypeMD5))
			post := func() (*http.Response, error) {
				return hc.Post(s.URL()+wxrefundtest.PathRefund, "text/xml", bytes.NewReader(body))
			}
			// Warm up hc's connection, so that the dropped request is sent on
			// a reused one, where a client might be tempted to retry.
			warm, err := hc.Post(s.URL()+wxrefundtest.PathRefundQuery, "text/xml",
				bytes.NewReader(encode(t, sign(s, params{"out_trade_no": no}, wxrefund.SignTypeMD5))))
			require.NoError(t, err)
			_, err = io.Copy(io.Discard, warm.Body)
			require.NoError(t, err)
			require.NoError(t, warm.Body.Close())
			require.Equal(t, proto, warm.ProtoMajor)

			s.LoseNext("", 1)
			resp, err := post()
			if err == nil {
				resp.Body.Close()
			}
			require.Error(t, err, "no HTTP response")
			require.Nil(t, resp)
			st := s.Refunds(no)
			require.Len(t, st, 1, "the refund was applied")

			resp, err = post()
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, proto, resp.ProtoMajor)
			raw, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			f := decode(t, s, raw, wxrefund.SignTypeMD5)
			requireOK(t, f)
			require.Equal(t, st[0].RefundID, f["refund_id"])
			require.Len(t, s.Refunds(no), 1)
		})
	}
}

// TestLoseNextHandlerAborts: served without a hijackable connection, the
// handler aborts with http.ErrAbortHandler, which net/http servers handle
// silently, after applying the refund.
func TestLoseNextHandlerAborts(t *testing.T) {
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	certPEM, _ := s.MerchantCertPEM()
	der, _ := pemDecode(certPEM)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, wxrefundtest.PathRefund, bytes.NewReader(encode(t,
		sign(s, params{"out_trade_no": "O1", "out_refund_no": "R1", "total_fee": "100", "refund_fee": "10"},
			wxrefund.SignTypeMD5))))
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}

	s.LoseNext("", 1)
	rec := httptest.NewRecorder()
	require.PanicsWithValue(t, http.ErrAbortHandler, func() { s.Handler().ServeHTTP(rec, req) })
	require.Zero(t, rec.Body.Len())
	require.Len(t, s.Refunds("O1"), 1)
}

// TestLoseNextBehindRecover: over HTTP/1 the connection is hijacked and
// closed, so a middleware that turns panics into 500s cannot answer either.
func TestLoseNextBehindRecover(t *testing.T) {
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				http.Error(w, fmt.Sprint("recovered: ", v), http.StatusInternalServerError)
			}
		}()
		s.Handler().ServeHTTP(w, r)
	}))
	ts.TLS = s.TLSConfig()
	ts.StartTLS() // HTTP/1 only
	t.Cleanup(ts.Close)

	s.LoseNext("", 1)
	resp, err := httpClient(t, s, true).Post(ts.URL+wxrefundtest.PathRefund, "text/xml", bytes.NewReader(encode(t,
		sign(s, params{"out_trade_no": "O1", "out_refund_no": "R1", "total_fee": "100", "refund_fee": "10"},
			wxrefund.SignTypeMD5))))
	if err == nil {
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("got an answer: %s %s", resp.Status, raw)
	}
	require.Len(t, s.Refunds("O1"), 1)
}

func TestAdminLose(t *testing.T) {
	s := newServer(t)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 1000})

	status, raw := admin(t, s, http.MethodPost, "/fake/lose", `{"err_code":"SYSTEMERROR","times":1}`)
	require.Equal(t, http.StatusOK, status, "%s", raw)
	require.JSONEq(t, `{"err_code":"SYSTEMERROR","times":1}`, string(raw))
	status, raw = admin(t, s, http.MethodPost, "/fake/lose", `{"err_code":"","times":1}`)
	require.Equal(t, http.StatusOK, status, "%s", raw)
	require.JSONEq(t, `{"err_code":"","times":1}`, string(raw))

	requireErrCode(t, refund(t, s, "O1", "R1", 1000, 10), wxrefund.CodeSystemError)
	resp, err := httpClient(t, s, true).Post(s.URL()+wxrefundtest.PathRefund, "text/xml", bytes.NewReader(encode(t,
		sign(s, params{"out_trade_no": "O1", "out_refund_no": "R2", "total_fee": "1000", "refund_fee": "20"},
			wxrefund.SignTypeMD5))))
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "dropped")
	status, raw = admin(t, s, http.MethodGet, "/fake/refunds?out_trade_no=O1", "")
	require.Equal(t, http.StatusOK, status)
	var refunds []wxrefundtest.RefundState
	require.NoError(t, json.Unmarshal(raw, &refunds))
	require.Len(t, refunds, 2)
	require.Equal(t, "R1", refunds[0].OutRefundNo)
	require.Equal(t, "R2", refunds[1].OutRefundNo)

	// POST /fake/faults/clear clears.
	s.LoseNext(wxrefund.CodeSystemError, 3)
	status, raw = admin(t, s, http.MethodPost, "/fake/faults/clear", `{}`)
	require.Equal(t, http.StatusOK, status, "%s", raw)
	mustRefund(t, s, "O1", "R3", 1000, 30)

	for name, body := range map[string]string{
		"no err_code":      `{"times":1}`,
		"null err_code":    `{"err_code":null,"times":1}`,
		"bad err_code":     `{"err_code":"<x>","times":1}`,
		"long err_code":    `{"err_code":"` + string(bytes.Repeat([]byte("E"), 33)) + `","times":1}`,
		"err_code number":  `{"err_code":1,"times":1}`,
		"times string":     `{"err_code":"SYSTEMERROR","times":"1"}`,
		"times overflow":   `{"err_code":"SYSTEMERROR","times":1e30}`,
		"path is for fail": `{"path":"/secapi/pay/refund","err_code":"SYSTEMERROR","times":1}`,
		"not JSON":         `err_code=SYSTEMERROR`,
		"empty":            ``,
	} {
		t.Run(name, func(t *testing.T) {
			status, raw := admin(t, s, http.MethodPost, "/fake/lose", body)
			require.Equal(t, http.StatusBadRequest, status, "%s", raw)
			var e struct {
				Error string `json:"error"`
			}
			require.NoError(t, json.Unmarshal(raw, &e))
			require.NotEmpty(t, e.Error)
		})
	}
	status, _ = admin(t, s, http.MethodGet, "/fake/lose", "")
	require.Equal(t, http.StatusMethodNotAllowed, status)
	// None of them queued anything.
	mustRefund(t, s, "O1", "R4", 1000, 40)
	require.Len(t, s.Refunds("O1"), 4)
}

// TestLoseNextConcurrent races lost answers, drops, plain refunds, LoseNext
// itself and state reads. Every goroutine that queues a lost answer sends a
// refund afterwards, so every lost answer is consumed however they
// interleave; which request loses which answer is up to the scheduler.
func TestLoseNextConcurrent(t *testing.T) {
	s := newServer(t, wxrefundtest.WithBalance(1_000_000))
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 1000, CouponFee: 100})
	hc := httpClient(t, s, true)
	codes := []string{ // what the queuing goroutines queue
		wxrefund.CodeSystemError, wxrefund.CodeSystemError, wxrefund.CodeSystemError, wxrefund.CodeSystemError,
		wxrefund.CodeSystemError, wxrefund.CodeBizErrNeedRetry, wxrefund.CodeBizErrNeedRetry, "", "", "",
	}
	const n = 30 // refunds of 30 out of 1000; the first len(codes) goroutines queue a lost answer first

	type result struct {
		no  string
		raw []byte
		err error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for i := range n {
		no := fmt.Sprint("R", i)
		body := encode(t, sign(s, params{"out_trade_no": "O1", "out_refund_no": no, "total_fee": "1000",
			"refund_fee": "30"}, wxrefund.SignTypeMD5))
		wg.Go(func() {
			if i < len(codes) {
				s.LoseNext(codes[i], 1)
			}
			resp, err := hc.Post(s.URL()+wxrefundtest.PathRefund, "text/xml", bytes.NewReader(body))
			if err != nil {
				results <- result{no: no, err: err}
				return
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			results <- result{no, raw, err}
		})
	}
	for range 10 {
		wg.Go(func() {
			s.Refunds("O1")
			s.RefundState("R0")
			s.Balance()
		})
	}
	wg.Wait()
	close(results)

	got := map[string]int{} // err_code ("" for SUCCESS, "drop" for no answer) -> count
	ids := map[string]string{}
	for r := range results {
		if r.err != nil {
			got["drop"]++
			continue
		}
		f := decode(t, s, r.raw, wxrefund.SignTypeMD5)
		if f["result_code"] == "SUCCESS" {
			got[""]++
			ids[r.no] = f["refund_id"]
		} else {
			got[f["err_code"]]++
		}
	}
	require.Equal(t, map[string]int{"": n - len(codes), wxrefund.CodeSystemError: 5, wxrefund.CodeBizErrNeedRetry: 2,
		"drop": 3}, got, "every lost answer was consumed, by a refund that was applied")
	// Every refund was applied once, whatever its answer.
	st := s.Refunds("O1")
	require.Len(t, st, n)
	fee, cash, coupon := sum(st)
	require.EqualValues(t, n*30, fee)
	require.EqualValues(t, 1_000_000-cash, s.Balance())
	require.EqualValues(t, fee, cash+coupon)
	for _, r := range st {
		if id, ok := ids[r.OutRefundNo]; ok {
			require.Equal(t, r.RefundID, id)
		}
		again := mustRefund(t, s, "O1", r.OutRefundNo, 1000, 30) // the queue is empty
		require.Equal(t, r.RefundID, again["refund_id"])
	}
	require.Len(t, s.Refunds("O1"), n)
}
