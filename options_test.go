package wxrefund

// Tests for the options that shape each call in production: WithRetry,
// WithFailover, WithRateLimiter, WithLogger and WithTransportWrapper.
// Through real mutual-TLS servers (setup, mtSetup); helpers carry the
// prefix pt. (The options that set up the Client, its certificate and its
// HTTP client, are in client_test.go.)

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ptFast is a retry policy with short pauses, for tests.
var ptFast = RetryPolicy{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

// ptScript answers refund requests from a script of answers, one per
// request (the last repeats), and counts the requests.
func ptScript(t *testing.T, mux *http.ServeMux, answers ...func(req map[string]string) map[string]string) *atomic.Int64 {
	t.Helper()
	n := new(atomic.Int64)
	mux.HandleFunc(pathRefund, func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		a := answers[min(i, len(answers)-1)]
		mtWriteFields(t, w, mtSigned(a(mtReadRequest(t, r, SignTypeMD5).Fields), SignTypeMD5))
	})
	return n
}

func ptFail(code string) func(map[string]string) map[string]string {
	return func(map[string]string) map[string]string { return mtBizFail(code, "x") }
}

func TestRetryResendsWhatIsSafe(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		answers  []func(map[string]string) map[string]string
		requests int64
		check    func(t *testing.T, resp *RefundResponse, err error)
	}{
		{
			name:     "SYSTEMERROR then success",
			answers:  []func(map[string]string) map[string]string{ptFail(CodeSystemError), mtRefundOK},
			requests: 2,
			check: func(t *testing.T, resp *RefundResponse, err error) {
				require.NoError(t, err)
				assert.Equal(t, "RF20240603000001", resp.OutRefundNo)
			},
		},
		{
			name:     "always SYSTEMERROR: the attempts are counted, the outcome unknown",
			answers:  []func(map[string]string) map[string]string{ptFail(CodeSystemError)},
			requests: 3,
			check: func(t *testing.T, _ *RefundResponse, err error) {
				mtUnknown(&Error{ErrCode: CodeSystemError})(t, err)
				assert.Contains(t, err.Error(), "after 3 attempts")
			},
		},
		{
			name:     "NOTENOUGH is not resent",
			answers:  []func(map[string]string) map[string]string{ptFail(CodeNotEnough), mtRefundOK},
			requests: 1,
			check: func(t *testing.T, _ *RefundResponse, err error) {
				assert.ErrorIs(t, err, ErrOutcomeUnknown)
				assert.Equal(t, CodeNotEnough, ErrorCode(err))
			},
		},
		{
			name:     "REFUND_FEE_MISMATCH is not resent",
			answers:  []func(map[string]string) map[string]string{ptFail(CodeRefundFeeMismatch), mtRefundOK},
			requests: 1,
			check: func(t *testing.T, _ *RefundResponse, err error) {
				assert.Equal(t, CodeRefundFeeMismatch, ErrorCode(err))
			},
		},
		{
			// No reason given: nothing says the refund was not made.
			name:     "result_code FAIL without err_code is unknown, and not resent",
			answers:  []func(map[string]string) map[string]string{ptFail(""), mtRefundOK},
			requests: 1,
			check: func(t *testing.T, _ *RefundResponse, err error) {
				assert.ErrorIs(t, err, ErrOutcomeUnknown)
				assert.False(t, IsRetryable(err))
				assert.Contains(t, err.Error(), "query the refund")
			},
		},
		{
			name:     "a final error is not resent",
			answers:  []func(map[string]string) map[string]string{ptFail(CodeTradeOverdue), mtRefundOK},
			requests: 1,
			check: func(t *testing.T, _ *RefundResponse, err error) {
				assert.NotErrorIs(t, err, ErrOutcomeUnknown)
				assert.Equal(t, CodeTradeOverdue, ErrorCode(err))
			},
		},
		{
			// The first attempt may have made the refund: a final error
			// after it must not read as "not refunded".
			name:     "unknown, then a final error: still unknown",
			answers:  []func(map[string]string) map[string]string{ptFail(CodeSystemError), ptFail(CodeTradeStateError)},
			requests: 2,
			check: func(t *testing.T, _ *RefundResponse, err error) {
				assert.ErrorIs(t, err, ErrOutcomeUnknown)
				assert.Equal(t, CodeTradeStateError, ErrorCode(err))
				assert.Contains(t, err.Error(), "after 2 attempts")
			},
		},
		{
			name: "an answer that cannot be trusted is resent",
			answers: []func(map[string]string) map[string]string{
				func(req map[string]string) map[string]string { f := mtRefundOK(req); f["refund_fee"] = "1"; return f },
				mtRefundOK,
			},
			requests: 2,
			check:    func(t *testing.T, _ *RefundResponse, err error) { require.NoError(t, err) },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t, WithRetry(ptFast))
			n := ptScript(t, mux, tc.answers...)
			var nonces []string
			var mu sync.Mutex
			c.nonce = func() string { s := newNonce(); mu.Lock(); nonces = append(nonces, s); mu.Unlock(); return s }
			resp, err := c.Refund(context.Background(), mtRefundReq())
			tc.check(t, resp, err)
			assert.Equal(t, tc.requests, n.Load(), "requests sent")
			mu.Lock()
			assert.Len(t, nonces, int(tc.requests), "a fresh nonce per attempt")
			mu.Unlock()
		})
	}
}

// Every attempt sends the same refund: the same out_refund_no and amounts.
func TestRetrySendsTheSameRefund(t *testing.T) {
	t.Parallel()
	c, mux := setup(t, WithRetry(ptFast))
	reqs := mtHandle(t, mux, pathRefund, SignTypeMD5, func(map[string]string) map[string]string {
		return mtBizFail(CodeSystemError, "x")
	})
	_, err := c.Refund(context.Background(), mtRefundReq())
	require.ErrorIs(t, err, ErrOutcomeUnknown)
	first := mtReceive(t, reqs).Fields
	for range 2 {
		again := mtReceive(t, reqs).Fields
		for _, k := range []string{"out_refund_no", "out_trade_no", "refund_fee", "total_fee", "notify_url", "refund_desc"} {
			assert.Equal(t, first[k], again[k], k)
		}
		assert.NotEqual(t, first["nonce_str"], again["nonce_str"])
	}
}

// A pause that would end past the deadline is not taken: the call ends
// with the last (unknown) outcome; INVALID_REQ_TOO_MUCH waits a minute.
func TestRetryRespectsTheDeadline(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		policy RetryPolicy
		code   string
	}{
		{"next pause past the deadline", RetryPolicy{MaxAttempts: 5, BaseDelay: time.Hour}, CodeSystemError},
		{"INVALID_REQ_TOO_MUCH waits at least a minute", ptFast, CodeInvalidReqTooMuch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t, WithRetry(tc.policy))
			n := ptScript(t, mux, ptFail(tc.code), mtRefundOK)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := c.Refund(ctx, mtRefundReq())
			mtUnknown(&Error{ErrCode: tc.code})(t, err)
			assert.EqualValues(t, 1, n.Load())
			assert.NoError(t, ctx.Err(), "the call waited for nothing")
		})
	}
}

// QueryRefund retries SYSTEMERROR under the same policy.
func TestRetryQuery(t *testing.T) {
	t.Parallel()
	c, mux := setup(t, WithRetry(ptFast))
	var n atomic.Int64
	mtHandle(t, mux, pathRefundQuery, SignTypeMD5, func(map[string]string) map[string]string {
		if n.Add(1) == 1 {
			return mtBizFail(CodeSystemError, "x")
		}
		return mtQueryOK()
	})
	resp, err := c.QueryRefund(context.Background(), &QueryRefundRequest{OutRefundNo: "RF20240603000001"})
	require.NoError(t, err)
	assert.Len(t, resp.Refunds, 1)
	assert.EqualValues(t, 2, n.Load())
}

// Pauses never overflow, whatever the policy and the attempt.
func TestRetryPauseBounds(t *testing.T) {
	t.Parallel()
	c := &Client{retry: RetryPolicy{MaxAttempts: 100, BaseDelay: 9 * time.Second, MaxDelay: time.Hour}}
	for attempt := 1; attempt < 100; attempt++ {
		d, ok := c.retryPause(context.Background(), attempt, 100, &Error{ErrCode: CodeSystemError})
		require.True(t, ok)
		require.Positive(t, d, "attempt %d", attempt)
		require.LessOrEqual(t, d, time.Hour, "attempt %d", attempt)
	}
}

func TestRetryPolicyValidation(t *testing.T) {
	t.Parallel()
	_, err := NewClient(mtAppID, mtMchID, mtAPIKey, WithRetry(RetryPolicy{MaxAttempts: 3, BaseDelay: -1}))
	require.ErrorIs(t, err, ErrInvalidConfig)
	for _, opt := range []Option{WithRateLimiter(nil), WithLogger(nil), WithTransportWrapper(nil), WithFailover("http://x")} {
		_, err := NewClient(mtAppID, mtMchID, mtAPIKey, opt)
		require.ErrorIs(t, err, ErrInvalidConfig)
	}
}

// ptFailoverPair starts a primary and a backup server and a Client that
// fails over from one to the other.
func ptFailoverPair(t *testing.T, primary func(mux *http.ServeMux)) (*Client, *mtServer, *mtServer, *atomic.Int64) {
	t.Helper()
	pki := mtCerts()
	p := mtNewServer(t, 0, nil, nil)
	b := mtNewServer(t, 0, nil, nil)
	if primary != nil {
		primary(p.mux)
	}
	backupHits := ptScript(t, b.mux, mtRefundOK)
	c, err := NewClient(mtAppID, mtMchID, mtAPIKey, WithPEM(pki.clientCertPEM, pki.clientKeyPEM),
		WithRootCAs(pki.caPool), WithBaseURL(p.URL), WithFailover(b.URL))
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c, p, b, backupHits
}

func TestFailover(t *testing.T) {
	t.Parallel()
	t.Run("primary refuses connections", func(t *testing.T) {
		t.Parallel()
		c, p, _, backup := ptFailoverPair(t, nil)
		p.Close()
		resp, err := c.Refund(context.Background(), mtRefundReq())
		require.NoError(t, err)
		assert.Equal(t, "RF20240603000001", resp.OutRefundNo)
		assert.EqualValues(t, 1, backup.Load())
	})
	t.Run("primary answers 502, then recovers", func(t *testing.T) {
		t.Parallel()
		var broken atomic.Bool
		broken.Store(true)
		var primaryHits atomic.Int64
		c, _, _, backup := ptFailoverPair(t, func(mux *http.ServeMux) {
			mux.HandleFunc(pathRefund, func(w http.ResponseWriter, r *http.Request) {
				primaryHits.Add(1)
				if broken.Load() {
					http.Error(w, "bad gateway", http.StatusBadGateway)
					return
				}
				mtWriteFields(t, w, mtSigned(mtRefundOK(mtReadRequest(t, r, SignTypeMD5).Fields), SignTypeMD5))
			})
		})
		c.failoverFor = time.Hour
		_, err := c.Refund(context.Background(), mtRefundReq())
		require.NoError(t, err)
		assert.EqualValues(t, 1, primaryHits.Load())
		assert.EqualValues(t, 1, backup.Load())

		// While the primary counts as down, the backup is asked first.
		_, err = c.Refund(context.Background(), mtRefundReq())
		require.NoError(t, err)
		assert.EqualValues(t, 1, primaryHits.Load())
		assert.EqualValues(t, 2, backup.Load())

		// Later the primary is tried again.
		broken.Store(false)
		c.downUntil.Store(0)
		_, err = c.Refund(context.Background(), mtRefundReq())
		require.NoError(t, err)
		assert.EqualValues(t, 2, primaryHits.Load())
		assert.EqualValues(t, 2, backup.Load())
	})
	t.Run("primary 502, backup final: the outcome stays unknown", func(t *testing.T) {
		t.Parallel()
		// The primary's 502 may have come after it made the refund: the
		// backup's final error must not read as "not refunded".
		pki := mtCerts()
		p := mtNewServer(t, 0, nil, nil)
		b := mtNewServer(t, 0, nil, nil)
		p.mux.HandleFunc(pathRefund, func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "bad gateway", http.StatusBadGateway)
		})
		ptScript(t, b.mux, ptFail(CodeTradeStateError))
		c, err := NewClient(mtAppID, mtMchID, mtAPIKey, WithPEM(pki.clientCertPEM, pki.clientKeyPEM),
			WithRootCAs(pki.caPool), WithBaseURL(p.URL), WithFailover(b.URL))
		require.NoError(t, err)
		t.Cleanup(c.CloseIdleConnections)
		_, err = c.Refund(context.Background(), mtRefundReq())
		assert.ErrorIs(t, err, ErrOutcomeUnknown)
		assert.Equal(t, CodeTradeStateError, ErrorCode(err))
		assert.Contains(t, err.Error(), "failing over")
	})
	t.Run("a business error does not fail over", func(t *testing.T) {
		t.Parallel()
		c, _, _, backup := ptFailoverPair(t, func(mux *http.ServeMux) { ptScript(t, mux, ptFail(CodeTradeOverdue)) })
		_, err := c.Refund(context.Background(), mtRefundReq())
		assert.Equal(t, CodeTradeOverdue, ErrorCode(err))
		assert.Zero(t, backup.Load())
	})
}

// ptLimiter counts Waits, and fails them once told to.
type ptLimiter struct {
	waits atomic.Int64
	fail  atomic.Bool
}

func (l *ptLimiter) Wait(ctx context.Context) error {
	l.waits.Add(1)
	if l.fail.Load() {
		return context.DeadlineExceeded
	}
	return ctx.Err()
}

func TestRateLimiterBeforeEveryAttempt(t *testing.T) {
	t.Parallel()
	l := &ptLimiter{}
	c, mux := setup(t, WithRetry(ptFast), WithRateLimiter(l))
	n := ptScript(t, mux, ptFail(CodeSystemError), ptFail(CodeSystemError), mtRefundOK)
	_, err := c.Refund(context.Background(), mtRefundReq())
	require.NoError(t, err)
	assert.EqualValues(t, 3, n.Load())
	assert.EqualValues(t, 3, l.waits.Load())

	// A limiter that gives up sends nothing: not an unknown outcome.
	l.fail.Store(true)
	_, err = c.Refund(context.Background(), mtRefundReq())
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
	assert.EqualValues(t, 3, n.Load())
}

func TestLoggerRecordsAttemptsWithoutSecrets(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(&ptSyncWriter{w: &buf, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, mux := setup(t, WithRetry(ptFast), WithLogger(logger))
	var signs []string
	mux.HandleFunc(pathRefund, func(w http.ResponseWriter, r *http.Request) {
		req := mtReadRequest(t, r, SignTypeMD5)
		f := mtBizFail(CodeSystemError, "系统超时")
		if len(signs) > 0 {
			f = mtRefundOK(req.Fields)
		}
		f = mtSigned(f, SignTypeMD5)
		signs = append(signs, req.Fields["sign"], f["sign"])
		mtWriteFields(t, w, f)
	})
	_, err := c.Refund(context.Background(), mtRefundReq())
	require.NoError(t, err)
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	assert.Contains(t, out, `"level":"DEBUG","msg":"wxrefund: call","op":"refund"`)
	assert.Contains(t, out, `"err_code":"SYSTEMERROR"`)
	assert.Contains(t, out, `"attempt":2`)
	assert.Contains(t, out, `"level":"WARN","msg":"wxrefund: sending the same request again"`)
	assert.Contains(t, out, `"domain":"127.0.0.1`)
	leaf := mtCerts().clientLeaf // its CN is the mch_id: look for what only the certificate says
	for _, secret := range append(signs, mtAPIKey, "BEGIN", "<xml>", "CDATA", leaf.Subject.String(), leaf.SerialNumber.String()) {
		assert.NotContains(t, out, secret)
	}
}

type ptSyncWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (s *ptSyncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// ptCounting is a RoundTripper wrapper that counts requests.
type ptCounting struct {
	next http.RoundTripper
	n    atomic.Int64
}

func (p *ptCounting) RoundTrip(r *http.Request) (*http.Response, error) {
	p.n.Add(1)
	return p.next.RoundTrip(r)
}

func TestTransportWrapperKeepsTheCertificate(t *testing.T) {
	t.Parallel()
	var wrapper *ptCounting
	c, s := mtSetup(t, WithTransportWrapper(func(next http.RoundTripper) http.RoundTripper {
		wrapper = &ptCounting{next: next}
		return wrapper
	}))
	reqs := mtRefundHandler(t, s.mux, mtRefundOK)
	_, err := c.Refund(context.Background(), mtRefundReq())
	require.NoError(t, err) // the server requires and verifies the merchant certificate
	assert.EqualValues(t, 1, wrapper.n.Load())
	assert.True(t, mtReceive(t, reqs).PeerCerts[0].Equal(mtCerts().clientLeaf))

	_, err = NewClient(mtAppID, mtMchID, mtAPIKey, WithTransportWrapper(func(http.RoundTripper) http.RoundTripper { return nil }))
	require.ErrorIs(t, err, ErrInvalidConfig)
}
