package wxrefundtest

import (
	"errors"
	"fmt"
	"slices"
)

// Messages of the unsigned return_code FAIL answers about sub-merchants, as
// WeChat Pay words them.
const (
	msgNeedSubMchID     = "受理机构必须传入sub_mch_id"      // partner mode, no sub_mch_id
	msgDirectSubMchID   = "普通商户不允许传sub_mch_id"      // direct merchant, sub_mch_id sent
	msgDirectSubAppID   = "普通商户不允许传sub_appid"       // direct merchant, sub_appid sent (the fake's wording)
	msgNoRelation       = "受理关系不存在"                 // a sub_mch_id that is not this provider's
	msgSubAppIDMismatch = "sub_mch_id与sub_appid不匹配" // a sub_appid not bound to the sub_mch_id
)

// WithPartner makes the Server a service provider (服务商) in partner mode,
// serving the sub-merchants (特约商户) subMchIDs. The provider's appid,
// mch_id, API key and certificate are the Server's own (Credentials,
// MerchantCertPEM): partner requests are signed with the provider's key and
// apply refund still needs the provider's certificate.
//
// In partner mode:
//
//   - every order belongs to one sub-merchant (Order.SubMchID);
//   - refund and refund query requests must carry the sub_mch_id of one of
//     the sub-merchants, and may carry a sub_appid bound to it (see
//     WithSubMerchant and Order.SubAppID); the answers, signed as usual,
//     echo sub_mch_id and any sub_appid sent;
//   - a refund or query of an order of another sub-merchant finds nothing:
//     ORDERNOTEXIST and REFUNDNOTEXIST, as WeChat Pay answers;
//   - notifications carry the sub-merchant's sub_mch_id, and sub_appid when
//     the refund request or the order had one, as outer fields next to the
//     provider's appid and mch_id;
//   - the refund bill (PathDownloadBill) has every sub-merchant's refunds,
//     or those of the sub_mch_id the request names.
//
// Requests refused before any business logic are unsigned return_code FAIL
// answers, with WeChat Pay's return_msg: "受理机构必须传入sub_mch_id" without
// a sub_mch_id, "受理关系不存在" for a sub_mch_id the provider does not
// serve and "sub_mch_id与sub_appid不匹配" for a sub_appid not bound to it. A
// Server not in partner mode answers "普通商户不允许传sub_mch_id" to a request
// with a sub_mch_id (and "普通商户不允许传sub_appid", the fake's own wording,
// to one with only a sub_appid).
//
// out_trade_no and out_refund_no stay unique across the whole Server, also
// between sub-merchants, where WeChat Pay scopes them per sub-merchant.
// WithPartner may be combined with WithSubMerchant; at least one
// sub-merchant is required.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi_sl.php?chapter=9_4
// (apply refund for service providers), chapter=9_5 and chapter=9_16.
func WithPartner(subMchIDs ...string) Option {
	return func(c *config) error {
		if len(subMchIDs) == 0 {
			return errors.New("wxrefundtest: WithPartner: want at least one sub-merchant id")
		}
		for _, id := range subMchIDs {
			if err := c.addSubMerchant("WithPartner", id, nil); err != nil {
				return err
			}
		}
		return nil
	}
}

// WithSubMerchant adds the sub-merchant subMchID with the sub_appids bound
// to it (the appids a sub_appid field may name for it; an order's SubAppID
// is bound too), and makes the Server a service provider like WithPartner.
// Repeat it for more sub-merchants.
func WithSubMerchant(subMchID string, subAppIDs ...string) Option {
	return func(c *config) error {
		return c.addSubMerchant("WithSubMerchant", subMchID, subAppIDs)
	}
}

func (c *config) addSubMerchant(fn, subMchID string, subAppIDs []string) error {
	if !validID(subMchID, 32) {
		return fmt.Errorf("wxrefundtest: %s: sub-merchant id %q: want 1 to 32 characters of 0-9 A-Z a-z _ - | * @", fn, subMchID)
	}
	for _, a := range subAppIDs {
		if !validID(a, 32) {
			return fmt.Errorf("wxrefundtest: %s: sub_appid %q: want 1 to 32 characters of 0-9 A-Z a-z _ - | * @", fn, a)
		}
	}
	if c.subMerchants == nil {
		c.subMerchants = make(map[string][]string)
	}
	apps := c.subMerchants[subMchID]
	if apps == nil {
		apps = []string{}
	}
	c.partner = true
	c.subMerchants[subMchID] = append(apps, subAppIDs...)
	return nil
}

// SubMerchants returns the sorted ids of the sub-merchants a Server in
// partner mode serves, and nil for a direct merchant.
func (s *Server) SubMerchants() []string {
	if !s.cfg.partner {
		return nil
	}
	ids := make([]string, 0, len(s.cfg.subMerchants))
	for id := range s.cfg.subMerchants {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// checkSubMerchant checks a request's sub_mch_id and sub_appid against the
// Server's mode, returning the return_msg of the unsigned return_code FAIL
// to answer, or "" when they are fine. required says whether partner mode
// needs a sub_mch_id (the refund bill does not). Empty fields count as
// absent, as in the signature.
func (s *Server) checkSubMerchant(f map[string]string, required bool) string {
	sub, app := f["sub_mch_id"], f["sub_appid"]
	switch {
	case !s.cfg.partner && sub != "":
		return msgDirectSubMchID
	case !s.cfg.partner && app != "":
		return msgDirectSubAppID
	case !s.cfg.partner:
		return ""
	case sub == "" && (required || app != ""):
		return msgNeedSubMchID
	case sub == "":
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	apps, ok := s.subAppIDs[sub]
	switch {
	case !ok:
		return msgNoRelation
	case app != "" && !apps[app]:
		return msgSubAppIDMismatch
	}
	return ""
}
