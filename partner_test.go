package wxrefund

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Service-provider mode through a real server: the request names the
// sub-merchant, the answer's echo is checked when present.
func TestPartnerRefund(t *testing.T) {
	t.Parallel()
	partnerReq := func() *RefundRequest {
		r := mtRefundReq()
		r.SubMchID, r.SubAppID = "1900000110", "wx9999999999999999"
		return r
	}
	echo := func(req map[string]string) map[string]string {
		f := mtRefundOK(req)
		f["sub_mch_id"], f["sub_appid"] = req["sub_mch_id"], req["sub_appid"]
		return f
	}
	t.Run("echoed", func(t *testing.T) {
		t.Parallel()
		c, mux := setup(t)
		reqs := mtRefundHandler(t, mux, echo)
		resp, err := c.Refund(context.Background(), partnerReq())
		require.NoError(t, err)
		got := mtReceive(t, reqs).Fields
		assert.Equal(t, "1900000110", got["sub_mch_id"])
		assert.Equal(t, "wx9999999999999999", got["sub_appid"])
		assert.Equal(t, "1900000110", resp.SubMchID)
		assert.Equal(t, "wx9999999999999999", resp.SubAppID)
	})
	t.Run("not echoed: not required", func(t *testing.T) {
		t.Parallel()
		c, mux := setup(t)
		mtRefundHandler(t, mux, mtRefundOK)
		resp, err := c.Refund(context.Background(), partnerReq())
		require.NoError(t, err)
		assert.Empty(t, resp.SubMchID)
	})
	for name, mutate := range map[string]func(f map[string]string){
		"another sub-merchant": func(f map[string]string) { f["sub_mch_id"] = "1900000111" },
		"another sub_appid":    func(f map[string]string) { f["sub_appid"] = "wx0000000000000000" },
		"a sub_mch_id unasked": func(f map[string]string) { f["sub_mch_id"], f["sub_appid"] = "1900000110", "" },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			mtRefundHandler(t, mux, func(req map[string]string) map[string]string {
				f := echo(req)
				mutate(f)
				return f
			})
			req := partnerReq()
			if name == "a sub_mch_id unasked" {
				req.SubMchID, req.SubAppID = "", ""
			}
			_, err := c.Refund(context.Background(), req)
			mtMessageStatus(http.StatusOK, ErrMerchantMismatch)(t, err)
		})
	}
}

func TestPartnerQuery(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	reqs := mtHandle(t, mux, pathRefundQuery, SignTypeMD5, func(map[string]string) map[string]string {
		f := mtQueryOK()
		f["sub_mch_id"] = "1900000110" // the sub-merchant that owns RF20240603000001
		return f
	})
	resp, err := c.QueryRefund(context.Background(), &QueryRefundRequest{OutRefundNo: "RF20240603000001", SubMchID: "1900000110"})
	require.NoError(t, err)
	assert.Equal(t, "1900000110", mtReceive(t, reqs).Fields["sub_mch_id"])
	assert.Equal(t, "1900000110", resp.SubMchID)

	_, err = c.QueryRefund(context.Background(), &QueryRefundRequest{OutRefundNo: "RF20240603000001", SubMchID: "1900000111"})
	require.ErrorIs(t, err, ErrMerchantMismatch)
	assert.NotErrorIs(t, err, ErrOutcomeUnknown)
}

func TestPartnerValidation(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	hits := mtCountHits(mux, pathRefund)
	for _, tc := range []struct {
		sub, app, field string
	}{
		{"", "wx9999999999999999", "SubAppID"},
		{"1900000110 ", "", "SubMchID"},
		{"123456789012345678901234567890123", "", "SubMchID"},
		{"1900000110", "wx<9>", "SubAppID"},
	} {
		r := mtRefundReq()
		r.SubMchID, r.SubAppID = tc.sub, tc.app
		_, err := c.Refund(context.Background(), r)
		var ve *ValidationError
		require.ErrorAs(t, err, &ve, "%+v", tc)
		assert.Equal(t, tc.field, ve.Field)
		_, err = c.QueryRefund(context.Background(), &QueryRefundRequest{OutRefundNo: "R", SubMchID: tc.sub, SubAppID: tc.app})
		require.ErrorAs(t, err, &ve, "%+v", tc)
	}
	assert.Zero(t, hits.Load())
}

// WeChat Pay's answers to a provider's configuration mistakes are
// configuration errors with an English explanation.
func TestPartnerConfigurationMistakes(t *testing.T) {
	t.Parallel()
	for msg, hint := range map[string]string{
		"受理机构必须传入sub_mch_id":      "set SubMchID",
		"普通商户不允许传sub_mch_id":      "leave SubMchID",
		"受理关系不存在":                 "not a sub-merchant of this service provider",
		"sub_mch_id与sub_appid不匹配": "SubAppID is not bound to SubMchID",
		"证书验证失败":                  "the provider's",
	} {
		e := &Error{ReturnCode: "FAIL", ReturnMsg: msg}
		assert.ErrorIs(t, e, ErrInvalidConfig, msg)
		assert.Contains(t, e.Error(), hint, msg)
		assert.False(t, e.Retryable())
	}
}

// A provider's notification names the sub-merchant outside req_info.
func TestPartnerNotification(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	body, err := mtEncode(map[string]string{
		"return_code": "SUCCESS", "appid": ntAppID, "mch_id": ntMchID, "nonce_str": "n",
		"sub_mch_id": "1900000110", "sub_appid": "wx9999999999999999",
		"req_info": ntReqInfo(ntKey, ntInnerXML(t, ntInner())),
	})
	require.NoError(t, err)
	n, err := c.DecryptNotify(body)
	require.NoError(t, err)
	assert.Equal(t, "1900000110", n.SubMchID)
	assert.Equal(t, "wx9999999999999999", n.SubAppID)

	// The notify store tells sub-merchants' notifications apart.
	other := *n
	other.SubMchID = "1900000111"
	assert.NotEqual(t, notifyKeyOf(n), notifyKeyOf(&other))
}
