package wxrefund

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Claims: deliveries of one notification to handlers that share a store
// call fn once.

// TestMemoryStoreClaims covers Claim and Release of the memory store: one
// holder at a time, release by the holder only, take-over after the lease,
// processed keys.
func TestMemoryStoreClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryNotifyStore(10, time.Hour).(*memoryStore)
	now := time.Date(2024, 6, 3, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }

	a, err := s.Claim(ctx, "k", time.Minute)
	require.NoError(t, err)
	require.Equal(t, ClaimAcquired, a.State)
	require.NotEmpty(t, a.Token)
	b, err := s.Claim(ctx, "k", time.Minute)
	require.NoError(t, err)
	assert.Equal(t, ClaimHeld, b.State)
	assert.Empty(t, b.Token)

	require.NoError(t, s.Release(ctx, "k", "not-the-token"))
	b, _ = s.Claim(ctx, "k", time.Minute)
	assert.Equal(t, ClaimHeld, b.State, "only the holder releases")
	require.NoError(t, s.Release(ctx, "k", a.Token))
	b, _ = s.Claim(ctx, "k", time.Minute)
	require.Equal(t, ClaimAcquired, b.State, "released")

	now = now.Add(time.Minute) // b's lease ended: a crashed holder
	c, _ := s.Claim(ctx, "k", time.Minute)
	require.Equal(t, ClaimAcquired, c.State, "taken over after the lease")
	require.NoError(t, s.Release(ctx, "k", b.Token))
	d, _ := s.Claim(ctx, "k", time.Minute)
	assert.Equal(t, ClaimHeld, d.State, "the late holder's release leaves the new claim alone")

	require.NoError(t, s.MarkProcessed(ctx, "k"))
	d, _ = s.Claim(ctx, "k", time.Minute)
	assert.Equal(t, ClaimProcessed, d.State)
	require.NoError(t, s.Release(ctx, "k", c.Token))
	done, _ := s.Processed(ctx, "k")
	assert.True(t, done, "a release leaves a processed key alone")

	for _, st := range []ClaimState{ClaimAcquired, ClaimHeld, ClaimProcessed, 0} {
		assert.NotEmpty(t, st.String())
	}
}

// ncDeliver posts body to h with ctx and returns the status.
func ncDeliver(ctx context.Context, h http.Handler, body []byte) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodPost, "/notify", bytes.NewReader(body)))
	return rec.Code
}

// Two handlers (two instances) share one memory store; each of 100
// notifications is delivered to both at the same moment, three times
// each. fn runs once per notification, and every notification ends
// acknowledged after WeChat Pay's redeliveries.
func TestSharedStoreCallsFnOnce(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	store := NewMemoryNotifyStore(0, 0)
	var mu sync.Mutex
	calls := map[string]int{}
	fn := func(_ context.Context, n *RefundNotification) error {
		mu.Lock()
		calls[n.OutRefundNo]++
		mu.Unlock()
		time.Sleep(time.Millisecond) // long enough for the other deliveries to arrive
		return nil
	}
	handlers := []http.Handler{c.NotifyHandler(fn, WithNotifyStore(store)), c.NotifyHandler(fn, WithNotifyStore(store))}

	const notifications, copies = 100, 3
	var wg sync.WaitGroup
	var acked, refused atomic.Int64
	for i := range notifications {
		inner := ntInner()
		inner["out_refund_no"] = fmt.Sprintf("RF%05d", i)
		body := ntEncryptNotify(t, ntKey, ntAppID, ntMchID, inner)
		for j := range copies * len(handlers) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// WeChat Pay redelivers until acknowledged.
				for attempt := 0; ncDeliver(context.Background(), handlers[j%len(handlers)], body) != http.StatusOK; attempt++ {
					refused.Add(1)
					if attempt > 1000 {
						t.Error("never acknowledged")
						return
					}
					time.Sleep(time.Millisecond)
				}
				acked.Add(1)
			}()
		}
	}
	wg.Wait()
	require.Len(t, calls, notifications)
	for no, n := range calls {
		require.Equal(t, 1, n, "fn ran %d times for %s", n, no)
	}
	assert.EqualValues(t, notifications*copies*len(handlers), acked.Load())
	assert.Positive(t, refused.Load(), "deliveries that met another's claim were refused")
	t.Logf("%d notifications, %d deliveries, %d refused while claimed", notifications, notifications*copies*len(handlers), refused.Load())
}

// A delivery waiting for another delivery of the same notification gives
// up when its request ends, without calling fn.
func TestWaitingDeliveryEndsWithItsRequest(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	for _, opts := range [][]NotifyOption{nil, {WithNotifyStore(NewMemoryNotifyStore(0, 0))}} {
		calls.Store(0)
		h := c.NotifyHandler(func(ctx context.Context, n *RefundNotification) error {
			if calls.Add(1) == 1 {
				entered <- struct{}{}
				<-release
			}
			return nil
		}, opts...)
		body := ntEncryptNotify(t, ntKey, ntAppID, ntMchID, ntInner())
		first := make(chan int)
		go func() { first <- ncDeliver(context.Background(), h, body) }()
		<-entered
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		code := ncDeliver(ctx, h, body)
		cancel()
		assert.NotEqual(t, http.StatusOK, code, "the abandoned delivery is not acknowledged")
		assert.EqualValues(t, 1, calls.Load(), "fn is not called for the abandoned delivery")
		release <- struct{}{}
		assert.Equal(t, http.StatusOK, <-first)
		assert.EqualValues(t, 1, calls.Load())
	}
}

// ncClaimer is a NotifyClaimer whose operations can fail, as a database
// that goes away.
type ncClaimer struct {
	NotifyClaimer
	failClaim, failMark, failRelease atomic.Bool
	releases                         atomic.Int64
}

var errDown = errors.New("database is down")

func (s *ncClaimer) Claim(ctx context.Context, key string, lease time.Duration) (Claim, error) {
	if s.failClaim.Load() {
		return Claim{}, errDown
	}
	return s.NotifyClaimer.Claim(ctx, key, lease)
}

func (s *ncClaimer) MarkProcessed(ctx context.Context, key string) error {
	if s.failMark.Load() {
		return errDown
	}
	return s.NotifyClaimer.MarkProcessed(ctx, key)
}

func (s *ncClaimer) Release(ctx context.Context, key, token string) error {
	s.releases.Add(1)
	if s.failRelease.Load() {
		return errDown
	}
	return s.NotifyClaimer.Release(ctx, key, token)
}

// Store failures answer FAIL and never record a notification as processed
// when fn failed; fn's failure releases the claim; a claim whose holder
// died is taken over after the lease; fn's context ends with the lease.
func TestClaimedDeliveries(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	body := ntEncryptNotify(t, ntKey, ntAppID, ntMchID, ntInner())
	n, err := c.DecryptNotify(body)
	require.NoError(t, err)
	key := notifyKeyOf(n)
	ctx := context.Background()

	t.Run("fn fails: released, the next delivery processes it", func(t *testing.T) {
		t.Parallel()
		store := &ncClaimer{NotifyClaimer: NewMemoryNotifyStore(0, 0)}
		var calls atomic.Int64
		h := c.NotifyHandler(func(context.Context, *RefundNotification) error {
			if calls.Add(1) == 1 {
				return errors.New("not yet")
			}
			return nil
		}, WithNotifyStore(store))
		assert.Equal(t, http.StatusInternalServerError, ncDeliver(ctx, h, body))
		done, _ := store.Processed(ctx, key)
		assert.False(t, done)
		assert.EqualValues(t, 1, store.releases.Load())
		assert.Equal(t, http.StatusOK, ncDeliver(ctx, h, body))
		assert.Equal(t, http.StatusOK, ncDeliver(ctx, h, body))
		assert.EqualValues(t, 2, calls.Load())
	})

	t.Run("the store fails to claim: FAIL, fn not called", func(t *testing.T) {
		t.Parallel()
		store := &ncClaimer{NotifyClaimer: NewMemoryNotifyStore(0, 0)}
		store.failClaim.Store(true)
		var calls atomic.Int64
		h := c.NotifyHandler(func(context.Context, *RefundNotification) error { calls.Add(1); return nil }, WithNotifyStore(store))
		assert.Equal(t, http.StatusInternalServerError, ncDeliver(ctx, h, body))
		assert.Zero(t, calls.Load())
	})

	t.Run("the store fails to record: FAIL, processed again later", func(t *testing.T) {
		t.Parallel()
		store := &ncClaimer{NotifyClaimer: NewMemoryNotifyStore(0, 0)}
		store.failMark.Store(true)
		var calls atomic.Int64
		h := c.NotifyHandler(func(context.Context, *RefundNotification) error { calls.Add(1); return nil },
			WithNotifyStore(store), WithNotifyLease(10*time.Millisecond))
		assert.Equal(t, http.StatusInternalServerError, ncDeliver(ctx, h, body))
		done, _ := store.Processed(ctx, key)
		assert.False(t, done)
		store.failMark.Store(false)
		time.Sleep(20 * time.Millisecond) // the claim's lease ends
		assert.Equal(t, http.StatusOK, ncDeliver(ctx, h, body))
		assert.EqualValues(t, 2, calls.Load(), "fn runs again: it must be idempotent")
	})

	t.Run("fn fails and the release fails: the claim expires", func(t *testing.T) {
		t.Parallel()
		store := &ncClaimer{NotifyClaimer: NewMemoryNotifyStore(0, 0)}
		store.failRelease.Store(true)
		fail := atomic.Bool{}
		fail.Store(true)
		h := c.NotifyHandler(func(context.Context, *RefundNotification) error {
			if fail.Load() {
				return errors.New("not yet")
			}
			return nil
		}, WithNotifyStore(store), WithNotifyLease(30*time.Millisecond))
		assert.Equal(t, http.StatusInternalServerError, ncDeliver(ctx, h, body))
		fail.Store(false)
		assert.Equal(t, http.StatusServiceUnavailable, ncDeliver(ctx, h, body), "still claimed")
		time.Sleep(40 * time.Millisecond)
		assert.Equal(t, http.StatusOK, ncDeliver(ctx, h, body))
	})

	t.Run("a holder that died: taken over after the lease", func(t *testing.T) {
		t.Parallel()
		store := NewMemoryNotifyStore(0, 0)
		dead, err := store.Claim(ctx, key, 30*time.Millisecond) // an instance that crashed inside fn
		require.NoError(t, err)
		require.Equal(t, ClaimAcquired, dead.State)
		var calls atomic.Int64
		h := c.NotifyHandler(func(context.Context, *RefundNotification) error { calls.Add(1); return nil }, WithNotifyStore(store))
		assert.Equal(t, http.StatusServiceUnavailable, ncDeliver(ctx, h, body))
		assert.Zero(t, calls.Load())
		time.Sleep(40 * time.Millisecond)
		assert.Equal(t, http.StatusOK, ncDeliver(ctx, h, body))
		assert.EqualValues(t, 1, calls.Load())
	})

	t.Run("fn's context ends with the lease", func(t *testing.T) {
		t.Parallel()
		h := c.NotifyHandler(func(ctx context.Context, _ *RefundNotification) error {
			dl, ok := ctx.Deadline()
			if !ok || time.Until(dl) > 50*time.Millisecond {
				return errors.New("no lease deadline")
			}
			<-ctx.Done()
			return ctx.Err()
		}, WithNotifyStore(NewMemoryNotifyStore(0, 0)), WithNotifyLease(50*time.Millisecond))
		assert.Equal(t, http.StatusInternalServerError, ncDeliver(ctx, h, body))
	})
}
