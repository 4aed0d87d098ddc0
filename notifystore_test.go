package wxrefund

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemoryNotifyStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := NewMemoryNotifyStore(3, time.Hour).(*memoryStore)
	now := time.Date(2024, 6, 3, 10, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	done := func(k string) bool { ok, err := s.Processed(ctx, k); require.NoError(t, err); return ok }

	assert.False(t, done("a"))
	for _, k := range []string{"a", "b", "c"} {
		require.NoError(t, s.MarkProcessed(ctx, k))
	}
	assert.True(t, done("a") && done("b") && done("c"))
	require.NoError(t, s.MarkProcessed(ctx, "d")) // bounded: the oldest goes
	assert.False(t, done("a"))
	assert.True(t, done("d"))
	require.NoError(t, s.MarkProcessed(ctx, "b")) // recorded again: now the newest
	require.NoError(t, s.MarkProcessed(ctx, "e"))
	assert.False(t, done("c"))
	assert.True(t, done("b"))

	now = now.Add(time.Hour) // expired
	assert.False(t, done("b") || done("d") || done("e"))
	assert.Zero(t, s.order.Len())

	d := NewMemoryNotifyStore(0, 0).(*memoryStore)
	assert.Equal(t, 100_000, d.max)
	assert.Equal(t, 25*time.Hour, d.ttl)
}

// nsDeliver posts body to h and returns the status.
func nsDeliver(h http.Handler, body []byte) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/notify", bytes.NewReader(body)))
	return rec.Code
}

// nsStore wraps a NotifyStore and can fail.
type nsStore struct {
	NotifyStore
	fail atomic.Bool
}

func (s *nsStore) Processed(ctx context.Context, key string) (bool, error) {
	if s.fail.Load() {
		return false, errors.New("database is down")
	}
	return s.NotifyStore.Processed(ctx, key)
}

func TestNotifyHandlerWithStore(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	store := &nsStore{NotifyStore: NewMemoryNotifyStore(100, time.Hour)}
	var calls atomic.Int64
	var failing atomic.Bool
	h := c.NotifyHandler(func(ctx context.Context, n *RefundNotification) error {
		calls.Add(1)
		if failing.Load() {
			return errors.New("database is down")
		}
		return nil
	}, WithNotifyStore(store))
	body := ntEncryptNotify(t, ntKey, ntAppID, ntMchID, ntInner())

	failing.Store(true)
	assert.Equal(t, http.StatusInternalServerError, nsDeliver(h, body))
	assert.EqualValues(t, 1, calls.Load())
	failing.Store(false)
	assert.Equal(t, http.StatusOK, nsDeliver(h, body), "a failure is not recorded: the redelivery calls fn")
	assert.EqualValues(t, 2, calls.Load())
	assert.Equal(t, http.StatusOK, nsDeliver(h, body), "a duplicate is acknowledged")
	assert.EqualValues(t, 2, calls.Load(), "without calling fn again")

	// Another status of the same refund is another notification.
	inner := ntInner()
	inner["refund_status"] = "CHANGE"
	assert.Equal(t, http.StatusOK, nsDeliver(h, ntEncryptNotify(t, ntKey, ntAppID, ntMchID, inner)))
	assert.EqualValues(t, 3, calls.Load())

	// A store that fails: not acknowledged, fn not called.
	store.fail.Store(true)
	inner["out_refund_no"] = "RF-NEW"
	assert.Equal(t, http.StatusInternalServerError, nsDeliver(h, ntEncryptNotify(t, ntKey, ntAppID, ntMchID, inner)))
	assert.EqualValues(t, 3, calls.Load())
}

// The logger records each delivery that is not acknowledged, and why,
// without the key, ciphertext or decrypted values.
func TestNotifyLoggerRecordsRejections(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(&ptSyncWriter{w: &buf, mu: &mu}, nil))
	h := c.NotifyHandler(func(context.Context, *RefundNotification) error { return errors.New("RF20240603000001 failed") },
		WithNotifyLogger(log))
	good := ntEncryptNotify(t, ntKey, ntAppID, ntMchID, ntInner())
	wrongKey := ntEncryptNotify(t, "AnotherApiV2Key0123456789Abcdef0", ntAppID, ntMchID, ntInner())
	other := ntEncryptNotify(t, ntKey, "wx0000000000000000", ntMchID, ntInner())
	assert.Equal(t, http.StatusInternalServerError, nsDeliver(h, good))
	assert.Equal(t, http.StatusBadRequest, nsDeliver(h, wrongKey))
	assert.Equal(t, http.StatusBadRequest, nsDeliver(h, other))
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	assert.Equal(t, 3, strings.Count(out, `"msg":"wxrefund: notification not acknowledged"`), out)
	assert.Contains(t, out, "the handler failed")
	assert.Contains(t, out, "cannot decrypt req_info")
	assert.Contains(t, out, "appid/mch_id do not match")
	outer, err := mtDecode(good, "xml")
	require.NoError(t, err)
	for k, v := range ntInner() {
		if len(v) > 3 { // not "API"
			assert.NotContains(t, out, v, k)
		}
	}
	for _, secret := range []string{ntKey, ntAESKey, outer["req_info"][:40]} {
		assert.NotContains(t, out, secret)
	}
}

// A storm: 1,000 deliveries of 700 refunds' notifications, 30% of them
// duplicates (some delivered at once), and fn failing one call in ten.
// Every failed delivery is redelivered until acknowledged, as WeChat Pay
// does; fn's effect happens exactly once per refund.
func TestNotifyStorm(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	const unique, total = 700, 1000
	var (
		mu      sync.Mutex
		effects = map[string]int{}
		inside  = map[string]bool{}
		calls   atomic.Int64
	)
	h := c.NotifyHandler(func(ctx context.Context, n *RefundNotification) error {
		mu.Lock()
		if inside[n.OutRefundNo] {
			mu.Unlock()
			return errors.New("two deliveries of one notification at once")
		}
		inside[n.OutRefundNo] = true
		mu.Unlock()
		defer func() { mu.Lock(); inside[n.OutRefundNo] = false; mu.Unlock() }()
		if calls.Add(1)%10 == 0 {
			return errors.New("transient failure")
		}
		mu.Lock()
		effects[n.OutRefundNo]++
		mu.Unlock()
		return nil
	}, WithNotifyStore(NewMemoryNotifyStore(0, 0)))

	bodies := make([][]byte, unique)
	for i := range bodies {
		inner := ntInner()
		inner["out_refund_no"] = fmt.Sprintf("RF%05d", i)
		bodies[i] = ntEncryptNotify(t, ntKey, ntAppID, ntMchID, inner)
	}
	deliveries := make([]int, 0, total)
	for i := range unique {
		deliveries = append(deliveries, i)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	for len(deliveries) < total {
		deliveries = append(deliveries, rng.IntN(unique))
	}
	rng.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })

	var wg sync.WaitGroup
	var redeliveries atomic.Int64
	work := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				for attempt := 0; nsDeliver(h, bodies[i]) != http.StatusOK; attempt++ {
					require.Less(t, attempt, 50, "never acknowledged")
					redeliveries.Add(1)
				}
			}
		}()
	}
	for _, i := range deliveries {
		work <- i
	}
	close(work)
	wg.Wait()

	require.Len(t, effects, unique)
	for no, n := range effects {
		require.Equal(t, 1, n, "%s took effect %d times", no, n)
	}
	assert.Positive(t, redeliveries.Load(), "some deliveries failed and were redelivered")
	t.Logf("storm: %d deliveries of %d notifications, %d handler calls, %d redeliveries after a failure",
		total, unique, calls.Load(), redeliveries.Load())
}
