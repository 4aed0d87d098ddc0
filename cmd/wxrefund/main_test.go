package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
	"github.com/go-wxpay/wxrefund/internal/testpki"
	"github.com/go-wxpay/wxrefund/wxrefundtest"
)

// These tests build the command and run the binary against the fake
// WeChat Pay, as a person on call would, and scan everything it prints for
// secrets.

var binary string // the built command

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "wxrefund-cli")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "wxrefund")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the command: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// env is a fake WeChat Pay and the environment that points the command at
// it, with the certificate files written to a folder.
type env struct {
	fake *wxrefundtest.Server
	dir  string
	vars []string
	keys []string // secrets no output may hold
}

func newEnv(t *testing.T, opts ...wxrefundtest.Option) *env {
	t.Helper()
	fake, err := wxrefundtest.NewServer(opts...)
	require.NoError(t, err)
	t.Cleanup(fake.Close)
	dir := t.TempDir()
	certPEM, keyPEM := fake.MerchantCertPEM()
	for name, data := range map[string][]byte{"ca.pem": fake.CACertPEM(), "cert.pem": certPEM, "key.pem": keyPEM} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	appID, mchID, apiKey := fake.Credentials()
	e := &env{fake: fake, dir: dir, vars: []string{
		"HOME=" + dir, "PATH=" + os.Getenv("PATH"),
		"WXPAY_APPID=" + appID, "WXPAY_MCHID=" + mchID, "WXPAY_APIKEY=" + apiKey,
		"WXPAY_CERT_FILE=" + filepath.Join(dir, "cert.pem"), "WXPAY_KEY_FILE=" + filepath.Join(dir, "key.pem"),
		"WXPAY_BASE_URL=" + fake.URL(), "WXPAY_CA_FILE=" + filepath.Join(dir, "ca.pem"),
	}}
	e.keys = append(e.keys, apiKey)
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if len(line) > 20 && !strings.HasPrefix(line, "-----") {
			e.keys = append(e.keys, line) // every line of the private key
		}
	}
	return e
}

// result is one run of the command.
type result struct {
	stdout, stderr string
	code           int
}

// run runs the command with e's environment (and extra variables, NAME=value
// arguments before "--"), and checks that nothing secret was printed.
func (e *env) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	vars := e.vars
	for len(args) > 0 && strings.Contains(args[0], "=") && !strings.HasPrefix(args[0], "-") {
		vars = append(vars, args[0])
		args = args[1:]
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = vars
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else {
		require.NoError(t, err)
	}
	r := result{out.String(), errOut.String(), code}
	e.noSecrets(t, r.stdout+r.stderr)
	return r
}

// noSecrets fails when text holds the API key or a line of the private key.
func (e *env) noSecrets(t *testing.T, text string) {
	t.Helper()
	for _, k := range e.keys {
		require.NotContains(t, text, k, "a secret in the output")
	}
}

func (e *env) order(t *testing.T, no string, total int64) {
	t.Helper()
	require.NoError(t, e.fake.AddOrder(wxrefundtest.Order{OutTradeNo: no, TotalFee: total}))
}

func TestHelpAndUsage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.run(t, "", "help")
	assert.Equal(t, 0, r.code)
	for _, want := range []string{"query", "resolve", "batch", "reconcile", "Exit codes:", "WXPAY_APIKEY"} {
		assert.Contains(t, r.stdout, want)
	}
	assert.Equal(t, exitUsage, e.run(t, "").code)
	r = e.run(t, "", "nope")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, `unknown command "nope"`)
	r = e.run(t, "", "query")
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "give exactly one of")
	r = e.run(t, "", "help", "batch")
	assert.Equal(t, 0, r.code)
	assert.Contains(t, r.stderr, "-results")
	// Missing configuration names what to set.
	r = e.run(t, "", "WXPAY_APIKEY=", "query", "-out-refund-no", "RF1")
	assert.Equal(t, exitConfig, r.code)
	assert.Contains(t, r.stderr, "WXPAY_APIKEY or -api-key-file")
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "one line")
	// The API key is never a flag.
	r = e.run(t, "", "query", "-api-key", "x", "-out-refund-no", "RF1")
	assert.Equal(t, exitUsage, r.code)
}

func TestQueryRefundAndResolve(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.order(t, "ORD1", 10000)
	r := e.run(t, "", "refund", "-out-trade-no", "ORD1", "-out-refund-no", "RF1", "-total", "10000", "-refund", "2500", "-yes")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "accepted: refund_id")

	// Without -yes and without a terminal it refuses to guess.
	r = e.run(t, "", "refund", "-out-trade-no", "ORD1", "-out-refund-no", "RF2", "-total", "10000", "-refund", "100")
	assert.Equal(t, exitUsage, r.code)
	assert.Len(t, e.fake.Refunds("ORD1"), 1)

	r = e.run(t, "", "query", "-out-refund-no", "RF1")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "RF1")
	assert.Contains(t, r.stdout, "PROCESSING")
	assert.Contains(t, r.stdout, "25.00")
	r = e.run(t, "", "query", "-out-trade-no", "ORD1", "-json")
	require.Equal(t, 0, r.code, r.stderr)
	var rec wxrefund.RefundRecord
	require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &rec))
	assert.EqualValues(t, 2500, rec.RefundFee)
	r = e.run(t, "", "query", "-out-refund-no", "NONE")
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "no such refund")

	// resolve after a lost answer makes no second refund.
	e.fake.LoseNext("", 3)
	r = e.run(t, "", "refund", "-out-trade-no", "ORD1", "-out-refund-no", "RF3", "-total", "10000", "-refund", "700", "-yes", "-retry-pause", "10ms")
	assert.Contains(t, r.stderr, "outcome unknown")
	require.Len(t, e.fake.Refunds("ORD1"), 2)
	r = e.run(t, "", "resolve", "-out-trade-no", "ORD1", "-out-refund-no", "RF3", "-total", "10000", "-refund", "700")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "nothing was sent")
	require.Len(t, e.fake.Refunds("ORD1"), 2, "no second refund")
	// A conflict: nothing sent, exit 1.
	r = e.run(t, "", "resolve", "-out-trade-no", "ORD1", "-out-refund-no", "RF3", "-total", "10000", "-refund", "800", "-json")
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stdout, `"Outcome":"conflict"`)
	assert.Contains(t, r.stderr, "nothing was sent")
	// A refund never made is sent.
	r = e.run(t, "", "resolve", "-out-trade-no", "ORD1", "-out-refund-no", "RF4", "-total", "10000", "-refund", "100")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "sent the same request now")
	assert.Len(t, e.fake.Refunds("ORD1"), 3)
	// A refund that was closed is not success: exit 1, nothing sent.
	require.NoError(t, e.fake.Complete("RF4", wxrefund.RefundStatusClosed))
	r = e.run(t, "", "resolve", "-out-trade-no", "ORD1", "-out-refund-no", "RF4", "-total", "10000", "-refund", "100", "-json")
	assert.Equal(t, exitFailed, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"Outcome":"closed"`)
	assert.Contains(t, r.stderr, "takes a new out_refund_no")
	assert.Len(t, e.fake.Refunds("ORD1"), 3)
	// A final failure exits 1; the unknown, 4.
	r = e.run(t, "", "resolve", "-out-trade-no", "NO-ORDER", "-out-refund-no", "RF9", "-total", "100", "-refund", "100")
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "ORDERNOTEXIST")
	e.fake.FailNext(wxrefundtest.PathRefundQuery, wxrefund.CodeSystemError, 10)
	r = e.run(t, "", "resolve", "-out-trade-no", "ORD1", "-out-refund-no", "RF5", "-total", "10000", "-refund", "100", "-retry-pause", "10ms")
	assert.Equal(t, exitUnknown, r.code, r.stderr)
	e.fake.ClearFaults()
}

func TestDecryptAndVerify(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wxrefundtest.WithNotifySchedule(time.Millisecond))
	e.order(t, "ORD1", 10000)
	// Capture the notification the fake sends.
	bodies := make(chan []byte, 1)
	notify := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case bodies <- b:
		default:
		}
		_, _ = io.WriteString(w, "<xml><return_code>SUCCESS</return_code></xml>")
	}))
	t.Cleanup(notify.Close)
	r := e.run(t, "", "refund", "-out-trade-no", "ORD1", "-out-refund-no", "RF1", "-total", "10000", "-refund", "2500", "-yes",
		"-notify-url", notify.URL)
	require.Equal(t, 0, r.code, r.stderr)
	require.NoError(t, e.fake.Complete("RF1", wxrefund.RefundStatusSuccess))
	body := <-bodies
	file := filepath.Join(e.dir, "notify.xml")
	require.NoError(t, os.WriteFile(file, body, 0o600))
	r = e.run(t, "", "decrypt", file)
	require.Equal(t, 0, r.code, r.stderr)
	for _, want := range []string{"out_refund_no", "RF1", "refund_status", "SUCCESS", "refund_fee", "2500"} {
		assert.Contains(t, r.stdout, want)
	}
	r = e.run(t, string(body), "decrypt", "-json")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, `"OutRefundNo":"RF1"`)
	r = e.run(t, string(body), "WXPAY_APIKEY=00000000000000000000000000000000", "decrypt")
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "API key")

	// verify: a signed request checks out; the wrong key is named; the
	// other sign type is named; the signature is never printed whole.
	_, _, apiKey := e.fake.Credentials()
	fields := map[string]string{"appid": "wx8888888888888888", "mch_id": "1900000109", "nonce_str": "abc", "out_refund_no": "RF1"}
	sign := wxrefund.Sign(fields, apiKey, wxrefund.SignTypeMD5)
	doc := func(sign string, extra string) string {
		return "<xml><appid>wx8888888888888888</appid><mch_id>1900000109</mch_id><nonce_str>abc</nonce_str><out_refund_no>RF1</out_refund_no>" +
			extra + "<sign>" + sign + "</sign></xml>"
	}
	r = e.run(t, doc(sign, ""), "verify")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "verifies")
	assert.NotContains(t, r.stdout, sign, "the signature is never printed whole")
	wrong := wxrefund.Sign(fields, "ffffffffffffffffffffffffffffffff", wxrefund.SignTypeMD5)
	r = e.run(t, doc(sign, ""), "verify", "-sign-type", "SHA1")
	assert.Equal(t, exitUsage, r.code, "an unknown sign type is refused, not taken for MD5")
	r = e.run(t, doc(wrong, ""), "verify")
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stdout, "wrong API key")
	hmacSign := wxrefund.Sign(fields, apiKey, wxrefund.SignTypeHMACSHA256)
	r = e.run(t, doc(hmacSign, ""), "verify")
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stdout, "wrong sign type")
	r = e.run(t, doc(sign, "<device_info></device_info>"), "verify", "-json")
	assert.Equal(t, 0, r.code, "an empty field is not signed, and so not a mismatch")
	e.noSecrets(t, sign)
}

func TestCert(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.run(t, "", "cert")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "1900000109")
	assert.Contains(t, r.stdout, "expires")
	r = e.run(t, "", "cert", "-json")
	require.Equal(t, 0, r.code, r.stderr)
	var info certInfo
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &info))
	assert.True(t, info.MatchesMchID)

	// A certificate expiring inside the window, and one of another merchant.
	ca, err := testpki.NewCA("wxrefund cli test")
	require.NoError(t, err)
	soon, err := ca.Merchant("1900000109", testpki.Validity(time.Now().Add(-time.Hour), time.Now().Add(10*24*time.Hour)))
	require.NoError(t, err)
	other, err := ca.Merchant("1900000999")
	require.NoError(t, err)
	for name, c := range map[string]*testpki.Cert{"soon.pem": soon, "other.pem": other} {
		require.NoError(t, os.WriteFile(filepath.Join(e.dir, name), c.CertPEM, 0o600))
	}
	r = e.run(t, "", "cert", "-cert", filepath.Join(e.dir, "soon.pem"), "-days", "30")
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "expires in")
	r = e.run(t, "", "cert", "-cert", filepath.Join(e.dir, "soon.pem"), "-days", "5")
	assert.Equal(t, 0, r.code, r.stderr)
	r = e.run(t, "", "cert", "-cert", filepath.Join(e.dir, "other.pem"))
	assert.Equal(t, exitConfig, r.code)
	assert.Contains(t, r.stderr, "issued to mch_id 1900000999")

	// A .p12 that also carries its CA: the certificate shown is the one
	// matching the private key, not the CA.
	chain, err := filepath.Abs("../../testdata/certs/apiclient_chain.p12")
	require.NoError(t, err)
	r = e.run(t, "", "WXPAY_P12_PASSWORD=chain-p12-test-password", "cert", "-p12", chain, "-json")
	require.Equal(t, 0, r.code, r.stderr)
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &info))
	assert.Contains(t, info.Subject, "1900000109 TEST-ONLY merchant")
	assert.NotContains(t, info.Subject, "CA")
}

// readCSV reads a CSV file's records after its header.
func readCSV(t *testing.T, path string) ([]string, [][]string) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { _ = f.Close() }()
	r := csv.NewReader(bufio.NewReader(f))
	r.FieldsPerRecord = -1
	all, err := r.ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, all)
	return all[0], all[1:]
}

func fen(t *testing.T, yuan string) int64 {
	t.Helper()
	whole, frac, _ := strings.Cut(yuan, ".")
	w, err := strconv.ParseInt(whole, 10, 64)
	require.NoError(t, err)
	f, err := strconv.ParseInt(frac, 10, 64)
	require.NoError(t, err)
	require.Len(t, frac, 2)
	return w*100 + f
}

// A bill of 100,000 rows as CSV re-sums to its summary; JSON lines too.
func TestBill(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	day := time.Now().In(wxrefund.ChinaTime).AddDate(0, 0, -1)
	const rows = 100_000
	e.fake.SetBill(day, e.fake.SyntheticRefundBill(day, rows))
	out := filepath.Join(e.dir, "bill.csv")
	r := e.run(t, "", "bill", "-date", day.Format("2006-01-02"), "-out", out)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stdout, "the rows add up to the summary")
	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	require.True(t, bytes.HasPrefix(raw, []byte("\ufeff")), "a BOM for spreadsheet programs")
	header, records := readCSV(t, out)
	require.Len(t, records, rows)
	col := -1
	for i, h := range header {
		if strings.HasPrefix(h, "RefundFee ") {
			col = i
		}
	}
	require.GreaterOrEqual(t, col, 0)
	var total int64
	for _, rec := range records {
		total += fen(t, rec[col])
	}
	// The synthetic bill refunds i%1000+1 fen on row i.
	var want int64
	for i := range rows {
		want += int64(i%1000 + 1)
	}
	assert.Equal(t, want, total)
	assert.Contains(t, r.stdout, fmt.Sprintf("%d refunds, %d.%02d yuan", rows, want/100, want%100))

	r = e.run(t, "", "bill", "-date", day.Format("2006-01-02"), "-format", "jsonl")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, rows)
	var first billJSON
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	assert.Equal(t, "SYNR0000000000", first.OutRefundNo)
	assert.EqualValues(t, 1, first.RefundFee)

	r = e.run(t, "", "bill", "-date", day.AddDate(0, 0, -1).Format("2006-01-02"))
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "no refund bill")
	r = e.run(t, "", "bill", "-date", "2024/06/03")
	assert.Equal(t, exitUsage, r.code)
}

// reconcile finds a refund missing and an amount wrong, on each side.
func TestReconcile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.order(t, "ORD1", 100000)
	for i, fee := range []int64{100, 200, 300, 400} {
		r := e.run(t, "", "refund", "-out-trade-no", "ORD1", "-out-refund-no", fmt.Sprintf("RF%d", i+1), "-total", "100000",
			"-refund", strconv.FormatInt(fee, 10), "-yes")
		require.Equal(t, 0, r.code, r.stderr)
	}
	today := time.Now().In(wxrefund.ChinaTime).Format("2006-01-02")
	write := func(lines ...string) string {
		p := filepath.Join(e.dir, "mine.csv")
		require.NoError(t, os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
		return p
	}
	r := e.run(t, "", "reconcile", "-date", today, "-refunds",
		write("out_refund_no,refund_fee", "RF1,100", "RF2,200", "RF3,300", "RF4,400"))
	require.Equal(t, 0, r.code, r.stderr)
	assert.Contains(t, r.stderr, "0 differences")

	// Ours: RF2 missing, RF3 wrong, RF9 extra (missing at WeChat Pay).
	r = e.run(t, "", "reconcile", "-date", today, "-refunds",
		write("out_refund_no,refund_fee", "RF1,100", "RF3,333", "RF4,400", "RF9,900"))
	assert.Equal(t, exitFailed, r.code)
	for _, want := range []string{"RF2", "missing in yours", "RF3", "amount differs", "3.33", "RF9", "missing at WeChat Pay"} {
		assert.Contains(t, r.stdout, want)
	}
	assert.Contains(t, r.stderr, "3 differences")
	r = e.run(t, "", "reconcile", "-date", today, "-json", "-refunds", write("out_refund_no,refund_fee", "RF1,100", "RF2,200", "RF3,300"))
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stdout, `"Kind":"missing in yours"`)
	r = e.run(t, "", "reconcile", "-date", today, "-refunds", write("no,fee", "RF1,1"))
	assert.Equal(t, exitUsage, r.code)

	// A bill that lists one out_refund_no twice (the sums still agree).
	day := time.Now().In(wxrefund.ChinaTime).AddDate(0, 0, -2)
	synthetic := e.fake.SyntheticRefundBill(day, 3)
	e.fake.SetBill(day, func(w io.Writer) error {
		var b bytes.Buffer
		if err := synthetic(&b); err != nil {
			return err
		}
		_, err := w.Write(bytes.ReplaceAll(b.Bytes(), []byte("SYNR0000000002"), []byte("SYNR0000000001")))
		return err
	})
	r = e.run(t, "", "reconcile", "-date", day.Format("2006-01-02"), "-refunds",
		write("out_refund_no,refund_fee", "SYNR0000000000,1", "SYNR0000000001,2"))
	assert.Equal(t, exitFailed, r.code, r.stderr)
	assert.Contains(t, r.stdout, "twice in the bill")
	assert.Contains(t, r.stderr, "1 differences")
}

// batchInput writes n refunds over orders of 25 refunds each.
func batchInput(t *testing.T, e *env, n int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("out_trade_no,out_refund_no,total_fee,refund_fee,reason\n")
	for i := range n {
		if i%25 == 0 {
			e.order(t, fmt.Sprintf("BORD%04d", i/25), 100000)
		}
		fmt.Fprintf(&b, "BORD%04d,BRF%05d,100000,%d,event cancelled\n", i/25, i, 100+i%50)
	}
	p := filepath.Join(e.dir, "batch.csv")
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o600))
	return p
}

// countLines counts the lines of a file that hold s.
func countLines(path, s string) int {
	b, _ := os.ReadFile(path)
	return strings.Count(string(b), s)
}

// A batch of 1,000 refunds with lost answers, killed twice mid-way and run
// again until done: every refund exists exactly once, and the results file
// agrees with the fake's ledger.
func TestBatchKilledAndResumed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const n = 1000
	in := batchInput(t, e, n)
	results := filepath.Join(e.dir, "results.csv")
	e.fake.LoseNext(wxrefund.CodeSystemError, 15)
	e.fake.LoseNext("", 15)
	args := []string{"batch", "-in", in, "-results", results, "-rate", "150", "-workers", "8", "-retry-pause", "20ms"}

	// Two runs killed mid-way.
	for _, at := range []int{150, 450} {
		cmd := exec.Command(binary, args...)
		cmd.Env = e.vars
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		require.NoError(t, cmd.Start())
		deadline := time.Now().Add(60 * time.Second)
		for countLines(results, ",accepted,") < at && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		_ = cmd.Wait()
		e.noSecrets(t, out.String())
	}
	// Then again until done.
	var last result
	for run := 0; run < 5; run++ {
		last = e.run(t, "", args...)
		if last.code == 0 {
			break
		}
		require.Equal(t, exitUnknown, last.code, last.stdout+last.stderr)
	}
	require.Equal(t, 0, last.code, last.stdout+last.stderr)
	assert.Contains(t, last.stdout, fmt.Sprintf("%d rows: %d succeeded, 0 failed, 0 in doubt", n, n))

	// Every refund exactly once at the fake, with the requested amount.
	ledger := map[string]wxrefundtest.RefundState{}
	for o := range n / 25 {
		for _, st := range e.fake.Refunds(fmt.Sprintf("BORD%04d", o)) {
			_, dup := ledger[st.OutRefundNo]
			require.False(t, dup, "%s refunded twice", st.OutRefundNo)
			ledger[st.OutRefundNo] = st
		}
	}
	require.Len(t, ledger, n)
	// The results file: each row's last state is accepted, with the
	// fake's refund_id.
	_, records := readCSV(t, results)
	lastState := map[string][]string{}
	for _, rec := range records {
		lastState[rec[0]] = rec
	}
	require.Len(t, lastState, n)
	for no, rec := range lastState {
		st, ok := ledger[no]
		require.True(t, ok, no)
		require.Equal(t, stateAccepted, rec[1], no)
		require.Equal(t, st.RefundID, rec[2], no)
		require.Equal(t, strconv.FormatInt(st.RefundFee, 10), rec[3], no)
	}
	// Run again: nothing to do.
	again := e.run(t, "", args...)
	require.Equal(t, 0, again.code, again.stderr)
	assert.Contains(t, again.stdout, fmt.Sprintf("(%d settled by an earlier run)", n))
}

func TestBatchFailuresAndInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.order(t, "ORD1", 1000)
	write := func(body string) string {
		p := filepath.Join(e.dir, fmt.Sprintf("in-%d.csv", time.Now().UnixNano()))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	results := filepath.Join(e.dir, "results.csv")
	in := write("out_trade_no,out_refund_no,total_fee,refund_fee\nORD1,R1,1000,100\nNOPE,R2,1000,100\nORD1,R3,1000,-5\n")
	r := e.run(t, "", "batch", "-in", in, "-results", results)
	assert.Equal(t, exitFailed, r.code, r.stdout+r.stderr)
	assert.Contains(t, r.stdout, "3 rows: 1 succeeded, 2 failed, 0 in doubt")
	assert.Contains(t, r.stdout, "ORDERNOTEXIST")
	assert.Contains(t, r.stdout, "invalid (line 4)")
	// A run that died while sending R1 and then tore its last line: R1
	// is looked up, not sent again, and its line starts a line of its own.
	f, err := os.OpenFile(results, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString("R1,sending,,100,,\nR1,\"acc")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	r = e.run(t, "", "batch", "-in", in, "-results", results)
	assert.Equal(t, exitFailed, r.code, r.stdout+r.stderr)
	assert.Contains(t, r.stdout, "3 rows: 1 succeeded, 2 failed, 0 in doubt")
	assert.Len(t, e.fake.Refunds("ORD1"), 1, "R1 once")
	b, err := os.ReadFile(results)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	assert.Equal(t, `R1,"acc`, lines[len(lines)-2])
	assert.True(t, strings.HasPrefix(lines[len(lines)-1], "R1,accepted,"), lines[len(lines)-1])
	r = e.run(t, "", "batch", "-in", write("out_trade_no,out_refund_no,total_fee,refund_fee\nORD1,R1,1000,100\nORD1,R1,1000,100\n"), "-results", filepath.Join(e.dir, "r2.csv"))
	assert.Equal(t, exitUsage, r.code)
	assert.Contains(t, r.stderr, "already on line 2")
	r = e.run(t, "", "batch", "-in", in, "-results", results, "-rate", "500")
	assert.Equal(t, exitUsage, r.code)
}

// Configuration: the file, and flags over the environment.
func TestConfigFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.order(t, "ORD1", 1000)
	conf := filepath.Join(e.dir, "config")
	var lines []string
	for _, v := range e.vars {
		if strings.HasPrefix(v, "WXPAY_") && !strings.HasPrefix(v, "WXPAY_APIKEY=") {
			lines = append(lines, v)
		}
	}
	keyFile := filepath.Join(e.dir, "apikey")
	_, _, apiKey := e.fake.Credentials()
	require.NoError(t, os.WriteFile(keyFile, []byte(apiKey+"\n"), 0o600))
	lines = append(lines, "WXPAY_APIKEY_FILE="+keyFile)
	require.NoError(t, os.WriteFile(conf, []byte("# wxrefund\n"+strings.Join(lines, "\n")+"\n"), 0o600))
	only := &env{fake: e.fake, dir: e.dir, vars: []string{"HOME=" + e.dir, "PATH=" + os.Getenv("PATH")}, keys: e.keys}
	r := only.run(t, "", "query", "-config", conf, "-out-trade-no", "ORD1")
	assert.Equal(t, exitFailed, r.code, "no refund yet: "+r.stderr)
	assert.Contains(t, r.stderr, "REFUNDNOTEXIST")
	r = only.run(t, "", "WXREFUND_CONFIG="+conf, "query", "-out-trade-no", "ORD1", "-mchid", "1900000999")
	assert.Equal(t, exitConfig, r.code, "the flag wins over the file: "+r.stderr)
}
