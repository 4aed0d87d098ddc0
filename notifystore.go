package wxrefund

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// This file holds what NotifyHandler needs to survive WeChat Pay's
// redeliveries: its options, the store of processed notifications, and the
// per-notification lock.

// NotifyOption configures NotifyHandler.
type NotifyOption func(*notifyConfig)

type notifyConfig struct {
	store NotifyStore
	log   *slog.Logger
	lease time.Duration
}

// NotifyStore remembers which notifications were processed, so that a
// redelivery is acknowledged without calling the handler again. Keys are
// opaque strings of at most 200 bytes, one per notification and status
// (a refund that goes from PROCESSING to SUCCESS is notified once per final
// status). Processed reports whether MarkProcessed was called for key.
//
// A store shared by all of a merchant's instances (a database table with a
// unique key, see the README) makes that hold across instances; the memory
// store of NewMemoryNotifyStore holds within one process.
type NotifyStore interface {
	Processed(ctx context.Context, key string) (bool, error)
	MarkProcessed(ctx context.Context, key string) error
}

// WithNotifyStore makes NotifyHandler acknowledge, without calling its
// handler, a notification that s records as processed, and record each one
// the handler processed without error. When s is also a [NotifyClaimer],
// each delivery claims its notification first, so that deliveries of one
// notification to different instances at the same moment call the handler
// once.
func WithNotifyStore(s NotifyStore) NotifyOption {
	return func(c *notifyConfig) { c.store = s }
}

// NotifyClaimer is a [NotifyStore] that hands a notification to one
// delivery at a time, across every instance that shares it. WeChat Pay
// delivers a notification several times, sometimes at once to different
// instances; with a claimer, NotifyHandler:
//
//   - claims the notification's key for a lease before calling its handler;
//     a delivery that finds the key processed is acknowledged, one that
//     finds it claimed by another delivery gets FAIL (WeChat Pay delivers
//     again later) and the handler is not called;
//   - records the key processed when the handler succeeded, and releases
//     the claim when it failed, so that the next delivery processes the
//     notification;
//   - lets a claim whose instance died expire after the lease, so that a
//     later delivery takes it over.
//
// The handler's context ends before the lease does (at nine tenths of it,
// counted from before the claim): the handler must honour it, since a
// handler still running when its lease ends may be run again by another
// delivery. The lease is also the delay before a crashed instance's
// notification is processed again (see [WithNotifyLease]). NewMemoryNotifyStore serves one process;
// package github.com/go-wxpay/wxrefund/sqlstore serves several, on MySQL,
// PostgreSQL or SQLite.
type NotifyClaimer interface {
	NotifyStore
	// Claim takes key for lease and returns ClaimAcquired with a token,
	// unless key is processed (ClaimProcessed) or claimed by another
	// caller whose lease has not ended (ClaimHeld). It must decide in one
	// atomic step: two callers never both acquire an unexpired claim.
	Claim(ctx context.Context, key string, lease time.Duration) (Claim, error)
	// Release gives up the claim on key that Claim returned with token,
	// so that the next delivery may process the notification. A claim that
	// was taken over since, or a processed key, is left alone.
	Release(ctx context.Context, key, token string) error
}

// Claim is what NotifyClaimer.Claim found.
type Claim struct {
	State ClaimState
	Token string // with ClaimAcquired: the claim's, for Release
}

// ClaimState says whether a delivery may process a notification.
type ClaimState int

// The states of a claim.
const (
	ClaimAcquired  ClaimState = iota + 1 // the caller holds the claim: process the notification
	ClaimHeld                            // another delivery holds an unexpired claim: answer FAIL
	ClaimProcessed                       // already processed: acknowledge
)

// String names the state: "acquired", "held" or "processed".
func (s ClaimState) String() string {
	switch s {
	case ClaimAcquired:
		return "acquired"
	case ClaimHeld:
		return "held"
	case ClaimProcessed:
		return "processed"
	}
	return "ClaimState(" + strconv.Itoa(int(s)) + ")"
}

// DefaultNotifyLease is how long a claim holds when WithNotifyLease is not
// given: long enough for a handler's database work, short enough that a
// notification whose instance crashed is processed at WeChat Pay's next
// deliveries (15 s, 15 s, 30 s, 3 min, ... apart).
const DefaultNotifyLease = time.Minute

// WithNotifyLease sets the lease of the claims a [NotifyClaimer] store
// makes; the handler's context ends with it. d <= 0 means
// DefaultNotifyLease.
func WithNotifyLease(d time.Duration) NotifyOption {
	return func(c *notifyConfig) { c.lease = d }
}

// WithNotifyLogger makes NotifyHandler log, at warning level, every
// delivery it does not acknowledge and why (an invalid body, another
// merchant's, a handler or store failure), with the request's remote
// address. Records never hold the API key, ciphertext or decrypted values.
func WithNotifyLogger(l *slog.Logger) NotifyOption {
	return func(c *notifyConfig) { c.log = l }
}

func (c *notifyConfig) logReject(r *http.Request, status int, reason string, err error) {
	if c.log == nil {
		return
	}
	attrs := []slog.Attr{slog.String("reason", reason), slog.Int("status", status), slog.String("remote", r.RemoteAddr)}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	c.log.LogAttrs(r.Context(), slog.LevelWarn, "wxrefund: notification not acknowledged", attrs...)
}

// notifyKeyOf identifies a notification for NotifyStore and the lock: the
// merchant (and sub-merchant), the refund and its final status.
func notifyKeyOf(n *RefundNotification) string {
	key := "wxrefund:" + n.MchID + ":" + n.SubMchID + ":" + n.OutRefundNo + ":" + string(n.Status)
	if len(key) > 200 { // only a hostile or broken notification has such ids
		sum := sha256.Sum256([]byte(key))
		key = "wxrefund:sha256:" + hex.EncodeToString(sum[:])
	}
	return key
}

// keyedMutex serializes the deliveries of one notification within a
// NotifyHandler; entries are dropped when nobody holds or waits for them.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	sem  chan struct{} // holds a value while locked
	refs int
}

// lock waits for key's lock until ctx ends; it returns ctx's error then.
func (k *keyedMutex) lock(ctx context.Context, key string) (unlock func(), err error) {
	k.mu.Lock()
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{sem: make(chan struct{}, 1)}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	drop := func() {
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case e.sem <- struct{}{}:
		return func() { <-e.sem; drop() }, nil
	case <-ctx.Done():
		drop()
		return nil, ctx.Err()
	}
}

// NewMemoryNotifyStore returns a [NotifyClaimer] kept in memory: at most
// maxEntries keys (the oldest go first), each forgotten ttl after it was
// recorded. It serves one process, and every NotifyHandler of that process
// that shares it; WeChat Pay redelivers a notification for about a day, so
// a ttl of 25 hours covers its schedule. maxEntries < 1 means
// DefaultMemoryNotifyEntries; ttl <= 0 means DefaultMemoryNotifyTTL.
func NewMemoryNotifyStore(maxEntries int, ttl time.Duration) NotifyClaimer {
	if maxEntries < 1 {
		maxEntries = DefaultMemoryNotifyEntries
	}
	if ttl <= 0 {
		ttl = DefaultMemoryNotifyTTL
	}
	return &memoryStore{max: maxEntries, ttl: ttl, m: map[string]*list.Element{}, order: list.New(),
		claims: map[string]memoryClaim{}, now: time.Now}
}

// The defaults of NewMemoryNotifyStore.
const (
	DefaultMemoryNotifyEntries = 100_000
	DefaultMemoryNotifyTTL     = 25 * time.Hour
)

type memoryStore struct {
	mu     sync.Mutex
	max    int
	ttl    time.Duration
	m      map[string]*list.Element // of memoryEntry, oldest at the front of order
	order  *list.List
	claims map[string]memoryClaim // unprocessed keys being processed
	now    func() time.Time
}

type memoryEntry struct {
	key     string
	expires time.Time
}

type memoryClaim struct {
	token string
	until time.Time
}

func (s *memoryStore) Processed(_ context.Context, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	_, ok := s.m[key]
	return ok, nil
}

func (s *memoryStore) MarkProcessed(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	delete(s.claims, key)
	if e, ok := s.m[key]; ok {
		s.order.Remove(e)
	}
	for s.order.Len() >= s.max {
		oldest := s.order.Front()
		delete(s.m, oldest.Value.(memoryEntry).key)
		s.order.Remove(oldest)
	}
	s.m[key] = s.order.PushBack(memoryEntry{key: key, expires: s.now().Add(s.ttl)})
	return nil
}

func (s *memoryStore) Claim(_ context.Context, key string, lease time.Duration) (Claim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	if _, ok := s.m[key]; ok {
		return Claim{State: ClaimProcessed}, nil
	}
	now := s.now()
	if c, ok := s.claims[key]; ok && now.Before(c.until) {
		return Claim{State: ClaimHeld}, nil
	}
	if len(s.claims) >= s.max {
		// Claims end when their deliveries do; only a flood of distinct
		// keys that never finish fills the map. Drop the expired ones.
		for k, c := range s.claims {
			if !now.Before(c.until) {
				delete(s.claims, k)
			}
		}
		if len(s.claims) >= s.max {
			return Claim{}, errors.New("wxrefund: the memory notify store holds too many claims")
		}
	}
	token := newNonce()
	s.claims[key] = memoryClaim{token: token, until: now.Add(lease)}
	return Claim{State: ClaimAcquired, Token: token}, nil
}

func (s *memoryStore) Release(_ context.Context, key, token string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.claims[key]; ok && c.token == token {
		delete(s.claims, key)
	}
	return nil
}

// expire drops the entries past their ttl: the oldest, at the front.
func (s *memoryStore) expire() {
	now := s.now()
	for e := s.order.Front(); e != nil && !now.Before(e.Value.(memoryEntry).expires); e = s.order.Front() {
		delete(s.m, e.Value.(memoryEntry).key)
		s.order.Remove(e)
	}
}
