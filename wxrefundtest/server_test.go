package wxrefundtest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

func TestNewServerDefaults(t *testing.T) {
	s := newServer(t)
	appID, mchID, key := s.Credentials()
	require.Equal(t, wxrefundtest.DefaultAppID, appID)
	require.Equal(t, wxrefundtest.DefaultMchID, mchID)
	require.Equal(t, wxrefundtest.DefaultAPIKey, key)
	require.Len(t, key, 32)
	require.True(t, strings.HasPrefix(s.URL(), "https://127.0.0.1:"), s.URL())
	require.Greater(t, s.Balance(), int64(1)<<60, "effectively unlimited")

	sched := wxrefundtest.DefaultNotifySchedule()
	require.Len(t, sched, 15)
	var total time.Duration
	for _, d := range sched {
		total += d
	}
	require.Equal(t, 24*time.Hour+4*time.Minute, total, "the documented schedule adds up to about 24h4m")
	sched[0] = 0
	require.Equal(t, 15*time.Second, wxrefundtest.DefaultNotifySchedule()[0], "a fresh copy each call")
}

func TestNewServerOptions(t *testing.T) {
	for name, opt := range map[string]wxrefundtest.Option{
		"short key":        wxrefundtest.WithCredentials("wx1", "1", "short"),
		"empty appid":      wxrefundtest.WithCredentials("", "1", wxrefundtest.DefaultAPIKey),
		"empty mch_id":     wxrefundtest.WithCredentials("wx1", "", wxrefundtest.DefaultAPIKey),
		"control in appid": wxrefundtest.WithCredentials("wx\x01", "1", wxrefundtest.DefaultAPIKey),
		"nil clock":        wxrefundtest.WithClock(nil),
		"negative auto":    wxrefundtest.WithAutoComplete(-time.Second),
		"negative delay":   wxrefundtest.WithNotifySchedule(time.Second, -time.Second),
		"negative balance": wxrefundtest.WithBalance(-1),
		"bad addr":         wxrefundtest.WithAddr("127.0.0.1"),
		"nil client":       wxrefundtest.WithNotifyClient(nil),
		"notify query":     wxrefundtest.WithNotifyURL("https://m.example.com/n?a=b"),
		"notify scheme":    wxrefundtest.WithNotifyURL("ftp://m.example.com/n"),
	} {
		s, err := wxrefundtest.NewServer(opt)
		require.Error(t, err, name)
		require.Nil(t, s)
	}

	s := newServer(t, nil, wxrefundtest.WithCredentials("wxd930ea5d5a258f4f", "10000100", "192006250b4c09247ec02edce69f6a2d"))
	appID, mchID, key := s.Credentials()
	require.Equal(t, "wxd930ea5d5a258f4f", appID)
	require.Equal(t, "10000100", mchID)
	require.Equal(t, "192006250b4c09247ec02edce69f6a2d", key)

	// The address is taken.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer func() { _ = ln.Close() }()
	_, err = wxrefundtest.NewServer(wxrefundtest.WithAddr(ln.Addr().String()))
	require.Error(t, err)
}

func TestWithAddr(t *testing.T) {
	// A fixed port, as a standalone fake would use.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // the port must be free for WithAddr
	s := newServer(t, wxrefundtest.WithAddr(addr))
	require.Equal(t, "https://"+addr, s.URL())
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	mustRefund(t, s, "O1", "R1", 100, 10)

	// All interfaces: clients are pointed at the loopback address.
	s = newServer(t, wxrefundtest.WithAddr(":0"))
	require.True(t, strings.HasPrefix(s.URL(), "https://127.0.0.1:"), s.URL())
	requireErrCode(t, query(t, s, params{"out_refund_no": "R1"}), wxrefund.CodeRefundNotExist)

	// A host name is in the certificate.
	s = newServer(t, wxrefundtest.WithAddr("localhost:0"))
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(s.URL(), "https://"))
	status, raw := postRaw(t, httpClient(t, s, false), "https://localhost:"+port+wxrefundtest.PathRefundQuery,
		encode(t, sign(s, params{"out_refund_no": "R1"}, wxrefund.SignTypeMD5)))
	require.Equal(t, http.StatusOK, status)
	requireErrCode(t, decode(t, s, raw, wxrefund.SignTypeMD5), wxrefund.CodeRefundNotExist)
}

func TestCertificates(t *testing.T) {
	s := newServer(t)
	block, rest := pem.Decode(s.CACertPEM())
	require.NotNil(t, block)
	require.Empty(t, rest)
	ca, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	require.True(t, ca.IsCA)

	certPEM, keyPEM := s.MerchantCertPEM()
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	require.Contains(t, string(keyPEM), "BEGIN PRIVATE KEY", "PKCS#8 like apiclient_key.pem")
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	require.NoError(t, err)
	_, mchID, _ := s.Credentials()
	require.Equal(t, mchID, leaf.Subject.CommonName)
	_, err = leaf.Verify(x509.VerifyOptions{Roots: s.RootCAs(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)

	// Each server has its own CA: another server's merchant certificate is
	// refused during the handshake, and its CA does not verify this server.
	other := newServer(t)
	oCert, oKey := other.MerchantCertPEM()
	otherPair, err := tls.X509KeyPair(oCert, oKey)
	require.NoError(t, err)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.RootCAs(), Certificates: []tls.Certificate{otherPair}}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Post(s.URL()+wxrefundtest.PathRefund, "text/xml", strings.NewReader("<xml/>"))
	if err == nil { // TLS 1.3 reports the client certificate failure on the first read
		resp.Body.Close()
	}
	require.Error(t, err)
	_, err = httpClient(t, other, false).Get(s.URL() + "/fake/deliveries")
	require.Error(t, err)

	// Callers may modify the returned values.
	s.RootCAs().AddCert(leaf)
	s.CACertPEM()[0] = 'x'
	require.Equal(t, byte('-'), s.CACertPEM()[0])
}

// TestStandaloneHandler serves Handler with TLSConfig on a server of its own,
// as a program that manages its own listener would.
func TestStandaloneHandler(t *testing.T) {
	s := newServer(t)
	ts := httptest.NewUnstartedServer(s.Handler())
	ts.TLS = s.TLSConfig()
	ts.StartTLS()
	t.Cleanup(ts.Close)

	cert, key := s.MerchantCertPEM()
	appID, mchID, apiKey := s.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, apiKey, wxrefund.WithBaseURL(ts.URL),
		wxrefund.WithRootCAs(s.RootCAs()), wxrefund.WithPEM(cert, key))
	require.NoError(t, err)
	addOrder(t, s, wxrefundtest.Order{OutTradeNo: "O1", TotalFee: 100})
	r, err := c.Refund(context.Background(), &wxrefund.RefundRequest{OutTradeNo: "O1", OutRefundNo: "R1",
		TotalFee: 100, RefundFee: 10})
	require.NoError(t, err)
	require.Len(t, s.Refunds("O1"), 1)
	require.Equal(t, r.RefundID, s.Refunds("O1")[0].RefundID)

	// Without a client certificate the refund is refused by the handler.
	noCert, err := wxrefund.NewClient(appID, mchID, apiKey, wxrefund.WithBaseURL(ts.URL),
		wxrefund.WithRootCAs(s.RootCAs()))
	require.NoError(t, err)
	_, err = noCert.Refund(context.Background(), &wxrefund.RefundRequest{OutTradeNo: "O1", OutRefundNo: "R2",
		TotalFee: 100, RefundFee: 10})
	require.ErrorIs(t, err, wxrefund.ErrCertificateRequired)
}

func TestAddOrderValidation(t *testing.T) {
	s := newServer(t)
	require.NoError(t, s.AddOrder(wxrefundtest.Order{OutTradeNo: "O1", TransactionID: "4200000000000000000000000001", TotalFee: 100}))
	for name, o := range map[string]wxrefundtest.Order{
		"no out_trade_no":    {TotalFee: 100},
		"long out_trade_no":  {OutTradeNo: strings.Repeat("1", 33), TotalFee: 100},
		"bad out_trade_no":   {OutTradeNo: "O 2", TotalFee: 100},
		"bad transaction_id": {OutTradeNo: "O2", TransactionID: "42/00", TotalFee: 100},
		"zero total":         {OutTradeNo: "O2"},
		"negative coupon":    {OutTradeNo: "O2", TotalFee: 100, CouponFee: -1},
		"coupon over total":  {OutTradeNo: "O2", TotalFee: 100, CouponFee: 101},
		"bad coupon id":      {OutTradeNo: "O2", TotalFee: 100, CouponFee: 1, CouponID: strings.Repeat("2", 21)},
		"dup out_trade_no":   {OutTradeNo: "O1", TotalFee: 100},
		"dup transaction_id": {OutTradeNo: "O2", TransactionID: "4200000000000000000000000001", TotalFee: 100},
	} {
		require.Error(t, s.AddOrder(o), name)
	}
	_, ok := s.Order("O2")
	require.False(t, ok)
	// A coupon that pays the whole order is allowed; a CouponID without a
	// coupon is dropped.
	require.NoError(t, s.AddOrder(wxrefundtest.Order{OutTradeNo: "O3", TotalFee: 100, CouponFee: 100}))
	require.NoError(t, s.AddOrder(wxrefundtest.Order{OutTradeNo: "O4", TotalFee: 100, CouponID: "123"}))
	o4, _ := s.Order("O4")
	require.Empty(t, o4.CouponID)
	f := mustRefund(t, s, "O3", "R3", 100, 100)
	require.Equal(t, "0", f["cash_refund_fee"])
	require.Equal(t, "100", f["coupon_refund_fee"])
}
