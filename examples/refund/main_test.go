package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// TestMain runs the program itself when TestExitStatus starts the test
// binary with RUN_REFUND_MAIN set.
func TestMain(m *testing.M) {
	if os.Getenv("RUN_REFUND_MAIN") != "" {
		main()
		os.Exit(0)
	}
	retry.BaseDelay = time.Millisecond
	os.Exit(m.Run())
}

// fakeClient returns a fake with order ORD1 of 5000 fen, and a Client of it
// configured as main configures its own, logging to logs.
func fakeClient(t *testing.T, logs io.Writer) (*wxrefundtest.Server, *wxrefund.Client) {
	fake, err := wxrefundtest.NewServer()
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	require.NoError(t, fake.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD1", TotalFee: 5000}))
	appID, mchID, apiKey := fake.Credentials()
	c, err := wxrefund.NewClient(appID, mchID, apiKey, append(fake.ClientOptions(), options(logs)...)...)
	require.NoError(t, err)
	return fake, c
}

// A SYSTEMERROR is retried with the same out_refund_no, and only one refund
// exists afterwards.
func TestRunRetriesWithTheSameNumber(t *testing.T) {
	var logs strings.Builder
	fake, c := fakeClient(t, &logs)
	fake.FailNext(wxrefundtest.PathRefund, wxrefund.CodeSystemError, 2)
	req := &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF1", TotalFee: 5000, RefundFee: 2000}
	require.NoError(t, run(t.Context(), io.Discard, c, req))
	refunds := fake.Refunds("ORD1")
	require.Len(t, refunds, 1)
	assert.Equal(t, "RF1", refunds[0].OutRefundNo)
	assert.EqualValues(t, 2000, refunds[0].RefundFee)
	assert.Equal(t, 2, strings.Count(logs.String(), "sending the same request again"), logs.String())
}

// When every attempt is unknown, it resolves the refund: WeChat Pay has
// none, so the same request is sent once more, and one refund exists.
func TestRunResolvesWhenStillUnknown(t *testing.T) {
	fake, c := fakeClient(t, io.Discard)
	fake.FailNext(wxrefundtest.PathRefund, wxrefund.CodeSystemError, 3)
	req := &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF2", TotalFee: 5000, RefundFee: 100}
	var out strings.Builder
	require.NoError(t, run(t.Context(), &out, c, req))
	assert.Contains(t, out.String(), "resolving by out_refund_no")
	assert.Contains(t, out.String(), "sent the same request again")
	assert.Contains(t, out.String(), "RF2: PROCESSING, 100 fen")
	assert.Len(t, fake.Refunds("ORD1"), 1)
}

// When the lookup itself keeps failing, it says to run again later.
func TestRunSaysRunAgainWhenTheLookupFails(t *testing.T) {
	fake, c := fakeClient(t, io.Discard)
	fake.FailNext(wxrefundtest.PathRefund, wxrefund.CodeSystemError, 3)
	fake.FailNext(wxrefundtest.PathRefundQuery, wxrefund.CodeSystemError, 3)
	req := &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF2", TotalFee: 5000, RefundFee: 100}
	err := run(t.Context(), io.Discard, c, req)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "run again later")
	assert.Empty(t, fake.Refunds("ORD1"))
}

// When WeChat Pay applied the refund but every answer was lost, the lookup
// finds it, and it is the refund requested: nothing is sent again.
func TestRunFindsALostRefund(t *testing.T) {
	fake, c := fakeClient(t, io.Discard)
	fake.LoseNext("", 3)
	req := &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF5", TotalFee: 5000, RefundFee: 300}
	var out strings.Builder
	require.NoError(t, run(t.Context(), &out, c, req))
	assert.Contains(t, out.String(), "resolving by out_refund_no")
	assert.NotContains(t, out.String(), "sent the same request again")
	assert.Contains(t, out.String(), "RF5: PROCESSING, 300 fen")
	assert.Len(t, fake.Refunds("ORD1"), 1)
}

// An unknown first attempt is not forgotten when a later attempt fails for
// good: the refund is resolved, and the final failure of the request sent
// again is reported.
func TestRunResolvesAfterAnEarlierUnknown(t *testing.T) {
	fake, c := fakeClient(t, io.Discard)
	fake.FailNext(wxrefundtest.PathRefund, wxrefund.CodeSystemError, 1)
	fake.FailNext(wxrefundtest.PathRefund, wxrefund.CodeTradeOverdue, 2)
	req := &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF4", TotalFee: 5000, RefundFee: 100}
	var out strings.Builder
	err := run(t.Context(), &out, c, req)
	assert.Contains(t, out.String(), "resolving by out_refund_no")
	assert.Equal(t, wxrefund.CodeTradeOverdue, wxrefund.ErrorCode(err))
	assert.NotErrorIs(t, err, wxrefund.ErrOutcomeUnknown, "the lookup settled it")
	assert.Empty(t, fake.Refunds("ORD1"))
}

// A number already used with other amounts is not reported as the refund
// requested.
func TestRunRefusesARefundWithOtherAmounts(t *testing.T) {
	fake, c := fakeClient(t, io.Discard)
	require.NoError(t, run(t.Context(), io.Discard, c,
		&wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF1", TotalFee: 5000, RefundFee: 2000}))
	var out strings.Builder
	err := run(t.Context(), &out, c, &wxrefund.RefundRequest{OutTradeNo: "ORD1", OutRefundNo: "RF1", TotalFee: 5000, RefundFee: 1000})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the existing refund has RefundFee 2000, not 1000")
	assert.NotErrorIs(t, err, wxrefund.ErrOutcomeUnknown, "the lookup settled it")
	assert.Contains(t, out.String(), "RF1: PROCESSING, 2000 fen")
	require.Len(t, fake.Refunds("ORD1"), 1)
	assert.EqualValues(t, 2000, fake.Refunds("ORD1")[0].RefundFee)
}

func TestRunStopsOnFinalErrors(t *testing.T) {
	_, c := fakeClient(t, io.Discard)
	err := run(t.Context(), io.Discard, c, &wxrefund.RefundRequest{OutTradeNo: "NO-SUCH-ORDER", OutRefundNo: "RF3", TotalFee: 5000, RefundFee: 100})
	assert.Equal(t, wxrefund.CodeOrderNotExist, wxrefund.ErrorCode(err))
}

var allVars = []string{"WXPAY_APPID", "WXPAY_MCHID", "WXPAY_APIKEY", "WXPAY_CERT_FILE", "WXPAY_KEY_FILE",
	"WXPAY_P12_FILE", "WXPAY_P12_PASSWORD", "WXPAY_BASE_URL", "WXPAY_CA_FILE"}

func TestNewClientExplainsWhatIsMissing(t *testing.T) {
	for _, v := range allVars {
		t.Setenv(v, "")
	}
	_, err := newClient(true)
	require.Error(t, err)
	for _, name := range []string{"WXPAY_APPID", "WXPAY_MCHID", "WXPAY_APIKEY", "WXPAY_CERT_FILE", "Environment variables:"} {
		assert.Contains(t, err.Error(), name)
	}

	t.Setenv("WXPAY_APPID", "wx8888888888888888")
	t.Setenv("WXPAY_MCHID", "1900000109")
	t.Setenv("WXPAY_APIKEY", "Illustr8tiveApiV2Key0123456789Ab")
	_, err = newClient(true)
	require.ErrorContains(t, err, "missing WXPAY_CERT_FILE and WXPAY_KEY_FILE (or WXPAY_P12_FILE)")

	t.Setenv("WXPAY_CERT_FILE", "cert.pem")
	t.Setenv("WXPAY_KEY_FILE", "key.pem")
	t.Setenv("WXPAY_CA_FILE", filepath.Join(t.TempDir(), "missing.pem"))
	_, err = newClient(true)
	require.ErrorContains(t, err, "WXPAY_CA_FILE")
}

// The program, configured by the variables that examples/fakeserver prints,
// refunds against the fake, and exits non-zero when the out_refund_no was
// used before with other amounts.
func TestExitStatus(t *testing.T) {
	fake, err := wxrefundtest.NewServer()
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	require.NoError(t, fake.AddOrder(wxrefundtest.Order{OutTradeNo: "ORD1", TotalFee: 5000}))

	dir := t.TempDir()
	certPEM, keyPEM := fake.MerchantCertPEM()
	for name, data := range map[string][]byte{"ca.pem": fake.CACertPEM(), "cert.pem": certPEM, "key.pem": keyPEM} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	appID, mchID, apiKey := fake.Credentials()
	env := append(os.Environ(), "RUN_REFUND_MAIN=1", "WXPAY_P12_FILE=",
		"WXPAY_APPID="+appID, "WXPAY_MCHID="+mchID, "WXPAY_APIKEY="+apiKey,
		"WXPAY_CERT_FILE="+filepath.Join(dir, "cert.pem"), "WXPAY_KEY_FILE="+filepath.Join(dir, "key.pem"),
		"WXPAY_BASE_URL="+fake.URL(), "WXPAY_CA_FILE="+filepath.Join(dir, "ca.pem"))
	refund := func(fen string) (stdout, stderr string, code int) {
		var o, e strings.Builder
		cmd := exec.Command(os.Args[0], "-out-trade-no", "ORD1", "-out-refund-no", "RF1", "-total", "5000", "-refund", fen)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, &o, &e
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return o.String(), e.String(), exit.ExitCode()
		}
		require.NoError(t, err)
		return o.String(), e.String(), 0
	}

	stdout, stderr, code := refund("2000")
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "accepted:")
	assert.Contains(t, stdout, "RF1: PROCESSING, 2000 fen")

	_, stderr, code = refund("1000")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "the existing refund has RefundFee 2000, not 1000")

	// Without credentials it says which variables it needs.
	env = []string{"RUN_REFUND_MAIN=1"}
	_, stderr, code = refund("1000")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "missing WXPAY_APPID")
}
