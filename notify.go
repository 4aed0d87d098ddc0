package wxrefund

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// RefundNotification is the decrypted content of a refund result
// notification. WeChat Pay sends one when a refund reaches a final status
// (SUCCESS, REFUNDCLOSE or CHANGE), and may send the same one more than once.
//
// In service-provider mode SubMchID and SubAppID come from the outer
// message, which WeChat Pay neither signs nor encrypts: anyone who captured a
// genuine notification could resend it naming another sub-merchant. Use them
// to route, but before attributing money to a sub-merchant confirm the refund
// with QueryRefund under that SubMchID (or match OutRefundNo against your own
// records of which sub-merchant issued it).
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_16 (the fields of req_info).
type RefundNotification struct {
	AppID, MchID                                                 string // from the outer message, checked against the Client
	SubMchID, SubAppID                                           string // from the unauthenticated outer message in service-provider mode: the sub-merchant's
	TransactionID, OutTradeNo, RefundID, OutRefundNo             string
	TotalFee, SettlementTotalFee, RefundFee, SettlementRefundFee int64 // fen
	Status                                                       RefundStatus
	SuccessTime                                                  time.Time // zero unless the refund succeeded; China Standard Time
	RecvAccount, RefundAccount, RequestSource                    string    // refund_recv_accout (sic), refund_account, refund_request_source (API or VENDOR_PLATFORM)

	// Raw holds every decrypted field.
	Raw map[string]string
}

// notifyReply is a NotifyHandler reply body, the two fields WeChat Pay
// documents for the reply to a notification (chapter=9_16); it is not signed.
func notifyReply(returnCode, returnMsg string) []byte {
	b, err := encodeFlat("xml", map[string]string{"return_code": returnCode, "return_msg": returnMsg})
	if err != nil { // unreachable: constant names and messages
		panic(err)
	}
	return b
}

// The replies NotifyHandler sends, built once.
var (
	notifyOK            = notifyReply("SUCCESS", "OK")
	notifyNotAllowed    = notifyReply("FAIL", "method not allowed")
	notifyTooLarge      = notifyReply("FAIL", "body too large")
	notifyInvalid       = notifyReply("FAIL", "invalid notification")
	notifyNoHandler     = notifyReply("FAIL", "no handler")
	notifyHandlerFailed = notifyReply("FAIL", "handler failed")
	notifyBusy          = notifyReply("FAIL", "being processed")
)

// DecryptNotify checks and decrypts the raw body of a refund notification (the
// outer <xml> with req_info that WeChat Pay POSTs to the notify URL) and
// returns its content. The outer return_code must be SUCCESS (FAIL is an
// *Error). Every other failure is a *MessageError with Op "notification"
// whose Err matches ErrBodyTooLarge (over 64 KiB), ErrMalformed (not a flat
// XML document, or content that fails the checks below),
// ErrMerchantMismatch (appid or mch_id not the Client's),
// ErrPaymentNotification (a payment result notification sent to this URL)
// or ErrDecrypt (req_info does not decrypt with the API key).
//
// The decrypted content must have out_refund_no, refund_status, refund_fee
// and total_fee, amounts that are integers and not negative, a refund_fee at
// most total_fee, settlement amounts at most the amounts they settle, and
// no field whose text could be regrouped (see Client.Refund). No error
// contains the API key, decrypted values or decrypted field names.
//
// The outer message carries no signature; its authenticity rests on the
// encryption with the API key. Before releasing goods or money on a
// notification, check that its ids and amounts match your records, and
// process it idempotently: duplicates are normal.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_16.
func (c *Client) DecryptNotify(body []byte) (*RefundNotification, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	n, err := c.decryptNotify(body)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, &MessageError{Op: opNotification, Err: err}
	}
	return n, nil
}

func (c *Client) decryptNotify(body []byte) (*RefundNotification, error) {
	if len(body) > maxBody {
		return nil, fmt.Errorf("%w (limit %d bytes)", ErrBodyTooLarge, maxBody)
	}
	// The outer document's fields alias body: nothing of it outlives this
	// call but a return_msg, which is copied (the notification takes appid
	// and mch_id from the Client).
	outer, err := decodeOwned(body, "xml")
	if err != nil {
		return nil, err
	}
	var returnCode, returnMsg, appID, mchID, subMchID, subAppID, reqInfo, payment string
	for _, f := range outer {
		switch f.name {
		case "return_code":
			returnCode = f.value
		case "return_msg":
			returnMsg = f.value
		case "appid":
			appID = f.value
		case "mch_id":
			mchID = f.value
		case "sub_mch_id":
			subMchID = strings.Clone(f.value)
		case "sub_appid":
			subAppID = strings.Clone(f.value)
		case "req_info":
			reqInfo = f.value
		case "trade_type", "openid", "time_end", "bank_type":
			// Fields of a payment result notification, which a refund
			// notification never has outside req_info.
			if payment == "" && f.value != "" {
				payment = f.name
			}
		}
	}
	switch returnCode {
	case "SUCCESS":
	case "FAIL":
		// The fields alias body, which is the caller's: copy what the
		// error keeps.
		return nil, &Error{ReturnCode: "FAIL", ReturnMsg: strings.Clone(returnMsg)}
	default:
		return nil, fmt.Errorf("%w: return_code is neither SUCCESS nor FAIL", ErrMalformed)
	}
	if appID != c.appID || mchID != c.mchID {
		return nil, ErrMerchantMismatch
	}
	if reqInfo == "" && payment != "" {
		return nil, fmt.Errorf("%w (it has %s and no req_info): give refunds their own notify URL", ErrPaymentNotification, payment)
	}
	var inner fieldList
	err = withReqInfo(c.keys().notify, reqInfo, func(pt []byte) error {
		var err error
		inner, err = decodeFlat(pt, "root", "xml") // copies what it keeps
		return err
	})
	switch {
	case errors.Is(err, ErrDecrypt):
		return nil, err
	case err != nil:
		// The decoder's message may name a decrypted field: say only what
		// kind of failure it was.
		return nil, fmt.Errorf("%w: decrypted content is not a flat XML document", ErrMalformed)
	}
	if _, ok := checkUnambiguous(inner); !ok {
		return nil, fmt.Errorf("%w: decrypted content holds text that could be another field", ErrMalformed)
	}
	raw := inner.toMap()
	p := fieldParser{fields: raw, redact: true}
	n := &RefundNotification{
		AppID:               c.appID,
		MchID:               c.mchID,
		SubMchID:            subMchID,
		SubAppID:            subAppID,
		TransactionID:       raw["transaction_id"],
		OutTradeNo:          raw["out_trade_no"],
		RefundID:            raw["refund_id"],
		OutRefundNo:         raw["out_refund_no"],
		TotalFee:            p.amount("total_fee"),
		SettlementTotalFee:  p.amount("settlement_total_fee"),
		RefundFee:           p.amount("refund_fee"),
		SettlementRefundFee: p.amount("settlement_refund_fee"),
		Status:              RefundStatus(raw["refund_status"]),
		SuccessTime:         p.time("success_time"),
		RecvAccount:         raw["refund_recv_accout"],
		RefundAccount:       raw["refund_account"],
		RequestSource:       raw["refund_request_source"],
		Raw:                 raw,
	}
	p.require("out_refund_no", "refund_status", "refund_fee", "total_fee")
	p.atMost("refund_fee", n.RefundFee, "total_fee", n.TotalFee)
	p.atMost("settlement_refund_fee", n.SettlementRefundFee, "refund_fee", n.RefundFee)
	p.atMost("settlement_total_fee", n.SettlementTotalFee, "total_fee", n.TotalFee)
	if p.err != nil {
		return nil, p.err
	}
	return n, nil
}

// ParseNotifyRequest reads a notification request's body (POST only, at most
// 64 KiB) and returns DecryptNotify's result. Use it in your own handler when
// NotifyHandler does not fit; reply to WeChat Pay only after storing the
// result.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_16.
func (c *Client) ParseNotifyRequest(r *http.Request) (*RefundNotification, error) {
	if r.Method != http.MethodPost {
		return nil, &MessageError{Op: opNotification, Err: fmt.Errorf("%w: method %s, want POST", ErrMalformed, r.Method)}
	}
	if r.Body == nil { // a request built by hand, not received
		return c.DecryptNotify(nil)
	}
	body, err := readLimited(r.Body, maxBody)
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return nil, &MessageError{Op: opNotification, Err: err}
	case err != nil:
		return nil, &MessageError{Op: opNotification, Err: fmt.Errorf("%w: reading the body: %w", ErrMalformed, err)}
	}
	return c.DecryptNotify(body)
}

// NotifyHandler returns an http.Handler for the refund notify URL. It
// accepts POST only, reads at most 64 KiB, and calls fn only with a
// notification that decrypted and belongs to this Client, passing the
// request's context. It replies the SUCCESS XML only when fn returns nil; when
// fn fails it replies FAIL with HTTP 500, so WeChat Pay delivers again. A
// body that is not a valid notification gets FAIL with HTTP 400. Replies
// never contain fn's error, secrets or decrypted text.
//
// WeChat Pay delivers the same notification several times, sometimes at
// once and to several instances. Deliveries of the same notification (the
// same out_refund_no and status) are handled one at a time within the
// handler; one that waits gives up when its request ends. With
// WithNotifyStore, one already processed is acknowledged without calling
// fn again; fn's failure is never recorded as processed. A store that is a
// [NotifyClaimer] (NewMemoryNotifyStore, or package sqlstore for several
// instances) makes fn run once per notification across every handler that
// shares it. Otherwise fn must be idempotent. fn should return only once
// the result is stored durably. WithNotifyLogger records every delivery
// that is not acknowledged, with its reason.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_16 (the reply).
func (c *Client) NotifyHandler(fn func(ctx context.Context, n *RefundNotification) error, opts ...NotifyOption) http.Handler {
	var cfg notifyConfig
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	locks := &keyedMutex{m: map[string]*keyedEntry{}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reject := func(status int, reply []byte, reason string, err error) {
			cfg.logReject(r, status, reason, err)
			writeNotifyReply(w, status, reply)
		}
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			reject(http.StatusMethodNotAllowed, notifyNotAllowed, "method not allowed", nil)
			return
		}
		n, err := c.ParseNotifyRequest(r)
		switch {
		case errors.Is(err, errNotCreated):
			reject(http.StatusInternalServerError, notifyNoHandler, "the Client was not created with NewClient", nil)
			return
		case errors.Is(err, ErrBodyTooLarge):
			reject(http.StatusRequestEntityTooLarge, notifyTooLarge, "body too large", nil)
			return
		case err != nil:
			// DecryptNotify's errors hold no key, ciphertext or decrypted
			// values, so they can be logged.
			reject(http.StatusBadRequest, notifyInvalid, "invalid notification", err)
			return
		}
		if fn == nil {
			reject(http.StatusInternalServerError, notifyNoHandler, "no handler", nil)
			return
		}
		key := notifyKeyOf(n)
		ctx := r.Context()
		unlock, err := locks.lock(ctx, key)
		if err != nil {
			// The request ended while another delivery of the same
			// notification ran: answer FAIL, should anyone still listen.
			reject(http.StatusServiceUnavailable, notifyBusy, "the request ended while another delivery of it was processed", err)
			return
		}
		defer unlock()
		if claimer, ok := cfg.store.(NotifyClaimer); ok {
			cfg.serveClaimed(w, r, claimer, key, n, fn)
			return
		}
		if cfg.store != nil {
			done, err := cfg.store.Processed(ctx, key)
			if err != nil {
				reject(http.StatusInternalServerError, notifyHandlerFailed, "the notify store failed", err)
				return
			}
			if done {
				writeNotifyReply(w, http.StatusOK, notifyOK) // a duplicate: already handled
				return
			}
		}
		if err := fn(ctx, n); err != nil {
			// fn's error may quote the notification: not logged.
			reject(http.StatusInternalServerError, notifyHandlerFailed, "the handler failed; WeChat Pay will deliver again", nil)
			return
		}
		if cfg.store != nil {
			if err := cfg.store.MarkProcessed(ctx, key); err != nil {
				// fn succeeded: acknowledge. A later duplicate calls fn
				// again, which must be idempotent anyway.
				cfg.logReject(r, http.StatusOK, "the notify store could not record a processed notification", err)
			}
		}
		writeNotifyReply(w, http.StatusOK, notifyOK)
	})
}

// serveClaimed processes a notification under a claim of claimer: see
// NotifyClaimer. A store failure answers FAIL and is logged; the key is
// recorded processed only after fn succeeded.
func (cfg *notifyConfig) serveClaimed(w http.ResponseWriter, r *http.Request, claimer NotifyClaimer, key string,
	n *RefundNotification, fn func(ctx context.Context, n *RefundNotification) error) {
	reject := func(status int, reply []byte, reason string, err error) {
		cfg.logReject(r, status, reason, err)
		writeNotifyReply(w, status, reply)
	}
	lease := cfg.lease
	if lease <= 0 {
		lease = DefaultNotifyLease
	}
	ctx := r.Context()
	// fn must end before the claim does, counted from before the claim was
	// made: the store's clock starts the lease then, not when Claim returns.
	deadline := time.Now().Add(lease - lease/10)
	claim, err := claimer.Claim(ctx, key, lease)
	switch {
	case err != nil:
		reject(http.StatusInternalServerError, notifyHandlerFailed, "the notify store could not claim the notification", err)
		return
	case claim.State == ClaimProcessed:
		writeNotifyReply(w, http.StatusOK, notifyOK) // a duplicate: already handled
		return
	case claim.State != ClaimAcquired:
		reject(http.StatusServiceUnavailable, notifyBusy, "another delivery of it is being processed; WeChat Pay will deliver again", nil)
		return
	}
	// After fn, the store is written even if the request ended meanwhile.
	store := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	}
	fctx, cancel := context.WithDeadline(ctx, deadline)
	err = fn(fctx, n)
	cancel()
	if err != nil {
		sctx, cancel := store()
		defer cancel()
		if rerr := claimer.Release(sctx, key, claim.Token); rerr != nil {
			cfg.logReject(r, http.StatusInternalServerError, "the notify store could not release the claim; it expires with its lease", rerr)
		}
		// fn's error may quote the notification: not logged.
		reject(http.StatusInternalServerError, notifyHandlerFailed, "the handler failed; WeChat Pay will deliver again", nil)
		return
	}
	sctx, cancel := store()
	defer cancel()
	if err := claimer.MarkProcessed(sctx, key); err != nil {
		// Not recorded: answer FAIL, so that WeChat Pay delivers again
		// and a later delivery records it (calling fn again, which must
		// be idempotent).
		reject(http.StatusInternalServerError, notifyHandlerFailed, "the notify store could not record the processed notification", err)
		return
	}
	writeNotifyReply(w, http.StatusOK, notifyOK)
}

// storeTimeout bounds the store writes that follow the handler.
const storeTimeout = 10 * time.Second

func writeNotifyReply(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(status)
	// The status is sent; a failed write means WeChat Pay's connection is gone,
	// and it sends again a notification it got no reply to.
	_, _ = w.Write(body)
}
