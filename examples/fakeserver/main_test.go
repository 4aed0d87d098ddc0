package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/aes"
	"crypto/md5"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// wait bounds every wait in these tests; none of them asserts on wall time.
const wait = 10 * time.Second

// TestMain runs main itself when re-executed by TestMainProcess.
func TestMain(m *testing.M) {
	if os.Getenv("FAKESERVER_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// syncBuffer collects what run writes; ready is closed at the first newline.
type syncBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan struct{}
	once  sync.Once
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{ready: make(chan struct{})} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	if bytes.IndexByte(b.buf.Bytes(), '\n') >= 0 {
		b.once.Do(func() { close(b.ready) })
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fake is one run of the program in-process.
type fake struct {
	ann    announcement
	line   string // the JSON line, with its newline
	stdout *syncBuffer
	stderr *syncBuffer
	cancel context.CancelFunc
	errc   chan error
	client *http.Client // trusts the fake CA and presents the merchant certificate
}

// stop cancels run's context and returns what run returned.
func (f *fake) stop(t *testing.T) error {
	t.Helper()
	f.cancel()
	select {
	case err := <-f.errc:
		f.errc <- err // for a second stop (the cleanup)
		return err
	case <-time.After(wait):
		t.Fatal("run did not return after its context was cancelled")
		return nil
	}
}

// start runs run with args (plus -addr 127.0.0.1:0 and a temporary -dir
// unless given) and waits for the JSON line.
func start(t *testing.T, args ...string) *fake {
	t.Helper()
	if !slices.Contains(args, "-addr") {
		args = append(args, "-addr", "127.0.0.1:0")
	}
	if !slices.Contains(args, "-dir") {
		args = append(args, "-dir", filepath.Join(t.TempDir(), "certs"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &fake{stdout: newSyncBuffer(), stderr: newSyncBuffer(), cancel: cancel, errc: make(chan error, 1)}
	go func() { f.errc <- run(ctx, args, f.stdout, f.stderr) }()
	t.Cleanup(func() { _ = f.stop(t) }) // a test that expects an error from run checks stop's itself

	select {
	case <-f.stdout.ready:
	case err := <-f.errc:
		t.Fatalf("run returned before printing the JSON line: %v\nstderr:\n%s", err, f.stderr)
	case <-time.After(wait):
		t.Fatalf("no JSON line on stdout\nstderr:\n%s", f.stderr)
	}
	f.line = f.stdout.String()
	if strings.Count(f.line, "\n") != 1 || !strings.HasSuffix(f.line, "\n") {
		t.Fatalf("stdout is not one line: %q", f.line)
	}
	d := json.NewDecoder(strings.NewReader(f.line))
	d.DisallowUnknownFields()
	if err := d.Decode(&f.ann); err != nil {
		t.Fatalf("the JSON line %q: %v", f.line, err)
	}

	pair, err := tls.LoadX509KeyPair(f.ann.Cert, f.ann.Key)
	if err != nil {
		t.Fatalf("the merchant certificate and key do not load: %v", err)
	}
	caPEM, err := os.ReadFile(f.ann.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("%s holds no PEM certificate", f.ann.CA)
	}
	f.client = &http.Client{
		Timeout: wait,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs:      pool,
			Certificates: []tls.Certificate{pair},
		}},
	}
	t.Cleanup(f.client.CloseIdleConnections)
	return f
}

// md5Sign is the API v2 signature with MD5
// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3), written out
// here rather than taken from package wxrefund, as a client in another
// language would: the non-empty fields but sign, sorted by name, joined as
// name=value with &, then &key= and the API key; uppercase hex MD5.
func md5Sign(fields map[string]string, apiKey string) string {
	keys := make([]string, 0, len(fields))
	for k, v := range fields {
		if k != "sign" && v != "" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k + "=" + fields[k] + "&")
	}
	b.WriteString("key=" + apiKey)
	sum := md5.Sum([]byte(b.String()))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// signedXML is fields plus appid, mch_id, nonce_str and sign, as <xml>.
func (f *fake) signedXML(fields map[string]string) []byte {
	fields["appid"] = f.ann.AppID
	fields["mch_id"] = f.ann.MchID
	fields["nonce_str"] = fmt.Sprintf("n%d", time.Now().UnixNano())
	fields["sign"] = md5Sign(fields, f.ann.APIKey)
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString("<xml>")
	for _, k := range keys {
		fmt.Fprintf(&b, "<%s><![CDATA[%s]]></%s>", k, fields[k], k)
	}
	b.WriteString("</xml>")
	return b.Bytes()
}

// api POSTs a signed request to path on the primary domain, checks
// return_code, the answer's sign and result_code SUCCESS, and returns the
// answer's fields.
func (f *fake) api(t *testing.T, c *http.Client, path string, fields map[string]string) map[string]string {
	t.Helper()
	return f.apiAt(t, c, f.ann.BaseURL, path, fields)
}

// apiAt is api on the domain at base.
func (f *fake) apiAt(t *testing.T, c *http.Client, base, path string, fields map[string]string) map[string]string {
	t.Helper()
	status, body, err := f.post(c, base+path, fields)
	if err != nil {
		t.Fatalf("%s: %v", base+path, err)
	}
	if status != http.StatusOK {
		t.Fatalf("%s: HTTP %d: %s", base+path, status, body)
	}
	m, err := decodeXML(body, "xml")
	if err != nil {
		t.Fatalf("%s: %v: %s", path, err, body)
	}
	if m["return_code"] != "SUCCESS" {
		t.Fatalf("%s: return_code %s: %s", path, m["return_code"], m["return_msg"])
	}
	if want := md5Sign(m, f.ann.APIKey); m["sign"] != want {
		t.Fatalf("%s: the answer's sign is %q, want %q", path, m["sign"], want)
	}
	if m["result_code"] != "SUCCESS" {
		t.Fatalf("%s: result_code %s %s %s", path, m["result_code"], m["err_code"], m["err_code_des"])
	}
	return m
}

// post POSTs the signed XML request of fields to url and returns the
// answer's status and body.
func (f *fake) post(c *http.Client, url string, fields map[string]string) (int, []byte, error) {
	resp, err := c.Post(url, "text/xml", bytes.NewReader(f.signedXML(fields)))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// eventually calls cond until it reports true, failing the test if that
// takes longer than wait. The admin API has no endpoint that waits (the
// program's server does, in Go, but only over HTTP do these tests reach
// it), so this polls, bounded by a context deadline that cond's requests
// share.
func eventually(t *testing.T, what string, cond func(ctx context.Context) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond(ctx) {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not within %v", what, wait)
		case <-tick.C:
		}
	}
}

// admin calls the JSON admin API on the primary domain and decodes the
// answer into out.
func (f *fake) admin(t *testing.T, method, path, body string, wantStatus int, out any) {
	t.Helper()
	f.adminAt(context.Background(), t, f.ann.BaseURL, method, path, body, wantStatus, out)
}

// adminAt calls the JSON admin API at base (either domain) within ctx and
// decodes the answer into out.
func (f *fake) adminAt(ctx context.Context, t *testing.T, base, method, path, body string, wantStatus int, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, resp.StatusCode, wantStatus, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, raw)
		}
	}
}

// decryptReqInfo opens a refund notification's req_info
// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_16), written
// out with crypto/aes: base64, then AES-256-ECB under the lowercase hex MD5
// of the API key, then PKCS#7.
func decryptReqInfo(reqInfo, apiKey string) ([]byte, error) {
	ct, err := base64.StdEncoding.DecodeString(reqInfo)
	if err != nil {
		return nil, err
	}
	sum := md5.Sum([]byte(apiKey))
	block, err := aes.NewCipher([]byte(hex.EncodeToString(sum[:])))
	if err != nil {
		return nil, err
	}
	if len(ct) == 0 || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("ciphertext of %d bytes", len(ct))
	}
	pt := make([]byte, len(ct))
	for i := 0; i < len(ct); i += aes.BlockSize {
		block.Decrypt(pt[i:i+aes.BlockSize], ct[i:i+aes.BlockSize])
	}
	n := int(pt[len(pt)-1])
	if n < 1 || n > aes.BlockSize || !bytes.Equal(pt[len(pt)-n:], bytes.Repeat([]byte{byte(n)}, n)) {
		return nil, errors.New("bad PKCS#7 padding")
	}
	return pt[:len(pt)-n], nil
}

// decodeXML reads a flat WeChat Pay document with encoding/xml, as a client
// in another language would: the root element must be named root, and each
// child is a field whose text (CDATA or not) is its value. A field that
// appears twice or holds an element is an error.
func decodeXML(body []byte, root string) (map[string]string, error) {
	var doc struct {
		XMLName xml.Name
		Fields  []struct {
			XMLName xml.Name
			Text    string     `xml:",chardata"`
			Inner   []struct{} `xml:",any"`
		} `xml:",any"`
	}
	if err := xml.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	if doc.XMLName.Local != root {
		return nil, fmt.Errorf("the root element is <%s>, want <%s>", doc.XMLName.Local, root)
	}
	m := make(map[string]string, len(doc.Fields))
	for _, f := range doc.Fields {
		name := f.XMLName.Local
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("field %s appears twice", name)
		}
		if len(f.Inner) > 0 {
			return nil, fmt.Errorf("field %s holds an element", name)
		}
		m[name] = f.Text
	}
	return m, nil
}

type delivery struct {
	OutRefundNo string `json:"out_refund_no"`
	URL         string `json:"url"`
	Attempt     int    `json:"attempt"`
	StatusCode  int    `json:"status_code"`
	ReturnCode  string `json:"return_code"`
}

func TestRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "certs") // created by run
	f := start(t, "-dir", dir, "-notify-schedule", "50ms,50ms")

	// The JSON line: exactly these keys, in this order, absolute paths.
	const prefix = `{"base_url":"https://127.0.0.1:`
	if !strings.HasPrefix(f.line, prefix) {
		t.Errorf("the JSON line %q does not start with %s", f.line, prefix)
	}
	var keys []string
	d := json.NewDecoder(strings.NewReader(f.line))
	if _, err := d.Token(); err != nil {
		t.Fatalf("the JSON line %q: %v", f.line, err)
	}
	for d.More() {
		k, err := d.Token()
		if err != nil {
			t.Fatalf("the JSON line %q: %v", f.line, err)
		}
		keys = append(keys, k.(string))
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("the JSON line %q: %v", f.line, err)
		}
	}
	if want := []string{"base_url", "backup_url", "appid", "mch_id", "api_key", "ca", "cert", "key", "console_url"}; !slices.Equal(keys, want) {
		t.Errorf("JSON keys %q, want %q", keys, want)
	}
	if !strings.HasPrefix(f.ann.BackupURL, "https://127.0.0.1:") || f.ann.BackupURL == f.ann.BaseURL {
		t.Errorf("backup_url %q (base_url %q): want another port of 127.0.0.1", f.ann.BackupURL, f.ann.BaseURL)
	}
	for name, p := range map[string]string{"ca.pem": f.ann.CA, "apiclient_cert.pem": f.ann.Cert, "apiclient_key.pem": f.ann.Key} {
		if p != filepath.Join(dir, name) {
			t.Errorf("path %q, want %q", p, filepath.Join(dir, name))
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && name == "apiclient_key.pem" && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	if f.ann.AppID == "" || f.ann.MchID == "" || len(f.ann.APIKey) != 32 {
		t.Errorf("credentials %q %q %q", f.ann.AppID, f.ann.MchID, f.ann.APIKey)
	}

	// The CA verifies the server (an https request with the client certificate).
	var ds []delivery
	f.admin(t, http.MethodGet, "/fake/deliveries", "", http.StatusOK, &ds)
	if len(ds) != 0 {
		t.Fatalf("deliveries before any refund: %+v", ds)
	}

	// The merchant's notify URL decrypts req_info by hand and acknowledges.
	type note struct {
		outer, inner map[string]string
		err          error
	}
	notes := make(chan note, 10)
	notify := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n note
		body, _ := io.ReadAll(r.Body)
		n.outer, n.err = decodeXML(body, "xml")
		if n.err == nil {
			var pt []byte
			if pt, n.err = decryptReqInfo(n.outer["req_info"], f.ann.APIKey); n.err == nil {
				n.inner, n.err = decodeXML(pt, "root")
			}
		}
		notes <- n
		if n.err != nil {
			http.Error(w, n.err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		_, _ = io.WriteString(w, "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>")
	}))
	defer notify.Close()

	// A paid order with a coupon, through the admin API.
	var order map[string]any
	f.admin(t, http.MethodPost, "/fake/orders",
		`{"out_trade_no":"ORDER1","transaction_id":"4200000000202401010000000001","total_fee":5000,"coupon_fee":500}`,
		http.StatusCreated, &order)
	if order["out_trade_no"] != "ORDER1" || order["total_fee"] != 5000.0 {
		t.Fatalf("POST /fake/orders answered %v", order)
	}

	// Apply refund needs the client certificate...
	noCert := &http.Client{Timeout: wait, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: f.client.Transport.(*http.Transport).TLSClientConfig.RootCAs,
	}}}
	defer noCert.CloseIdleConnections()
	refund := func() map[string]string {
		return map[string]string{
			"out_trade_no": "ORDER1", "out_refund_no": "R1", "total_fee": "5000", "refund_fee": "2000",
			"refund_desc": "商品缺货", "notify_url": notify.URL + "/notify",
		}
	}
	resp, err := noCert.Post(f.ann.BaseURL+"/secapi/pay/refund", "text/xml", bytes.NewReader(f.signedXML(refund())))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("refund without the client certificate: HTTP %d, want 400", resp.StatusCode)
	}

	// ...with it the refund is accepted, its coupon part split off.
	m := f.api(t, f.client, "/secapi/pay/refund", refund())
	if m["out_refund_no"] != "R1" || m["refund_fee"] != "2000" || m["coupon_refund_fee"] != "200" || m["cash_refund_fee"] != "1800" {
		t.Errorf("refund answer %v", m)
	}
	refundID := m["refund_id"]

	// Query needs no client certificate.
	m = f.api(t, noCert, "/pay/refundquery", map[string]string{"out_refund_no": "R1"})
	if m["refund_count"] != "1" || m["refund_id_0"] != refundID || m["refund_status_0"] != "PROCESSING" {
		t.Errorf("query answer %v", m)
	}

	// Completion through the admin API sends the notification.
	var st map[string]any
	f.admin(t, http.MethodPost, "/fake/refunds/complete", `{"out_refund_no":"R1","status":"SUCCESS"}`, http.StatusOK, &st)
	if st["status"] != "SUCCESS" {
		t.Errorf("complete answered %v", st)
	}
	select {
	case n := <-notes:
		if n.err != nil {
			t.Fatalf("notification: %v", n.err)
		}
		if n.outer["return_code"] != "SUCCESS" || n.outer["appid"] != f.ann.AppID || n.outer["mch_id"] != f.ann.MchID {
			t.Errorf("outer notification %v", n.outer)
		}
		in := n.inner
		if in["out_refund_no"] != "R1" || in["refund_id"] != refundID || in["refund_status"] != "SUCCESS" ||
			in["refund_fee"] != "2000" || in["settlement_refund_fee"] != "1800" || in["out_trade_no"] != "ORDER1" {
			t.Errorf("decrypted notification %v", in)
		}
	case <-time.After(wait):
		t.Fatal("no notification")
	}

	// The acknowledged delivery shows in GET /fake/deliveries (recorded
	// once the fake has read the reply, so poll).
	eventually(t, "a delivery in GET /fake/deliveries", func(ctx context.Context) bool {
		f.adminAt(ctx, t, f.ann.BaseURL, http.MethodGet, "/fake/deliveries", "", http.StatusOK, &ds)
		return len(ds) > 0
	})
	if len(ds) != 1 || ds[0].OutRefundNo != "R1" || ds[0].URL != notify.URL+"/notify" ||
		ds[0].Attempt != 1 || ds[0].StatusCode != 200 || ds[0].ReturnCode != "SUCCESS" {
		t.Errorf("deliveries %+v", ds)
	}

	m = f.api(t, f.client, "/pay/refundquery", map[string]string{"out_trade_no": "ORDER1"})
	if m["refund_status_0"] != "SUCCESS" {
		t.Errorf("query after completion %v", m)
	}

	if err := f.stop(t); err != nil {
		t.Fatalf("run returned %v after cancel, want nil", err)
	}
	if got := f.stdout.String(); got != f.line {
		t.Errorf("stdout has more than the JSON line: %q", got)
	}
	if !strings.Contains(f.stderr.String(), "serving "+f.ann.BaseURL) {
		t.Errorf("stderr does not log the address:\n%s", f.stderr)
	}
	if !strings.Contains(f.stderr.String(), "backup domain: "+f.ann.BackupURL+",") {
		t.Errorf("stderr does not log the backup domain's address:\n%s", f.stderr)
	}
	if !strings.Contains(f.stderr.String(), "web console: "+f.ann.ConsoleURL) {
		t.Errorf("stderr does not log the console's address:\n%s", f.stderr)
	}
}

// TestRunConsole drives the web console at console_url as a browser would:
// without a client certificate, with form posts answered by 303 redirects.
func TestRunConsole(t *testing.T) {
	f := start(t)
	if want := f.ann.BaseURL + "/fake/console"; f.ann.ConsoleURL != want {
		t.Fatalf("console_url %q, want %q", f.ann.ConsoleURL, want)
	}
	tr := f.client.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = nil // a browser sends no client certificate
	browser := &http.Client{Timeout: wait, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t.Cleanup(browser.CloseIdleConnections)
	page := func() string {
		t.Helper()
		resp, err := browser.Get(f.ann.ConsoleURL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("GET console: HTTP %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return string(raw)
	}
	html := page()
	_, rest, ok := strings.Cut(html, `name="token" value="`)
	token, _, _ := strings.Cut(rest, `"`)
	if !ok || token == "" {
		t.Fatalf("no form token in the console:\n%s", html)
	}
	post := func(origin string, form url.Values) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, f.ann.ConsoleURL+"/orders", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	form := url.Values{"token": {token}, "out_trade_no": {"WEB1"}, "total_fee": {"2000"}}
	if resp := post("https://evil.example", form); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin POST: HTTP %d, want 403", resp.StatusCode)
	}
	f.admin(t, http.MethodGet, "/fake/refunds?out_trade_no=WEB1", "", http.StatusBadRequest, nil)

	resp := post(f.ann.BaseURL, form)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/fake/console?") {
		t.Fatalf("POST add order: HTTP %d Location %q, want 303 to the console", resp.StatusCode, resp.Header.Get("Location"))
	}
	f.admin(t, http.MethodGet, "/fake/refunds?out_trade_no=WEB1", "", http.StatusOK, nil)
	if html := page(); !strings.Contains(html, "WEB1") || !strings.Contains(html, "2000 fen (20.00 CNY)") {
		t.Errorf("the console does not show the new order:\n%s", html)
	}
}

func TestRunOverrides(t *testing.T) {
	const key = "0123456789abcdefghijABCDEFGHIJ_-"
	f := start(t, "-appid", "wxOVERRIDE", "-mchid", "1234567", "-apikey", key, "-auto-complete", "1ms", "-notify-schedule", "none")
	if f.ann.AppID != "wxOVERRIDE" || f.ann.MchID != "1234567" || f.ann.APIKey != key {
		t.Fatalf("announced %+v", f.ann)
	}
	f.admin(t, http.MethodPost, "/fake/orders", `{"out_trade_no":"O2","total_fee":100}`, http.StatusCreated, nil)
	f.api(t, f.client, "/secapi/pay/refund", map[string]string{
		"out_trade_no": "O2", "out_refund_no": "R2", "total_fee": "100", "refund_fee": "100"})
	eventually(t, "-auto-complete: the refund SUCCESS", func(ctx context.Context) bool {
		var rs []map[string]any
		f.adminAt(ctx, t, f.ann.BaseURL, http.MethodGet, "/fake/refunds?out_trade_no=O2", "", http.StatusOK, &rs)
		return len(rs) == 1 && rs[0]["status"] == "SUCCESS"
	})
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-nope"},
		{"-addr", "localhost"},
		{"-addr", "127.0.0.1:"},
		{"-backup-addr", "localhost"},
		{"-backup-addr", "127.0.0.1:"},
		{"-dir", ""},
		{"-auto-complete", "soon"},
		{"-auto-complete", "-1s"},
		{"-notify-schedule", "1s,x"},
		{"-notify-schedule", "1s,-2s"},
		{"-apikey", "short"},
		{"-apikey", "0123456789abcdef 0123456789abcde"},
		{"-appid", "wx 1"},
		{"-mchid", ""},
		{"-notify-url", "ftp://127.0.0.1/notify"},
		{"-notify-url", "http://127.0.0.1/notify?x=1"},
		{"-notify-url", "/notify"},
		{"-partner", "1900000110,,1900000111"},
		{"-partner", "1900 0110"},
		{"-bill-layout", "old"},
		{"positional"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), args, &stdout, &stderr)
			if !errors.As(err, new(usageError)) {
				t.Fatalf("run(%q) = %v, want a usage error", args, err)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q", stdout.String())
			}
			if !strings.Contains(stderr.String(), "usage: fakeserver") {
				t.Errorf("stderr has no usage:\n%s", stderr.String())
			}
		})
	}

	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, &stdout, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
}

func TestRunBadDirOrAddr(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busy.Close() }()

	for name, args := range map[string][]string{
		"dir under a file": {"-addr", "127.0.0.1:0", "-dir", filepath.Join(file, "certs")},
		"dir is a file":    {"-addr", "127.0.0.1:0", "-dir", file},
		"address in use":   {"-addr", busy.Addr().String(), "-dir", t.TempDir()},
		"backup in use":    {"-addr", "127.0.0.1:0", "-backup-addr", busy.Addr().String(), "-dir", t.TempDir()},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			err := run(ctx, args, &stdout, &stderr)
			if err == nil || errors.As(err, new(usageError)) {
				t.Fatalf("run = %v, want a non-usage error", err)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q", stdout.String())
			}
		})
	}
}

func TestScheduleFlag(t *testing.T) {
	s := scheduleFlag(nil)
	if got := s.String(); got != "none" {
		t.Errorf("empty schedule prints %q", got)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(&s, "s", "")
	if err := fs.Parse([]string{"-s", " 1s, 1m30s,3h "}); err != nil {
		t.Fatal(err)
	}
	if want := []time.Duration{time.Second, 90 * time.Second, 3 * time.Hour}; !slices.Equal(s, want) {
		t.Errorf("parsed %v, want %v", s, want)
	}
	if got := s.String(); got != "1s,1m30s,3h" {
		t.Errorf("prints %q", got)
	}
	var usage bytes.Buffer
	if err := run(context.Background(), []string{"-h"}, io.Discard, &usage); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("run -h: %v, want flag.ErrHelp", err)
	}
	if want := "(default 15s,15s,30s,3m,10m,20m,30m,30m,30m,1h,3h,3h,3h,6h,6h)"; !strings.Contains(usage.String(), want) {
		t.Errorf("usage does not show %s:\n%s", want, usage.String())
	}
}

// TestMainProcess runs the program as a process: the JSON line on stdout,
// exit 0 on SIGTERM, exit 2 for a bad flag.
func TestMainProcess(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("sends SIGTERM")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	command := func(args ...string) *exec.Cmd {
		cmd := exec.Command(self, args...)
		cmd.Env = append(os.Environ(), "FAKESERVER_TEST_MAIN=1")
		cmd.WaitDelay = wait
		return cmd
	}

	var stderr bytes.Buffer
	cmd := command("-bogus")
	cmd.Stderr = &stderr
	err = cmd.Run()
	if ee := (*exec.ExitError)(nil); !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("-bogus: %v, want exit status 2", err)
	}
	if !strings.Contains(stderr.String(), "usage: fakeserver") {
		t.Errorf("-bogus: no usage on stderr:\n%s", stderr.String())
	}

	cmd = command("-addr", "127.0.0.1:0", "-backup-addr", "127.0.0.1:0", "-dir", t.TempDir())
	stderr.Reset()
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(wait, func() { _ = cmd.Process.Kill() }) // the test fails on the missing output
	defer timer.Stop()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no JSON line: %v\nstderr:\n%s", err, stderr.String())
	}
	var ann announcement
	if err := json.Unmarshal([]byte(line), &ann); err != nil || ann.BaseURL == "" ||
		!strings.HasPrefix(ann.BackupURL, "https://127.0.0.1:") || ann.BackupURL == ann.BaseURL {
		t.Errorf("JSON line %q: %v", line, err)
	}
	rest := make(chan []byte)
	go func() { b, _ := io.ReadAll(out); rest <- b }()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM: %v", err) // the timer kills it, and ends the read
	}
	if b := <-rest; len(b) != 0 {
		t.Errorf("stdout after the JSON line: %q", b)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v, want exit status 0\nstderr:\n%s", err, stderr.String())
	}
}

// readmeSteps returns the numbered steps of README.md, such as "1. Start
// the simulator".
func readmeSteps(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, m := range regexp.MustCompile(`(?m)^## ([0-9]+\. .+)$`).FindAllStringSubmatch(string(readme), -1) {
		steps = append(steps, m[1])
	}
	if len(steps) < 12 {
		t.Fatalf("README.md has %d numbered steps: %q", len(steps), steps)
	}
	return steps
}

// matchSteps reports how the demo's step titles (in their order, "1. start
// the simulator: ...") differ from README.md's: each must begin with the
// README step of its place, lowercased.
func matchSteps(readme, demo []string) error {
	var bad []string
	for i := range max(len(readme), len(demo)) {
		var r, d string
		if i < len(readme) {
			r = readme[i]
		}
		if i < len(demo) {
			d = demo[i]
		}
		if r == "" || d == "" || !strings.HasPrefix(d, strings.ToLower(r)) {
			bad = append(bad, fmt.Sprintf("README %q, demo.sh %q", r, d))
		}
	}
	if bad != nil {
		return errors.New(strings.Join(bad, "\n"))
	}
	return nil
}

// TestDemoStepsMatchREADME: demo.sh has README.md's steps, in order, and no
// other (step 1 has one title for each way of being given the simulator).
func TestDemoStepsMatchREADME(t *testing.T) {
	src, err := os.ReadFile("demo.sh")
	if err != nil {
		t.Fatal(err)
	}
	var demo []string
	for _, m := range regexp.MustCompile(`(?m)^\s*step "([^"]*)"`).FindAllStringSubmatch(string(src), -1) {
		if n := len(demo); n > 0 && strings.HasPrefix(m[1], "1. ") && strings.HasPrefix(demo[n-1], "1. ") {
			if !strings.HasPrefix(m[1], "1. start the simulator: ") {
				t.Errorf("step 1 variant %q", m[1])
			}
			continue
		}
		demo = append(demo, m[1])
	}
	if err := matchSteps(readmeSteps(t), demo); err != nil {
		t.Errorf("demo.sh's steps do not match README.md's:\n%v", err)
	}
}

func TestDemoScript(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "openssl", "python3"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("demo.sh needs %s, which is not on PATH", tool)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	steps := readmeSteps(t)
	f := start(t, "-notify-schedule", "100ms,100ms")
	jsonFile := filepath.Join(t.TempDir(), "fake.json")
	if err := os.WriteFile(jsonFile, []byte(f.line), 0o644); err != nil {
		t.Fatal(err)
	}
	// demo runs demo.sh; the simulators it starts are this test binary
	// running main (see TestMain).
	demo := func(t *testing.T, env []string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, "bash", append([]string{"demo.sh"}, args...)...)
		cmd.Env = append(os.Environ(), "FAKESERVER="+self, "FAKESERVER_TEST_MAIN=1")
		cmd.Env = append(cmd.Env, env...)
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// ok checks a successful run: demo.sh: OK at the end, README's steps in
	// order, and the simulators it started stopped.
	ok := func(t *testing.T, out string, err error) {
		t.Helper()
		if err != nil || !strings.HasSuffix(out, "\ndemo.sh: OK\n") {
			t.Fatalf("demo.sh: %v\n%s\nfakeserver stderr:\n%s", err, out, f.stderr)
		}
		var ran []string
		for _, m := range regexp.MustCompile(`(?m)^== (.*)$`).FindAllStringSubmatch(out, -1) {
			ran = append(ran, m[1])
		}
		if err := matchSteps(steps, ran); err != nil {
			t.Errorf("the steps demo.sh ran do not match README.md's:\n%v", err)
		}
		m := regexp.MustCompile(`partner simulator at (https://\S+) `).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no partner simulator in the output:\n%s", out)
		}
		refused(t, m[1])
	}

	t.Run("start", func(t *testing.T) {
		out, err := demo(t, nil)
		ok(t, out, err)
		if !strings.Contains(out, "== 1. start the simulator: fakeserver -addr 127.0.0.1:0 ") {
			t.Errorf("demo.sh did not start its own simulator:\n%s", out)
		}
		m := regexp.MustCompile(`primary domain (https://\S+), backup domain (https://\S+) `).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no simulator addresses in the output:\n%s", out)
		}
		refused(t, m[1])
		refused(t, m[2])
	})

	t.Run("file", func(t *testing.T) {
		out, err := demo(t, nil, jsonFile)
		ok(t, out, err)
		var ds []delivery
		f.admin(t, http.MethodGet, "/fake/deliveries", "", http.StatusOK, &ds)
		if len(ds) != 1 || ds[0].StatusCode != 200 || ds[0].ReturnCode != "SUCCESS" {
			t.Errorf("deliveries after demo.sh: %+v", ds)
		}
		// Step 11 met a 502 on the primary, reached the backup, and left
		// both domains up.
		var rs []struct{ Domain, Path, Fault string }
		f.admin(t, http.MethodGet, "/fake/requests", "", http.StatusOK, &rs)
		var faulted, backup int
		for _, r := range rs {
			if r.Fault == "502" && r.Domain == "api" && r.Path == "/pay/refundquery" {
				faulted++
			}
			if r.Domain == "api2" {
				backup++
			}
		}
		if faulted != 1 || backup != 2 {
			t.Errorf("requests after demo.sh: %d 502s and %d to api2, want 1 and 2: %+v", faulted, backup, rs)
		}
		var doms []struct {
			Domain string
			Down   bool
		}
		f.admin(t, http.MethodGet, "/fake/domains", "", http.StatusOK, &doms)
		if len(doms) != 2 || doms[0].Down || doms[1].Down {
			t.Errorf("domains after demo.sh: %+v", doms)
		}
	})

	env := []string{
		"FAKE_BASE_URL=" + f.ann.BaseURL, "FAKE_BACKUP_URL=" + f.ann.BackupURL, "FAKE_APPID=" + f.ann.AppID,
		"FAKE_MCH_ID=" + f.ann.MchID, "FAKE_API_KEY=" + f.ann.APIKey, "FAKE_CA=" + f.ann.CA,
		"FAKE_CERT=" + f.ann.Cert, "FAKE_KEY=" + f.ann.Key,
	}
	t.Run("env", func(t *testing.T) {
		out, err := demo(t, env)
		ok(t, out, err)
	})

	// Stopped half-way, demo.sh still stops the simulator it started.
	t.Run("interrupted", func(t *testing.T) {
		if runtime.GOOS == "windows" {
			t.Skip("sends SIGTERM")
		}
		cmd := exec.Command("bash", "demo.sh")
		cmd.Env = append(os.Environ(), "FAKESERVER="+self, "FAKESERVER_TEST_MAIN=1")
		cmd.WaitDelay = 5 * time.Second
		var out, stderr strings.Builder // stderr: written by exec until Wait returns
		pr, pw := io.Pipe()
		cmd.Stdout, cmd.Stderr = pw, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		timer := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() }) // the test fails on the missing output
		defer timer.Stop()
		go func() { pw.CloseWithError(cmd.Wait()) }() // the scanner below ends after Wait
		primary, stopped := "", false
		addrs := regexp.MustCompile(`primary domain (https://\S+), backup domain`)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			out.WriteString(line + "\n")
			if m := addrs.FindStringSubmatch(line); m != nil {
				primary = m[1]
			}
			if strings.HasPrefix(line, "== 4. ") && !stopped {
				stopped = true
				if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
					t.Errorf("SIGTERM: %v", err) // the timer kills it, and ends the scan
				}
			}
		}
		err := sc.Err()
		out.WriteString(stderr.String())
		if ee := (*exec.ExitError)(nil); !stopped || !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Fatalf("demo.sh after SIGTERM at step 4: %v, want exit status 130\n%s", err, out.String())
		}
		if primary == "" {
			t.Fatalf("no simulator address in the output:\n%s", out.String())
		}
		refused(t, primary)
	})

	t.Run("wrong key fails", func(t *testing.T) {
		out, err := demo(t, append(env, "FAKE_API_KEY=wrongwrongwrongwrongwrongwrong12"))
		if err == nil || !strings.Contains(out, "demo.sh: FAIL: /secapi/pay/refund: return_code FAIL") {
			t.Fatalf("demo.sh with a wrong key: %v\n%s", err, out)
		}
	})
}

// refused checks that nothing listens at the base URL u any more.
func refused(t *testing.T, u string) {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", pu.Host, wait); err == nil {
		_ = c.Close()
		t.Errorf("%s still accepts connections", u)
	}
}

// raw POSTs a signed request to path and returns the answer's body.
func (f *fake) raw(t *testing.T, c *http.Client, path string, fields map[string]string) []byte {
	t.Helper()
	resp, err := c.Post(f.ann.BaseURL+path, "text/xml", bytes.NewReader(f.signedXML(fields)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: HTTP %d, %v: %s", path, resp.StatusCode, err, body)
	}
	return body
}

// notifyListener is a notify URL that decrypts what it receives and
// acknowledges it.
type notifyListener struct {
	*httptest.Server
	notes chan [2]map[string]string // outer, inner
}

func newNotifyListener(t *testing.T, apiKey string) *notifyListener {
	l := &notifyListener{notes: make(chan [2]map[string]string, 10)}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		outer, err := decodeXML(body, "xml")
		var inner map[string]string
		if err == nil {
			var pt []byte
			if pt, err = decryptReqInfo(outer["req_info"], apiKey); err == nil {
				inner, err = decodeXML(pt, "root")
			}
		}
		if err != nil {
			t.Errorf("notification %q: %v", body, err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		l.notes <- [2]map[string]string{outer, inner}
		_, _ = io.WriteString(w, "<xml><return_code><![CDATA[SUCCESS]]></return_code><return_msg><![CDATA[OK]]></return_msg></xml>")
	}))
	t.Cleanup(l.Close)
	return l
}

func (l *notifyListener) next(t *testing.T) (outer, inner map[string]string) {
	t.Helper()
	select {
	case n := <-l.notes:
		return n[0], n[1]
	case <-time.After(wait):
		t.Fatal("no notification")
		return nil, nil
	}
}

// TestRunNotifyURL: -notify-url is where notifications of refunds requested
// without notify_url go.
func TestRunNotifyURL(t *testing.T) {
	l := newNotifyListener(t, wxrefundDefaultKey)
	f := start(t, "-notify-url", l.URL+"/platform", "-notify-schedule", "none")
	f.admin(t, http.MethodPost, "/fake/orders", `{"out_trade_no":"O1","total_fee":100}`, http.StatusCreated, nil)
	f.api(t, f.client, "/secapi/pay/refund", map[string]string{
		"out_trade_no": "O1", "out_refund_no": "R1", "total_fee": "100", "refund_fee": "60"})
	f.admin(t, http.MethodPost, "/fake/refunds/complete", `{"out_refund_no":"R1","status":"SUCCESS"}`, http.StatusOK, nil)
	_, inner := l.next(t)
	if inner["out_refund_no"] != "R1" || inner["refund_status"] != "SUCCESS" {
		t.Errorf("notification %v", inner)
	}
	var rs []map[string]any
	f.admin(t, http.MethodGet, "/fake/refunds?out_trade_no=O1", "", http.StatusOK, &rs)
	if len(rs) != 1 || rs[0]["notify_url"] != l.URL+"/platform" {
		t.Errorf("refunds %v", rs)
	}
	if !strings.Contains(f.stderr.String(), "default notify URL "+l.URL+"/platform") {
		t.Errorf("stderr does not log the notify URL:\n%s", f.stderr)
	}
}

// wxrefundDefaultKey is the API key the program uses without -apikey.
const wxrefundDefaultKey = "wxrefundtestFakeAPIKey0123456789"

// TestRunPartner runs the program as a service provider: a partner refund,
// its query, its notification and the refund bill, with the fields a client
// in any language would send.
func TestRunPartner(t *testing.T) {
	const subA, subB = "1900000110", "1900000111"
	l := newNotifyListener(t, wxrefundDefaultKey)
	f := start(t, "-partner", subA+", "+subB, "-notify-schedule", "none")
	if !slices.Equal(f.ann.SubMchIDs, []string{subA, subB}) {
		t.Fatalf("announced sub_mch_ids %q", f.ann.SubMchIDs)
	}
	if !strings.HasSuffix(f.line, `"sub_mch_ids":["1900000110","1900000111"]}`+"\n") {
		t.Errorf("JSON line %q", f.line)
	}

	var order map[string]any
	f.admin(t, http.MethodPost, "/fake/orders", `{"out_trade_no":"PA1","total_fee":5000,"sub_mch_id":"1900000110"}`,
		http.StatusCreated, &order)
	if order["sub_mch_id"] != subA {
		t.Errorf("order %v", order)
	}
	f.admin(t, http.MethodPost, "/fake/orders", `{"out_trade_no":"PA2","total_fee":100}`, http.StatusBadRequest, nil)

	refund := map[string]string{"out_trade_no": "PA1", "out_refund_no": "RA1", "total_fee": "5000", "refund_fee": "2000",
		"notify_url": l.URL}
	m, err := decodeXML(f.raw(t, f.client, "/secapi/pay/refund", maps.Clone(refund)), "xml")
	if err != nil || m["return_code"] != "FAIL" || m["return_msg"] != "受理机构必须传入sub_mch_id" || m["sign"] != "" {
		t.Errorf("refund without sub_mch_id: %v %v", m, err)
	}
	refund["sub_mch_id"] = subA
	m = f.api(t, f.client, "/secapi/pay/refund", refund) // checks the sign over the echoed sub_mch_id
	if m["sub_mch_id"] != subA || m["refund_fee"] != "2000" {
		t.Errorf("partner refund answer %v", m)
	}
	m = f.api(t, f.client, "/pay/refundquery", map[string]string{"out_refund_no": "RA1", "sub_mch_id": subA})
	if m["sub_mch_id"] != subA || m["refund_status_0"] != "PROCESSING" {
		t.Errorf("partner query answer %v", m)
	}
	m, _ = decodeXML(f.raw(t, f.client, "/pay/refundquery", map[string]string{"out_refund_no": "RA1", "sub_mch_id": subB}), "xml")
	if m["result_code"] != "FAIL" || m["err_code"] != "REFUNDNOTEXIST" {
		t.Errorf("another sub-merchant's query: %v", m)
	}

	f.admin(t, http.MethodPost, "/fake/refunds/complete", `{"out_refund_no":"RA1","status":"SUCCESS"}`, http.StatusOK, nil)
	outer, inner := l.next(t)
	if outer["sub_mch_id"] != subA || outer["mch_id"] != f.ann.MchID || outer["appid"] != f.ann.AppID || inner["out_refund_no"] != "RA1" {
		t.Errorf("partner notification %v %v", outer, inner)
	}

	// The refund bill of today (China time), of all sub-merchants, of subA,
	// and gzipped.
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format("20060102")
	text := string(f.raw(t, f.client, "/pay/downloadbill", map[string]string{"bill_date": today, "bill_type": "REFUND"}))
	lines := strings.Split(text, "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "交易时间,公众账号ID,商户号,特约商户号,") ||
		!strings.Contains(lines[1], ",`"+subA+",") || !strings.Contains(lines[1], ",`RA1,`20.00,") ||
		lines[3] != "`1,`0.00,`20.00,`0.00,`-0.12000,`0.00,`20.00" || lines[4] != "" {
		t.Errorf("bill:\n%s", text)
	}
	if got := string(f.raw(t, f.client, "/pay/downloadbill", map[string]string{"bill_date": today, "bill_type": "REFUND", "sub_mch_id": subA})); got != text {
		t.Errorf("subA's bill:\n%s", got)
	}
	noBill := "<xml><return_code>FAIL</return_code><return_msg>No Bill Exist</return_msg><error_code>20002</error_code></xml>"
	if got := string(f.raw(t, f.client, "/pay/downloadbill", map[string]string{"bill_date": today, "bill_type": "REFUND", "sub_mch_id": subB})); got != noBill {
		t.Errorf("subB's bill: %s", got)
	}
	zr, err := gzip.NewReader(bytes.NewReader(f.raw(t, f.client, "/pay/downloadbill",
		map[string]string{"bill_date": today, "bill_type": "REFUND", "tar_type": "GZIP"})))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(zr); err != nil || string(got) != text {
		t.Errorf("gzipped bill: %v\n%s", err, got)
	}
}

func TestRunLegacyBill(t *testing.T) {
	f := start(t, "-bill-layout", "legacy")
	f.admin(t, http.MethodPost, "/fake/orders", `{"out_trade_no":"O1","total_fee":100}`, http.StatusCreated, nil)
	f.api(t, f.client, "/secapi/pay/refund", map[string]string{
		"out_trade_no": "O1", "out_refund_no": "R1", "total_fee": "100", "refund_fee": "100"})
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format("20060102")
	text := string(f.raw(t, f.client, "/pay/downloadbill", map[string]string{"bill_date": today, "bill_type": "REFUND"}))
	lines := strings.Split(text, "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "交易时间,公众账号ID,商户号,子商户号,") || strings.Count(lines[1], ",") != 25 ||
		lines[2] != "总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额" || lines[3] != "`1,`0.00,`1.00,`0.00,`-0.01000" {
		t.Errorf("legacy bill:\n%s", text)
	}
}

// TestRunBackupAddr: -backup-addr is where the backup domain listens, and
// backup_url says so; both domains serve one ledger and the admin API.
func TestRunBackupAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil { // free again, for -backup-addr
		t.Fatal(err)
	}
	f := start(t, "-backup-addr", addr)
	if f.ann.BackupURL != "https://"+addr {
		t.Fatalf("backup_url %q, want https://%s", f.ann.BackupURL, addr)
	}

	// An order added on the backup, refunded on the backup, queried on the
	// primary.
	f.adminAt(context.Background(), t, f.ann.BackupURL, http.MethodPost, "/fake/orders",
		`{"out_trade_no":"O1","total_fee":100}`, http.StatusCreated, nil)
	m := f.apiAt(t, f.client, f.ann.BackupURL, "/secapi/pay/refund", map[string]string{
		"out_trade_no": "O1", "out_refund_no": "R1", "total_fee": "100", "refund_fee": "40"})
	m2 := f.api(t, f.client, "/pay/refundquery", map[string]string{"out_refund_no": "R1"})
	if m2["refund_id_0"] != m["refund_id"] || m2["refund_fee_0"] != "40" {
		t.Errorf("the primary's query %v of the backup's refund %v", m2, m)
	}

	if err := f.stop(t); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.stderr.String(), "backup domain: https://"+addr+",") {
		t.Errorf("stderr does not log the backup domain:\n%s", f.stderr)
	}
}

// TestRunFaultsAndDomains drives the admin API's HTTP faults, domains,
// request log and clearing through the running program.
func TestRunFaultsAndDomains(t *testing.T) {
	f := start(t)
	primary, backup := f.ann.BaseURL, f.ann.BackupURL
	bg := context.Background()

	type domainState struct {
		Domain string `json:"domain"`
		URL    string `json:"url"`
		Down   bool   `json:"down"`
	}
	domains := func(base string) []domainState {
		t.Helper()
		var ds []domainState
		f.adminAt(bg, t, base, http.MethodGet, "/fake/domains", "", http.StatusOK, &ds)
		return ds
	}
	if got, want := domains(primary), []domainState{{"api", primary, false}, {"api2", backup, false}}; !slices.Equal(got, want) {
		t.Fatalf("GET /fake/domains: %+v, want %+v", got, want)
	}

	f.admin(t, http.MethodPost, "/fake/orders", `{"out_trade_no":"O1","total_fee":100}`, http.StatusCreated, nil)
	f.api(t, f.client, "/secapi/pay/refund", map[string]string{
		"out_trade_no": "O1", "out_refund_no": "R1", "total_fee": "100", "refund_fee": "100"})
	query := func(base string) (int, []byte) {
		t.Helper()
		status, body, err := f.post(f.client, base+"/pay/refundquery", map[string]string{"out_refund_no": "R1"})
		if err != nil {
			t.Fatalf("query at %s: %v", base, err)
		}
		return status, body
	}

	// A 502 queued for the primary's queries: nginx's page there, the
	// answer on the backup, then the primary answers again.
	var echo map[string]any
	f.admin(t, http.MethodPost, "/fake/faults", `{"domain":"api","path":"/pay/refundquery","fault":"502","times":1}`, http.StatusOK, &echo)
	if echo["fault"] != "502" || echo["times"] != 1.0 {
		t.Errorf("POST /fake/faults answered %v", echo)
	}
	if status, body := query(primary); status != http.StatusBadGateway || !strings.Contains(string(body), "<title>502 Bad Gateway</title>") {
		t.Errorf("query at the primary after a 502 fault: HTTP %d: %s", status, body)
	}
	if m := f.apiAt(t, f.client, backup, "/pay/refundquery", map[string]string{"out_refund_no": "R1"}); m["out_refund_no_0"] != "R1" {
		t.Errorf("query at the backup: %v", m)
	}
	f.api(t, f.client, "/pay/refundquery", map[string]string{"out_refund_no": "R1"})

	// GET /fake/requests: every API request with its domain and fault.
	type request struct {
		Domain string    `json:"domain"`
		Path   string    `json:"path"`
		Time   time.Time `json:"time"`
		Fault  string    `json:"fault"`
	}
	var rs []request
	f.admin(t, http.MethodGet, "/fake/requests", "", http.StatusOK, &rs)
	want := []request{
		{Domain: "api", Path: "/secapi/pay/refund"},
		{Domain: "api", Path: "/pay/refundquery", Fault: "502"},
		{Domain: "api2", Path: "/pay/refundquery"},
		{Domain: "api", Path: "/pay/refundquery"},
	}
	if len(rs) != len(want) {
		t.Fatalf("GET /fake/requests: %+v, want %+v", rs, want)
	}
	for i := range rs {
		if rs[i].Time.IsZero() {
			t.Errorf("request %d has no time", i)
		}
		rs[i].Time = time.Time{}
	}
	if !slices.Equal(rs, want) {
		t.Errorf("GET /fake/requests: %+v, want %+v", rs, want)
	}

	// Bad input is 400 with an error; times 0 no longer clears anything.
	for _, c := range []struct{ path, body string }{
		{"/fake/faults", `{"domain":"api3","path":"/pay/refundquery","fault":"502","times":1}`},
		{"/fake/faults", `{"domain":"api","path":"/pay/orderquery","fault":"502","times":1}`},
		{"/fake/faults", `{"domain":"api","path":"/pay/refundquery","fault":"501","times":1}`},
		{"/fake/faults", `{"domain":"api","path":"/pay/refundquery","fault":"delay","times":1}`},
		{"/fake/faults", `{"domain":"api","path":"/pay/refundquery","fault":"502","times":0}`},
		{"/fake/faults", `{"domain":"api","path":"/pay/refundquery","fault":"502","times":1,"when":"now"}`},
		{"/fake/fail", `{"path":"/pay/refundquery","err_code":"SYSTEMERROR","times":0}`},
		{"/fake/fail", `{"path":"/pay/refundquery","err_code":"NOSUCHCODE","times":1}`},
		{"/fake/lose", `{"err_code":"SYSTEMERROR","times":0}`},
		{"/fake/bills/fail", `{"return_msg":"Bill Creating","times":0}`},
		{"/fake/domains", `{"domain":"api3","down":true}`},
		{"/fake/domains", `{"domain":"api"}`},
	} {
		var e map[string]string
		f.admin(t, http.MethodPost, c.path, c.body, http.StatusBadRequest, &e)
		if e["error"] == "" {
			t.Errorf("POST %s %s: 400 without an error: %v", c.path, c.body, e)
		}
	}

	// POST /fake/faults/clear empties every queue: a 503 for either
	// domain, a delay, a FAIL answer and a bill failure.
	for _, c := range []struct{ path, body string }{
		{"/fake/faults", `{"domain":"","path":"/pay/refundquery","fault":"503","times":5}`},
		{"/fake/faults", `{"domain":"api","path":"/secapi/pay/refund","fault":"delay","delay_ms":60000,"times":1}`},
		{"/fake/fail", `{"path":"/pay/refundquery","err_code":"SYSTEMERROR","times":1}`},
		{"/fake/bills/fail", `{"return_msg":"Bill Creating","times":1}`},
	} {
		f.admin(t, http.MethodPost, c.path, c.body, http.StatusOK, nil)
	}
	if status, _ := query(backup); status != http.StatusServiceUnavailable {
		t.Errorf("query at the backup with a 503 queued for either domain: HTTP %d", status)
	}
	f.admin(t, http.MethodPost, "/fake/faults/clear", "", http.StatusOK, nil)
	f.api(t, f.client, "/pay/refundquery", map[string]string{"out_refund_no": "R1"})
	f.api(t, f.client, "/secapi/pay/refund", map[string]string{ // the same refund again, answered at once
		"out_trade_no": "O1", "out_refund_no": "R1", "total_fee": "100", "refund_fee": "100"})
	f.apiAt(t, f.client, backup, "/pay/refundquery", map[string]string{"out_refund_no": "R1"})
	today := time.Now().In(time.FixedZone("CST", 8*3600)).Format("20060102")
	if text := f.raw(t, f.client, "/pay/downloadbill", map[string]string{"bill_date": today, "bill_type": "REFUND"}); !bytes.Contains(text, []byte(",`R1,")) {
		t.Errorf("the bill after clearing: %s", text)
	}

	// The primary down: connections reset, the backup serves the same
	// refund and brings the primary back up. The program logs both.
	var states []domainState
	f.admin(t, http.MethodPost, "/fake/domains", `{"domain":"api","down":true}`, http.StatusOK, &states)
	if len(states) != 2 || !states[0].Down || states[1].Down {
		t.Errorf("POST /fake/domains down: %+v", states)
	}
	eventually(t, "the primary resetting connections", func(context.Context) bool {
		// The port stays bound: a dial succeeds, then the connection ends.
		c, err := net.DialTimeout("tcp", strings.TrimPrefix(primary, "https://"), time.Second)
		if err != nil {
			return false
		}
		defer func() { _ = c.Close() }()
		// Up, the server waits for a TLS hello; down, it closes at once.
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		_, err = c.Read(make([]byte, 1))
		return err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
	})
	if got := domains(backup); len(got) != 2 || !got[0].Down || got[1].Down {
		t.Errorf("GET /fake/domains with the primary down: %+v", got)
	}
	f.apiAt(t, f.client, backup, "/pay/refundquery", map[string]string{"out_refund_no": "R1"})
	eventually(t, "the log of the primary going down", func(context.Context) bool {
		return strings.Contains(f.stderr.String(), "domain api ("+primary+") is down")
	})
	f.adminAt(bg, t, backup, http.MethodPost, "/fake/domains", `{"domain":"api","down":false}`, http.StatusOK, &states)
	if len(states) != 2 || states[0].Down || states[1].Down {
		t.Errorf("POST /fake/domains up: %+v", states)
	}
	f.client.CloseIdleConnections() // those to the primary were closed with it
	f.api(t, f.client, "/pay/refundquery", map[string]string{"out_refund_no": "R1"})
	eventually(t, "the log of the primary coming back", func(context.Context) bool {
		return strings.Contains(f.stderr.String(), "domain api ("+primary+") is up again")
	})
}
