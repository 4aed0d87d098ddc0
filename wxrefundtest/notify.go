package wxrefundtest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/go-wxpay/wxrefund"
)

// EncryptNotify builds the body of a refund notification as WeChat Pay POSTs
// it to a notify URL: an outer <xml> with return_code SUCCESS,
// appid, mch_id, a fresh nonce_str and req_info, the base64 of the inner
// <root> document of fields encrypted with AES-256-ECB under the lowercase
// hex MD5 of apiKey. fields are the inner fields (out_refund_no,
// refund_status, refund_fee, ...), taken as given, so that it can build
// malformed notifications too. Use it to test a notify handler offline; the
// body decrypts with wxrefund.Client.DecryptNotify for the same
// credentials. Server.EncryptNotify builds one from a
// wxrefund.RefundNotification with a Server's credentials.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_16.
func EncryptNotify(apiKey string, fields map[string]string, appID, mchID string) ([]byte, error) {
	return encryptNotify("EncryptNotify", apiKey, fields, map[string]string{"appid": appID, "mch_id": mchID})
}

// EncryptPartnerNotify is EncryptNotify for a service provider (服务商)
// in partner mode: the outer <xml> also carries the sub-merchant's
// sub_mch_id and, unless subAppID is empty, sub_appid, as plain fields next
// to the provider's appid and mch_id. req_info is encrypted with the
// provider's API key and holds the same fields as for a direct merchant.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi_sl.php?chapter=9_16.
func EncryptPartnerNotify(apiKey string, fields map[string]string, appID, mchID, subAppID, subMchID string) ([]byte, error) {
	outer := map[string]string{"appid": appID, "mch_id": mchID, "sub_mch_id": subMchID}
	if subAppID != "" {
		outer["sub_appid"] = subAppID
	}
	return encryptNotify("EncryptPartnerNotify", apiKey, fields, outer)
}

// encryptNotify builds a notification body from the inner fields and the
// outer identity fields; fn names the caller in errors.
func encryptNotify(fn, apiKey string, fields, outer map[string]string) ([]byte, error) {
	if len(apiKey) != 32 {
		return nil, fmt.Errorf("wxrefundtest: %s: the API key must be 32 characters, got %d", fn, len(apiKey))
	}
	inner, err := encodeXML("root", fields)
	if err != nil {
		return nil, fmt.Errorf("wxrefundtest: %s: %w", fn, err)
	}
	ct := encryptECB(apiKey, inner)
	doc := map[string]string{
		"return_code": "SUCCESS",
		"nonce_str":   newNonce(),
		"req_info":    base64.StdEncoding.EncodeToString(ct),
	}
	maps.Copy(doc, outer)
	body, err := encodeXML("xml", doc)
	if err != nil {
		return nil, fmt.Errorf("wxrefundtest: %s: %w", fn, err)
	}
	return body, nil
}

// ErrDeliveryFailed is returned by Redeliver when the merchant did not
// acknowledge the notification.
var ErrDeliveryFailed = errors.New("wxrefundtest: notification not acknowledged")

// Delivery is one attempt to deliver a refund notification and what the
// merchant's notify URL answered. A delivery succeeded when StatusCode is 200
// and ReturnCode is SUCCESS; anything else makes the Server
// deliver again on its schedule.
type Delivery struct {
	OutRefundNo string    `json:"out_refund_no"`
	URL         string    `json:"url"`
	Attempt     int       `json:"attempt"`   // 1 for the refund's first delivery, counting Redeliver's too
	Duplicate   bool      `json:"duplicate"` // sent by Redeliver, outside the schedule
	Time        time.Time `json:"time"`      // by the Server's clock, when the request was sent
	StatusCode  int       `json:"status_code,omitempty"`
	ReturnCode  string    `json:"return_code,omitempty"` // of the reply; "" when it was not XML
	ReturnMsg   string    `json:"return_msg,omitempty"`
	Err         string    `json:"error,omitempty"` // transport failure or unreadable reply
}

// OK reports whether the merchant acknowledged the notification.
func (d Delivery) OK() bool { return d.StatusCode == http.StatusOK && d.ReturnCode == "SUCCESS" }

// Deliveries returns every notification delivery so far, oldest first.
func (s *Server) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

// deliverAll delivers body to url until the merchant acknowledges it, the
// schedule is exhausted or the Server closes. It runs in its own goroutine,
// counted in s.wg.
func (s *Server) deliverAll(r *refund, url string, body []byte) {
	defer s.wg.Done()
	for i := 0; ; i++ {
		if s.deliver(r, url, body, false).OK() {
			return
		}
		if s.ctx.Err() != nil {
			return
		}
		if i >= len(s.cfg.schedule) {
			s.mu.Lock()
			if r.notifyState == NotifyPending {
				r.notifyState = NotifyAbandoned
			}
			s.mu.Unlock()
			return
		}
		t := time.NewTimer(s.cfg.schedule[i])
		select {
		case <-s.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// deliver POSTs body to url once and records the attempt. It holds no lock
// during the request.
func (s *Server) deliver(r *refund, url string, body []byte, dup bool) Delivery {
	s.mu.Lock()
	r.attempts++
	d := Delivery{OutRefundNo: r.outRefundNo, URL: url, Attempt: r.attempts, Duplicate: dup, Time: s.now()}
	s.mu.Unlock()

	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, url, bytes.NewReader(body))
	if err == nil {
		req.Header.Set("Content-Type", "text/xml; charset=utf-8")
		req.Header.Set("User-Agent", "wxrefundtest")
		var resp *http.Response
		if resp, err = s.cfg.notifyClient.Do(req); err == nil {
			d.StatusCode = resp.StatusCode
			var raw []byte
			raw, err = readBody(resp.Body)
			_ = resp.Body.Close() // read from, not written to: its Close has nothing to report
			if err == nil {
				var reply map[string]string
				if reply, err = decodeXML(raw, "xml"); err == nil {
					d.ReturnCode, d.ReturnMsg = reply["return_code"], reply["return_msg"]
				} else {
					err = fmt.Errorf("reply: %w", err)
				}
			}
		}
	}
	if err != nil {
		d.Err = err.Error()
	}

	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	if d.OK() {
		r.notifyState = NotifyDelivered
	}
	s.changedLocked()
	s.mu.Unlock()
	return d
}

// Redeliver sends the notification of a final refund once more, right now
// and outside its schedule, so that a merchant's handler can be tested
// against duplicates. It returns when the merchant answered, with an error
// when the refund is unknown, not final or has no notify URL, or when the
// delivery failed (the attempt is recorded in Deliveries either way).
// Redeliver never changes the refund's schedule, except that an
// acknowledged duplicate marks the notification DELIVERED.
func (s *Server) Redeliver(outRefundNo string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	r, ok := s.refunds[outRefundNo]
	switch {
	case !ok:
		s.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrUnknownRefund, outRefundNo)
	case r.status == wxrefund.RefundStatusProcessing:
		s.mu.Unlock()
		return fmt.Errorf("wxrefundtest: Redeliver: %s is still PROCESSING; Complete it first", outRefundNo)
	case r.notifyBody == nil:
		s.mu.Unlock()
		return fmt.Errorf("wxrefundtest: Redeliver: %s has no notify URL", outRefundNo)
	}
	url, body := r.notifyURL, r.notifyBody
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	d := s.deliver(r, url, body, true)
	switch {
	case d.Err != "":
		return fmt.Errorf("%w: %s", ErrDeliveryFailed, d.Err)
	case !d.OK():
		return fmt.Errorf("%w: the merchant answered HTTP %d, return_code %q", ErrDeliveryFailed, d.StatusCode, d.ReturnCode)
	}
	return nil
}

// EncryptNotify builds the body of the notification WeChat Pay would send
// for n, with the Server's credentials: n's fields, by their wire names,
// encrypted in req_info (zero amounts other than total_fee and refund_fee,
// empty strings and a zero SuccessTime left out; SuccessTime written in
// China Standard Time), and the Server's appid and mch_id outside, with
// n.SubMchID and n.SubAppID in partner mode. Use it to test a notify
// handler without a refund round trip; the body decrypts with
// wxrefund.Client.DecryptNotify to n (but for Raw).
//
// It fails when n lacks OutRefundNo, RefundID, both order ids or Status,
// has a negative amount, names another AppID or mch_id than the Server's,
// or names a sub-merchant the Server does not serve (or any, for a direct
// merchant). The package function EncryptNotify takes the fields as given,
// for malformed notifications.
func (s *Server) EncryptNotify(n wxrefund.RefundNotification) ([]byte, error) {
	bad := func(why string) ([]byte, error) {
		return nil, errors.New("wxrefundtest: Server.EncryptNotify: " + why)
	}
	switch {
	case n.OutRefundNo == "" || n.RefundID == "":
		return bad("OutRefundNo and RefundID are required")
	case n.TransactionID == "" && n.OutTradeNo == "":
		return bad("TransactionID or OutTradeNo is required")
	case n.Status == "":
		return bad("Status is required")
	case n.TotalFee < 0 || n.SettlementTotalFee < 0 || n.RefundFee < 0 || n.SettlementRefundFee < 0:
		return bad("an amount is negative")
	case n.AppID != "" && n.AppID != s.cfg.appID, n.MchID != "" && n.MchID != s.cfg.mchID:
		return bad("AppID and MchID, when set, must be the Server's (see Credentials)")
	case n.SubAppID != "" && n.SubMchID == "":
		return bad("SubAppID needs SubMchID")
	case n.SubMchID != "" && !s.cfg.partner:
		return bad("SubMchID is set, but the Server is a direct merchant (see WithPartner)")
	case n.SubMchID == "" && s.cfg.partner:
		return bad("the Server is a service provider: SubMchID is required")
	}
	if n.SubMchID != "" {
		s.mu.Lock()
		_, ok := s.subAppIDs[n.SubMchID]
		s.mu.Unlock()
		if !ok {
			return bad("SubMchID is not a sub-merchant of the Server")
		}
	}
	inner := map[string]string{
		"transaction_id":        n.TransactionID,
		"out_trade_no":          n.OutTradeNo,
		"refund_id":             n.RefundID,
		"out_refund_no":         n.OutRefundNo,
		"total_fee":             itoa(n.TotalFee),
		"refund_fee":            itoa(n.RefundFee),
		"refund_status":         string(n.Status),
		"refund_recv_accout":    n.RecvAccount,
		"refund_account":        n.RefundAccount,
		"refund_request_source": n.RequestSource,
	}
	if n.SettlementTotalFee != 0 {
		inner["settlement_total_fee"] = itoa(n.SettlementTotalFee)
	}
	if n.SettlementRefundFee != 0 {
		inner["settlement_refund_fee"] = itoa(n.SettlementRefundFee)
	}
	if !n.SuccessTime.IsZero() {
		inner["success_time"] = n.SuccessTime.In(chinaTime).Format(timeLayout)
	}
	for k, v := range inner {
		if v == "" {
			delete(inner, k)
		}
	}
	if n.SubMchID != "" {
		return EncryptPartnerNotify(s.cfg.apiKey, inner, s.cfg.appID, s.cfg.mchID, n.SubAppID, n.SubMchID)
	}
	return EncryptNotify(s.cfg.apiKey, inner, s.cfg.appID, s.cfg.mchID)
}
