package wxrefundtest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"time"

	"github.com/go-wxpay/wxrefund"
)

const (
	// MaxRefundsPerOrder is how many refunds one order may have; the next
	// one fails with INVALID_REQUEST.
	MaxRefundsPerOrder = 50
	// pageSize is how many refunds a query by order returns at once.
	pageSize = 10
)

// Errors of the Server's Go API (the protocol answers with err_codes instead).
var (
	// ErrUnknownRefund reports an out_refund_no the server has not seen.
	ErrUnknownRefund = errors.New("wxrefundtest: no such refund")
	// ErrNotProcessing reports a refund that is already in a final status.
	ErrNotProcessing = errors.New("wxrefundtest: refund is not PROCESSING")
)

// Order is a paid order that refunds can be applied against. Amounts are
// fen (0.01 CNY). PaidAt is when it was paid; the Server's clock when zero.
// The JSON form is what POST /fake/orders takes and returns.
//
// A Server in partner mode (WithPartner) needs SubMchID, the sub-merchant
// the order was placed for, and serves the order only to requests that name
// that sub-merchant. SubAppID, the sub-merchant appid the order was paid
// with, is optional; it becomes one of the sub_appids the sub-merchant may
// send. A Server that is not in partner mode refuses both.
type Order struct {
	TransactionID string    `json:"transaction_id"` // WeChat Pay's order id; generated (28 digits) when empty
	OutTradeNo    string    `json:"out_trade_no"`   // merchant order id, required
	TotalFee      int64     `json:"total_fee"`      // the order total, > 0
	CouponFee     int64     `json:"coupon_fee"`     // the part paid with a NO_CASH (non-recharge) coupon, 0..TotalFee
	PaidAt        time.Time `json:"paid_at,omitzero"`
	CouponID      string    `json:"coupon_id,omitempty"`  // id of the coupon when CouponFee > 0; generated when empty
	SubMchID      string    `json:"sub_mch_id,omitempty"` // partner mode: the sub-merchant's mch_id, required
	SubAppID      string    `json:"sub_appid,omitempty"`  // partner mode: the sub-merchant appid of the payment, optional
}

// order is an Order and its refunds in creation order.
type order struct {
	Order
	refunds []*refund
}

// refund is one refund's state. Guarded by Server.mu.
type refund struct {
	order       *order
	outRefundNo string
	refundID    string
	fee         int64 // refund_fee
	coupon      int64 // the coupon part of fee
	account     string
	subAppID    string // partner mode: the request's sub_appid, else the order's
	notifyURL   string
	desc        string // refund_desc, as the merchant sent it
	status      wxrefund.RefundStatus
	createdAt   time.Time
	successAt   time.Time
	notifyBody  []byte // the notification, built once the refund is final
	attempts    int    // deliveries so far
	notifyState NotifyState
}

func (r *refund) cash() int64 { return r.fee - r.coupon }

// NotifyState is where a refund's notification stands.
type NotifyState string

// Notification states; a refund that is still PROCESSING or has no notify URL
// has none ("").
const (
	NotifyPending   NotifyState = "PENDING"   // being delivered or waiting for a redelivery
	NotifyDelivered NotifyState = "DELIVERED" // a delivery was answered with return_code SUCCESS
	NotifyAbandoned NotifyState = "ABANDONED" // every delivery of the schedule failed
)

// RefundState is a snapshot of one refund, as Refunds and GET /fake/refunds
// report it. Amounts are fen.
type RefundState struct {
	OutRefundNo     string                `json:"out_refund_no"`
	RefundID        string                `json:"refund_id"`
	TransactionID   string                `json:"transaction_id"`
	OutTradeNo      string                `json:"out_trade_no"`
	TotalFee        int64                 `json:"total_fee"`         // the order's total
	RefundFee       int64                 `json:"refund_fee"`        // this refund
	CashRefundFee   int64                 `json:"cash_refund_fee"`   // its cash part
	CouponRefundFee int64                 `json:"coupon_refund_fee"` // its coupon part
	Status          wxrefund.RefundStatus `json:"status"`
	RefundAccount   string                `json:"refund_account"`
	SubMchID        string                `json:"sub_mch_id,omitempty"` // partner mode: the order's sub-merchant
	SubAppID        string                `json:"sub_appid,omitempty"`  // partner mode: the sub_appid of the refund request, else of the order
	NotifyURL       string                `json:"notify_url,omitempty"`
	RefundDesc      string                `json:"refund_desc,omitempty"` // the refund_desc the merchant sent
	CreatedAt       time.Time             `json:"created_at"`
	SuccessTime     time.Time             `json:"success_time,omitzero"` // zero unless SUCCESS
	Notify          NotifyState           `json:"notify,omitempty"`
}

func (r *refund) state() RefundState {
	return RefundState{
		OutRefundNo:     r.outRefundNo,
		RefundID:        r.refundID,
		TransactionID:   r.order.TransactionID,
		OutTradeNo:      r.order.OutTradeNo,
		TotalFee:        r.order.TotalFee,
		RefundFee:       r.fee,
		CashRefundFee:   r.cash(),
		CouponRefundFee: r.coupon,
		Status:          r.status,
		RefundAccount:   r.account,
		SubMchID:        r.order.SubMchID,
		SubAppID:        r.subAppID,
		NotifyURL:       r.notifyURL,
		RefundDesc:      r.desc,
		CreatedAt:       r.createdAt,
		SuccessTime:     r.successAt,
		Notify:          r.notifyState,
	}
}

// AddOrder records a paid order to refund against. OutTradeNo is required
// and, like TransactionID, at most 32 characters of 0-9 A-Z a-z _ - | * @;
// both must be new, also across sub-merchants. An empty TransactionID (or
// CouponID, with a coupon) is generated; read it back with Order. An empty
// PaidAt is the clock's now. In partner mode SubMchID must name one of the
// Server's sub-merchants; otherwise SubMchID and SubAppID must be empty.
func (s *Server) AddOrder(o Order) error {
	_, err := s.addOrder(o)
	return err
}

func (s *Server) addOrder(o Order) (Order, error) {
	switch {
	case !validID(o.OutTradeNo, 32):
		return Order{}, errors.New("wxrefundtest: Order.OutTradeNo must be 1-32 characters of 0-9 A-Z a-z _ - | * @")
	case o.TransactionID != "" && !validID(o.TransactionID, 32):
		return Order{}, errors.New("wxrefundtest: Order.TransactionID must be at most 32 characters of 0-9 A-Z a-z _ - | * @")
	case o.TotalFee <= 0:
		return Order{}, errors.New("wxrefundtest: Order.TotalFee must be positive")
	case o.CouponFee < 0 || o.CouponFee > o.TotalFee:
		return Order{}, errors.New("wxrefundtest: Order.CouponFee must be between 0 and TotalFee")
	case o.CouponID != "" && !validID(o.CouponID, 20):
		return Order{}, errors.New("wxrefundtest: Order.CouponID must be at most 20 characters of 0-9 A-Z a-z _ - | * @")
	case !s.cfg.partner && (o.SubMchID != "" || o.SubAppID != ""):
		return Order{}, errors.New("wxrefundtest: Order.SubMchID and Order.SubAppID need a Server in partner mode (WithPartner)")
	case s.cfg.partner && o.SubMchID == "":
		return Order{}, errors.New("wxrefundtest: Order.SubMchID is required in partner mode")
	case s.cfg.partner && s.cfg.subMerchants[o.SubMchID] == nil:
		return Order{}, fmt.Errorf("wxrefundtest: Order.SubMchID %q is not a sub-merchant of this Server (WithPartner)", o.SubMchID)
	case o.SubAppID != "" && !validID(o.SubAppID, 32):
		return Order{}, errors.New("wxrefundtest: Order.SubAppID must be at most 32 characters of 0-9 A-Z a-z _ - | * @")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.orders[o.OutTradeNo]; dup {
		return Order{}, fmt.Errorf("wxrefundtest: an order with out_trade_no %s exists", o.OutTradeNo)
	}
	if _, dup := s.ordersTxn[o.TransactionID]; dup && o.TransactionID != "" {
		return Order{}, fmt.Errorf("wxrefundtest: an order with transaction_id %s exists", o.TransactionID)
	}
	now := s.now()
	if o.PaidAt.IsZero() {
		o.PaidAt = now
	}
	for o.TransactionID == "" || s.ordersTxn[o.TransactionID] != nil {
		s.seq++
		o.TransactionID = "4200" + now.In(chinaTime).Format("20060102") + digits(8) + seqDigits(s.seq, 8)
	}
	if o.CouponFee > 0 && o.CouponID == "" {
		o.CouponID = "2" + digits(10)
	}
	if o.CouponFee == 0 {
		o.CouponID = ""
	}
	ord := &order{Order: o}
	s.orders[o.OutTradeNo] = ord
	s.ordersTxn[o.TransactionID] = ord
	if o.SubAppID != "" {
		s.subAppIDs[o.SubMchID][o.SubAppID] = true
	}
	return o, nil
}

// Order returns the order with the given out_trade_no, with its generated
// fields filled in.
func (s *Server) Order(outTradeNo string) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[outTradeNo]
	if !ok {
		return Order{}, false
	}
	return o.Order, true
}

// Refunds returns the refunds of the order with the given out_trade_no, in
// the order they were applied for; nil for an unknown order.
func (s *Server) Refunds(outTradeNo string) []RefundState {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.orders[outTradeNo]
	if !ok {
		return nil
	}
	out := make([]RefundState, len(o.refunds))
	for i, r := range o.refunds {
		out[i] = r.state()
	}
	return out
}

// RefundState returns the state of the refund with the given
// out_refund_no, and whether there is one.
func (s *Server) RefundState(outRefundNo string) (RefundState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.refunds[outRefundNo]
	if !ok {
		return RefundState{}, false
	}
	return r.state(), true
}

// Refund returns the state of the refund with the given out_refund_no.
//
// Deprecated: use RefundState; Refund reads like the API call it is not.
func (s *Server) Refund(outRefundNo string) (RefundState, bool) { return s.RefundState(outRefundNo) }

// SetBalance sets the merchant's refundable balance in fen (see
// WithBalance), for example to top it up after a NOTENOUGH.
func (s *Server) SetBalance(fen int64) error {
	if fen < 0 {
		return fmt.Errorf("wxrefundtest: SetBalance(%d): want a balance >= 0", fen)
	}
	s.mu.Lock()
	s.balance = fen
	s.mu.Unlock()
	return nil
}

// Balance returns the merchant's refundable balance in fen.
func (s *Server) Balance() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.balance
}

// FailNext makes the next times requests to path (PathRefund or
// PathRefundQuery) that pass the signature and merchant checks answer a
// signed result_code FAIL with err_code errCode (SYSTEMERROR, say) without
// changing any state. Calls queue up: FailNext(p, "A", 1) then
// FailNext(p, "B", 2) fails the next three requests with A, B, B.
// ClearFaults empties the queues. Bill downloads, which have no
// result_code, fail with FailNextBill instead.
//
// FailNext panics with a message saying what is wrong when path is not one
// of the two, errCode is not an err_code WeChat Pay answers on that path
// (its documented codes, and those merchants have reported), or times < 1:
// a mistyped injection would otherwise never fire.
func (s *Server) FailNext(path, errCode string, times int) {
	if err := checkFail(path, errCode, times); err != nil {
		panic("wxrefundtest: FailNext: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[path] = s.failures[path].push(errCode, times)
	s.changedLocked()
}

// takeFailure pops the next injected err_code for path. Called with s.mu held.
func (s *Server) takeFailure(path string) (string, bool) {
	q, code, ok := s.failures[path].pop()
	if len(q) == 0 {
		delete(s.failures, path)
	} else {
		s.failures[path] = q
	}
	return code, ok
}

// LoseNext makes the Server lose its answer to the next times refund
// requests it accepts, as when WeChat Pay applies a refund but the merchant
// never learns it: each request is applied exactly like an accepted one (a
// new refund is recorded and charged to the balance, a retry with the same
// out_refund_no and amounts finds the existing one; WithAutoComplete and
// notifications follow as usual), but the answer is a signed result_code FAIL with err_code
// errCode (SYSTEMERROR, say) instead of SUCCESS. An empty errCode sends no
// answer at all, as after a timeout or a reset: the connection is closed
// (HTTP/1) or the stream reset (HTTP/2) without an HTTP response. (Where the
// connection cannot be taken over, as with an httptest.ResponseRecorder, the
// handler panics with http.ErrAbortHandler instead.)
//
// Only requests to PathRefund that would have been answered with result_code
// SUCCESS lose their answer; every other request is answered as usual and
// leaves the queue alone. FailNext takes precedence: a request it fails is
// not applied and does not consume a lost answer. Calls queue up like
// FailNext's: LoseNext("SYSTEMERROR", 1) then LoseNext("", 1) answers the
// next accepted refund with SYSTEMERROR and drops the connection of the one
// after. ClearFaults empties the queue. LoseNext panics, saying why, when
// errCode is neither "" nor an err_code of PathRefund, or times < 1.
//
// Queries are not affected: PathRefundQuery finds the refunds whose answers
// were lost, as WeChat Pay would.
func (s *Server) LoseNext(errCode string, times int) {
	if err := checkLose(errCode, times); err != nil {
		panic("wxrefundtest: LoseNext: " + err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.losses = s.losses.push(errCode, times)
	s.changedLocked()
}

// takeLoss pops the next lost answer LoseNext queued. Called with s.mu held.
func (s *Server) takeLoss() (errCode string, lost bool) {
	s.losses, errCode, lost = s.losses.pop()
	return errCode, lost
}

// injections is a FailNext, LoseNext or FailNextBill queue of answers
// (err_codes, or a bill failure), oldest first, as runs of the same answer
// so that a huge times costs no memory.
type injections[T comparable] []injection[T]

// injection is a run of a queue: times answers with answer.
type injection[T comparable] struct {
	answer T
	times  int
}

// push appends times answers with answer (times > 0).
func (q injections[T]) push(answer T, times int) injections[T] {
	if n := len(q); n > 0 && q[n-1].answer == answer {
		q[n-1].times = addCappedInt(q[n-1].times, times)
		return q
	}
	return append(q, injection[T]{answer, times})
}

// pop takes the oldest answer, returning the rest of the queue (nil once
// empty).
func (q injections[T]) pop() (rest injections[T], answer T, ok bool) {
	if len(q) == 0 {
		return nil, answer, false
	}
	answer = q[0].answer
	if q[0].times--; q[0].times == 0 {
		q = q[1:]
	}
	if len(q) == 0 {
		q = nil
	}
	return q, answer, true
}

func addCappedInt(a, b int) int {
	if a > math.MaxInt-b {
		return math.MaxInt
	}
	return a + b
}

// Complete moves a PROCESSING refund to status SUCCESS, REFUNDCLOSE or
// CHANGE and starts delivering its notification to its notify URL (see
// WithNotifySchedule). SUCCESS stamps the success time with the clock;
// REFUNDCLOSE gives the refund's amounts back to the order and its cash part
// back to the balance, so they can be refunded again.
func (s *Server) Complete(outRefundNo string, status wxrefund.RefundStatus) error {
	switch status {
	case wxrefund.RefundStatusSuccess, wxrefund.RefundStatusClosed, wxrefund.RefundStatusChange:
	default:
		return fmt.Errorf("wxrefundtest: Complete: status %q: want SUCCESS, REFUNDCLOSE or CHANGE", string(status))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	r, ok := s.refunds[outRefundNo]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownRefund, outRefundNo)
	}
	if r.status != wxrefund.RefundStatusProcessing {
		return fmt.Errorf("%w: %s is %s", ErrNotProcessing, outRefundNo, r.status)
	}
	r.status = status
	s.changedLocked()
	switch status {
	case wxrefund.RefundStatusSuccess:
		r.successAt = s.now()
	case wxrefund.RefundStatusClosed:
		s.balance = addCapped(s.balance, r.cash())
	}
	body, err := s.notification(r)
	if err != nil || r.notifyURL == "" {
		// Ids and amounts are always encodable; the error is unreachable.
		return err
	}
	r.notifyBody = body
	r.notifyState = NotifyPending
	s.wg.Add(1)
	go s.deliverAll(r, r.notifyURL, body)
	return nil
}

// addCapped adds b >= 0 to a without overflowing the default "unlimited"
// balance of math.MaxInt64.
func addCapped(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// bizError is a business failure: a signed result_code FAIL with err_code.
type bizError struct{ code, des string }

// refundReq is a parsed apply-refund request.
type refundReq struct {
	transactionID, outTradeNo, outRefundNo string
	totalFee, refundFee                    int64
	account, notifyURL, desc               string
	subMchID, subAppID                     string // partner mode
}

// applyRefund runs the business rules of apply refund
// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4): the
// out_refund_no is the idempotency key, an order takes at most
// MaxRefundsPerOrder refunds and must be paid less than a year ago, and the
// balance must cover the refund. It returns the response fields of the
// accepted (or earlier identical) refund. For an
// accepted refund it also takes, in the same critical section, the next
// answer LoseNext asked to lose: lost is then true and errCode what to answer
// instead ("" for no answer at all).
func (s *Server) applyRefund(q refundReq) (fields map[string]string, errCode string, lost bool, berr *bizError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fields, berr = s.acceptRefund(q)
	if berr != nil {
		return nil, "", false, berr
	}
	errCode, lost = s.takeLoss()
	return fields, errCode, lost, nil
}

// acceptRefund is applyRefund's business rules. Called with s.mu held.
func (s *Server) acceptRefund(q refundReq) (map[string]string, *bizError) {
	var o *order
	if q.transactionID != "" { // transaction_id wins when both are sent
		o = s.ordersTxn[q.transactionID]
	} else {
		o = s.orders[q.outTradeNo]
	}
	// In partner mode an order of another sub-merchant does not exist for
	// this one, as WeChat Pay answers; otherwise both are "".
	if o == nil || o.SubMchID != q.subMchID {
		return nil, &bizError{wxrefund.CodeOrderNotExist, "订单不存在"}
	}
	if r, ok := s.refunds[q.outRefundNo]; ok {
		// out_refund_no is the idempotency key: a retry with the same
		// one returns the same refund.
		if r.order != o {
			return nil, &bizError{wxrefund.CodeInvalidRequest, "商户退款单号已用于其他订单"}
		}
		if q.totalFee != o.TotalFee || q.refundFee != r.fee {
			return nil, &bizError{wxrefund.CodeRefundFeeMismatch, "订单金额或退款金额与之前请求不一致，请核实后再试"}
		}
		return refundFields(r), nil
	}
	if q.totalFee != o.TotalFee {
		return nil, &bizError{wxrefund.CodeInvalidRequest, "订单金额与订单信息不一致 (total_fee must equal the order total)"}
	}
	now := s.now()
	if now.After(o.PaidAt.AddDate(1, 0, 0)) {
		return nil, &bizError{wxrefund.CodeTradeOverdue, "订单已经超过退款期限"}
	}
	var refunded, couponRefunded int64
	for _, r := range o.refunds {
		if r.status != wxrefund.RefundStatusClosed {
			refunded += r.fee
			couponRefunded += r.coupon
		}
	}
	remaining := o.TotalFee - refunded
	switch {
	case remaining == 0:
		return nil, &bizError{wxrefund.CodeBusinessError, "订单已全额退款"}
	case len(o.refunds) >= MaxRefundsPerOrder:
		return nil, &bizError{wxrefund.CodeInvalidRequest, "退款次数超过限制，一笔订单最多退款50次"}
	case q.refundFee > remaining:
		return nil, &bizError{wxrefund.CodeInvalidRequest, "refund_fee大于可退金额 (refund_fee greater than refundable)"}
	}
	coupon := couponPart(o.TotalFee, o.CouponFee, refunded, couponRefunded, q.refundFee)
	if q.refundFee-coupon > s.balance {
		return nil, &bizError{wxrefund.CodeNotEnough, "基本账户余额不足，请充值后重新发起"}
	}
	s.balance -= q.refundFee - coupon

	r := &refund{
		order:       o,
		outRefundNo: q.outRefundNo,
		fee:         q.refundFee,
		coupon:      coupon,
		account:     q.account,
		notifyURL:   q.notifyURL,
		desc:        q.desc,
		subAppID:    q.subAppID,
		status:      wxrefund.RefundStatusProcessing,
		createdAt:   now,
	}
	if r.subAppID == "" {
		r.subAppID = o.SubAppID
	}
	if r.account == "" {
		r.account = wxrefund.RefundAccountUnsettledFunds
	}
	if r.notifyURL == "" {
		r.notifyURL = s.cfg.notifyURL
	}
	for r.refundID == "" || s.refundIDs[r.refundID] != nil {
		s.seq++
		r.refundID = "50300" + now.In(chinaTime).Format("20060102") + digits(8) + seqDigits(s.seq, 8)
	}
	o.refunds = append(o.refunds, r)
	s.refunds[r.outRefundNo] = r
	s.refundIDs[r.refundID] = r
	s.ledger = append(s.ledger, r)
	s.changedLocked()
	s.scheduleAutoComplete(r)
	return refundFields(r), nil
}

// couponPart splits a refund of fee into its coupon part (the rest is cash)
// in proportion to the order's coupon share, computed on the running total
// so that rounding never drifts: after refunds totalling S the coupon parts
// total floor(S*coupon/total), and the refund that completes the order takes
// exactly what is left of both parts. refunded and couponRefunded are the
// order's live (not closed) refunds so far. Closed refunds can leave the
// running split off the proportion; the result is then clamped so that
// neither part exceeds what remains of it.
func couponPart(total, coupon, refunded, couponRefunded, fee int64) int64 {
	if coupon == 0 {
		return 0
	}
	// floor((refunded+fee)*coupon/total) without overflow.
	x := new(big.Int).Mul(big.NewInt(refunded+fee), big.NewInt(coupon))
	x.Quo(x, big.NewInt(total))
	c := x.Int64() - couponRefunded
	couponLeft := coupon - couponRefunded
	cashLeft := (total - coupon) - (refunded - couponRefunded)
	lo, hi := max(0, fee-cashLeft), min(fee, couponLeft)
	return min(max(c, lo), hi)
}

// scheduleAutoComplete arms WithAutoComplete's timer for r. Called with s.mu
// held.
func (s *Server) scheduleAutoComplete(r *refund) {
	if s.cfg.autoComplete < 0 || s.closed {
		return
	}
	s.wg.Add(1)
	var t *time.Timer
	t = time.AfterFunc(s.cfg.autoComplete, func() {
		defer s.wg.Done()
		s.mu.Lock() // waits until t is assigned below
		delete(s.timers, t)
		s.mu.Unlock()
		// An error means the refund is no longer PROCESSING (Complete already
		// ran) or the server closed: either way there is nothing to complete.
		_ = s.Complete(r.outRefundNo, wxrefund.RefundStatusSuccess)
	})
	s.timers[t] = struct{}{}
}

// refundFields are the business fields of an accepted refund: those of the
// apply-refund response
// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_4), as in
// testdata/vectors/refund_response_9_2.xml. Called with s.mu held.
func refundFields(r *refund) map[string]string {
	o := r.order
	f := map[string]string{
		"transaction_id":        o.TransactionID,
		"out_trade_no":          o.OutTradeNo,
		"out_refund_no":         r.outRefundNo,
		"refund_id":             r.refundID,
		"refund_channel":        "",
		"refund_fee":            itoa(r.fee),
		"settlement_refund_fee": itoa(r.cash()),
		"total_fee":             itoa(o.TotalFee),
		"settlement_total_fee":  itoa(o.TotalFee - o.CouponFee),
		"fee_type":              "CNY",
		"cash_fee":              itoa(o.TotalFee - o.CouponFee),
		"cash_fee_type":         "CNY",
		"cash_refund_fee":       itoa(r.cash()),
		"coupon_refund_fee":     itoa(r.coupon),
		"coupon_refund_count":   "0",
	}
	if r.coupon > 0 {
		f["coupon_refund_count"] = "1"
		f["coupon_type_0"] = wxrefund.CouponTypeNoCash
		f["coupon_refund_id_0"] = o.CouponID
		f["coupon_refund_fee_0"] = itoa(r.coupon)
	}
	return f
}

// queryReq is a parsed refund query. Exactly one identifier is set: the one
// of highest priority that the request carried.
type queryReq struct {
	refundID, outRefundNo, transactionID, outTradeNo string
	offset                                           int
	hasOffset                                        bool
	subMchID                                         string // partner mode
}

// queryRefunds answers a refund query
// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_5).
func (s *Server) queryRefunds(q queryReq) (map[string]string, *bizError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	notExist := &bizError{wxrefund.CodeRefundNotExist, "退款订单查询失败"}
	var o *order
	var page []*refund
	var total int
	switch {
	case q.refundID != "" || q.outRefundNo != "":
		r := s.refundIDs[q.refundID]
		if q.refundID == "" {
			r = s.refunds[q.outRefundNo]
		}
		// A refund of another sub-merchant's order does not exist for
		// this one.
		if r == nil || r.order.SubMchID != q.subMchID {
			return nil, notExist
		}
		o, page = r.order, []*refund{r}
	default:
		if q.transactionID != "" {
			o = s.ordersTxn[q.transactionID]
		} else {
			o = s.orders[q.outTradeNo]
		}
		if o == nil || o.SubMchID != q.subMchID || len(o.refunds) == 0 {
			return nil, notExist
		}
		total = len(o.refunds)
		if q.offset >= total {
			return nil, &bizError{wxrefund.CodeParamError, "offset超过退款总笔数 (offset >= total_refund_count)"}
		}
		page = o.refunds[q.offset:min(q.offset+pageSize, total)]
	}

	f := map[string]string{
		"transaction_id":       o.TransactionID,
		"out_trade_no":         o.OutTradeNo,
		"total_fee":            itoa(o.TotalFee),
		"settlement_total_fee": itoa(o.TotalFee - o.CouponFee),
		"fee_type":             "CNY",
		"cash_fee":             itoa(o.TotalFee - o.CouponFee),
		"refund_count":         strconv.Itoa(len(page)),
	}
	if total > 0 && (q.hasOffset || total > pageSize) {
		f["total_refund_count"] = strconv.Itoa(total)
	}
	var sum, sumCoupon int64
	for n, r := range page {
		sn := strconv.Itoa(n)
		sum += r.fee
		sumCoupon += r.coupon
		f["out_refund_no_"+sn] = r.outRefundNo
		f["refund_id_"+sn] = r.refundID
		f["refund_channel_"+sn] = "ORIGINAL"
		f["refund_fee_"+sn] = itoa(r.fee)
		f["settlement_refund_fee_"+sn] = itoa(r.cash())
		f["coupon_refund_fee_"+sn] = itoa(r.coupon)
		f["coupon_refund_count_"+sn] = "0"
		if r.coupon > 0 {
			f["coupon_refund_count_"+sn] = "1"
			f["coupon_type_"+sn+"_0"] = wxrefund.CouponTypeNoCash
			f["coupon_refund_id_"+sn+"_0"] = o.CouponID
			f["coupon_refund_fee_"+sn+"_0"] = itoa(r.coupon)
		}
		f["refund_status_"+sn] = string(r.status)
		f["refund_account_"+sn] = r.account
		f["refund_recv_accout_"+sn] = recvAccount
		if r.status == wxrefund.RefundStatusSuccess {
			f["refund_success_time_"+sn] = r.successAt.In(chinaTime).Format(timeLayout)
		}
	}
	f["refund_fee"] = itoa(sum)
	f["coupon_refund_fee"] = itoa(sumCoupon)
	f["cash_refund_fee"] = itoa(sum - sumCoupon)
	return f, nil
}

// recvAccount is where the fake's refunds go: the payer's WeChat balance.
const recvAccount = "支付用户零钱"

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// validID reports whether s is 1..maxLen characters of 0-9 A-Z a-z _ - | * @
// (the characters apply refund documents for out_refund_no; out_trade_no
// uses a subset).
func validID(s string, maxLen int) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' ||
			c == '_' || c == '-' || c == '|' || c == '*' || c == '@') {
			return false
		}
	}
	return true
}

// digits returns n random decimal digits.
func digits(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails
	for i := range b {
		b[i] = '0' + b[i]%10
	}
	return string(b)
}

// seqDigits formats the last n decimal digits of seq, zero-padded.
func seqDigits(seq uint64, n int) string {
	s := strconv.FormatUint(seq, 10)
	if len(s) > n {
		return s[len(s)-n:]
	}
	return fmt.Sprintf("%0*s", n, s)
}

// notification builds the body WeChat Pay would POST for final refund r:
// the outer and inner fields of
// https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_16, as in
// testdata/vectors/notify_9_4_plaintext.xml. A partner refund adds
// sub_mch_id (and sub_appid when known) to the outer fields, next to the
// provider's appid and mch_id; req_info is the same in both modes. Called
// with s.mu held.
func (s *Server) notification(r *refund) ([]byte, error) {
	o := r.order
	inner := map[string]string{
		"transaction_id":        o.TransactionID,
		"out_trade_no":          o.OutTradeNo,
		"refund_id":             r.refundID,
		"out_refund_no":         r.outRefundNo,
		"total_fee":             itoa(o.TotalFee),
		"refund_fee":            itoa(r.fee),
		"settlement_refund_fee": itoa(r.cash()),
		"refund_status":         string(r.status),
		"refund_recv_accout":    recvAccount,
		"refund_account":        r.account,
		"refund_request_source": "API",
	}
	if o.CouponFee > 0 {
		inner["settlement_total_fee"] = itoa(o.TotalFee - o.CouponFee)
	}
	if r.status == wxrefund.RefundStatusSuccess {
		inner["success_time"] = r.successAt.In(chinaTime).Format(timeLayout)
	}
	if o.SubMchID != "" {
		return EncryptPartnerNotify(s.cfg.apiKey, inner, s.cfg.appID, s.cfg.mchID, r.subAppID, o.SubMchID)
	}
	return EncryptNotify(s.cfg.apiKey, inner, s.cfg.appID, s.cfg.mchID)
}
