package wxrefund

// Test harness for the Client tests (client_test.go, refund_test.go,
// refundquery_test.go): an in-memory PKI, a real mutual-TLS httptest server,
// and helpers that sign and check API v2 messages the way WeChat Pay does.
// Package-level names other than setup carry the prefix mt.

import (
	"bytes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"io"
	"log"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund/internal/testpki"
)

// The illustrative merchant of the committed vectors (testdata/vectors):
// every sample there is signed with mtAPIKey for mtAppID/mtMchID.
const (
	mtAppID  = "wx8888888888888888"
	mtMchID  = "1900000109"
	mtAPIKey = "Illustr8tiveApiV2Key0123456789Ab"
)

// -update rewrites the golden request files under testdata/golden (go test
// -run Golden -update). The flag is registered only if no other test file of
// the binary did so already.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files in testdata/golden")
	}
}

func mtUpdating() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// mtGolden compares got with testdata/golden/name, or writes it under -update.
func mtGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if mtUpdating() {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -run Golden -update to create %s", path)
	require.Equal(t, string(want), string(got), "request differs from %s", path)
}

// mtReadVector returns a committed protocol sample (a request, answer or
// notification in WeChat Pay's documented format) from testdata/vectors.
func mtReadVector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "vectors", name))
	require.NoError(t, err)
	return b
}

// ---------------------------------------------------------------------------
// Certificates

// mtPKI is a CA, a server certificate for 127.0.0.1 and a merchant client
// certificate whose CN is mtMchID, all generated in memory (internal/testpki)
// once per test binary.
type mtPKI struct {
	ca            *testpki.CA     // issues the special certificates of certs_test.go too
	caPool        *x509.CertPool  // trusts the in-memory CA only
	serverCert    tls.Certificate // 127.0.0.1, issued by the CA
	clientCert    tls.Certificate // merchant certificate issued by the CA
	clientLeaf    *x509.Certificate
	clientCertPEM []byte
	clientKeyPEM  []byte
	clientKey     *ecdsa.PrivateKey
}

var mtPKIOnce = sync.OnceValue(mtGeneratePKI)

// mtCerts returns the shared in-memory PKI.
func mtCerts() *mtPKI { return mtPKIOnce() }

func mtGeneratePKI() *mtPKI {
	must := func(err error) {
		if err != nil {
			panic("mtGeneratePKI: " + err.Error())
		}
	}
	ca, err := testpki.NewCA("wxrefund tests")
	must(err)
	server, err := ca.Server(nil)
	must(err)
	client, err := ca.Merchant(mtMchID)
	must(err)
	return &mtPKI{
		ca:            ca,
		caPool:        ca.Pool(),
		serverCert:    server.TLS(),
		clientCert:    client.TLS(),
		clientLeaf:    client.Leaf,
		clientCertPEM: client.CertPEM,
		clientKeyPEM:  client.KeyPEM,
		clientKey:     client.Key,
	}
}

// mtTestdataPKI is the committed TEST-ONLY merchant certificate of
// testdata/certs (see its README.md): a CA, a PEM pair and three .p12 files.
type mtTestdataPKI struct {
	caPool          *x509.CertPool
	ca              *x509.Certificate
	leaf            *x509.Certificate
	certPEM, keyPEM []byte
	p12             []byte // legacy, password mtMchID
	p12Chain        []byte // legacy with the CA, password mtP12ChainPassword
	p12OpenSSL3     []byte // OpenSSL 3 defaults, password mtMchID
}

const mtP12ChainPassword = "chain-p12-test-password"

func mtTestdataFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "certs", name))
	require.NoError(t, err)
	return b
}

// mtTestdataKeyPEM reads a key stored under the "TESTING KEY" label and
// restores the real label, as net/http/internal/testcert does.
func mtTestdataKeyPEM(t testing.TB, name string) []byte {
	t.Helper()
	return bytes.ReplaceAll(mtTestdataFile(t, name), []byte("TESTING KEY"), []byte("PRIVATE KEY"))
}

func mtTestdata(t testing.TB) *mtTestdataPKI {
	t.Helper()
	parse := func(name string) *x509.Certificate {
		blk, _ := pem.Decode(mtTestdataFile(t, name))
		require.NotNil(t, blk, name)
		c, err := x509.ParseCertificate(blk.Bytes)
		require.NoError(t, err, name)
		return c
	}
	td := &mtTestdataPKI{
		ca:          parse("ca.pem"),
		leaf:        parse("apiclient_cert.pem"),
		certPEM:     mtTestdataFile(t, "apiclient_cert.pem"),
		keyPEM:      mtTestdataKeyPEM(t, "apiclient_key.pem"),
		p12:         mtTestdataFile(t, "apiclient_cert.p12"),
		p12Chain:    mtTestdataFile(t, "apiclient_chain.p12"),
		p12OpenSSL3: mtTestdataFile(t, "apiclient_openssl3.p12"),
	}
	td.caPool = x509.NewCertPool()
	td.caPool.AddCert(td.ca)
	return td
}

// ---------------------------------------------------------------------------
// Servers and clients

// mtServer is a TLS httptest server that counts connections and handshakes.
type mtServer struct {
	*httptest.Server
	mux        *http.ServeMux
	conns      atomic.Int64 // http.StateNew transitions
	handshakes atomic.Int64 // ClientHellos received
}

// mtNewServer starts a TLS server for 127.0.0.1 with the in-memory server
// certificate, asking for client certificates per auth and verifying them
// against clientCAs. wrap, if not nil, wraps the mux.
func mtNewServer(t testing.TB, auth tls.ClientAuthType, clientCAs *x509.CertPool, wrap func(http.Handler) http.Handler) *mtServer {
	t.Helper()
	s := &mtServer{mux: http.NewServeMux()}
	var h http.Handler = s.mux
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{
		ClientAuth:   auth,
		ClientCAs:    clientCAs,
		Certificates: []tls.Certificate{mtCerts().serverCert},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			s.handshakes.Add(1)
			return nil, nil
		},
	}
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	// Handshake failures are expected in some tests; keep them off stderr.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	s.Server = srv
	return s
}

// mtNewClient returns a Client for the vectors' merchant that talks to s and
// trusts the in-memory CA; opts come after those two.
func mtNewClient(t testing.TB, s *mtServer, opts ...Option) *Client {
	t.Helper()
	base := []Option{WithBaseURL(s.URL), WithRootCAs(mtCerts().caPool)}
	c, err := NewClient(mtAppID, mtMchID, mtAPIKey, append(base, opts...)...)
	require.NoError(t, err)
	t.Cleanup(c.hc.CloseIdleConnections)
	return c
}

// mtSetup starts a server that requires and verifies a client certificate
// issued by the in-memory CA, and a Client that presents one (WithPEM).
func mtSetup(t testing.TB, opts ...Option) (*Client, *mtServer) {
	t.Helper()
	s := mtNewServer(t, tls.RequireAndVerifyClientCert, mtCerts().caPool, nil)
	pki := mtCerts()
	c := mtNewClient(t, s, append([]Option{WithPEM(pki.clientCertPEM, pki.clientKeyPEM)}, opts...)...)
	return c, s
}

// setup is the main harness: a Client with the merchant certificate and the
// mux of a mutual-TLS server (tls.RequireAndVerifyClientCert) it talks to.
// Both are closed when the test ends.
func setup(t *testing.T, opts ...Option) (*Client, *http.ServeMux) {
	t.Helper()
	c, s := mtSetup(t, opts...)
	return c, s.mux
}

// mtNginx400 is what nginx in front of api.mch.weixin.qq.com answers when a
// /secapi/ request presents no client certificate.
const mtNginx400 = "<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>\r\n" +
	"<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n" +
	"<center>No required SSL certificate was sent</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"

// mtNginxServer asks for a client certificate without requiring one
// (tls.VerifyClientCertIfGiven, trusting the in-memory CA) and, like WeChat
// Pay's nginx, answers /secapi/ requests that presented none with HTML 400.
// hits counts every request that reached the server.
func mtNginxServer(t testing.TB) (s *mtServer, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	s = mtNewServer(t, tls.VerifyClientCertIfGiven, mtCerts().caPool, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			if strings.HasPrefix(r.URL.Path, "/secapi/") && len(r.TLS.PeerCertificates) == 0 {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, mtNginx400)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	return s, hits
}

// ---------------------------------------------------------------------------
// Messages

// mtRequest is what a handler saw; handlers send it to the test goroutine over
// a channel (the race detector does not see a TCP round trip as
// synchronization).
type mtRequest struct {
	Method, Path, ContentType string
	Body                      []byte
	Fields                    map[string]string
	PeerCerts                 []*x509.Certificate
}

// mtReadRequest reads a request the Client sent and checks it the way WeChat
// Pay would: POST, text/xml, a flat <xml> document, appid and mch_id of the
// vectors' merchant, a nonce, and a sign that verifies with st over all fields. It
// runs in the server's goroutine, so it reports with assert, not require.
func mtReadRequest(t testing.TB, r *http.Request, st SignType) mtRequest {
	t.Helper()
	body, err := io.ReadAll(r.Body)
	assert.NoError(t, err)
	got := mtRequest{Method: r.Method, Path: r.URL.Path, ContentType: r.Header.Get("Content-Type"), Body: body}
	if r.TLS != nil {
		got.PeerCerts = r.TLS.PeerCertificates
	}
	assert.Equal(t, http.MethodPost, r.Method)
	mt, _, err := mime.ParseMediaType(got.ContentType)
	assert.NoError(t, err)
	assert.Equal(t, "text/xml", mt)
	got.Fields, err = mtDecode(body, "xml")
	if !assert.NoError(t, err, "request body %q", body) {
		got.Fields = map[string]string{}
		return got
	}
	f := got.Fields
	assert.Equal(t, mtAppID, f["appid"])
	assert.Equal(t, mtMchID, f["mch_id"])
	assert.NotEmpty(t, f["nonce_str"])
	assert.LessOrEqual(t, len(f["nonce_str"]), 32)
	if st == SignTypeMD5 {
		assert.NotContains(t, f, "sign_type", "MD5 requests do not send sign_type")
	} else {
		assert.Equal(t, string(st), f["sign_type"])
	}
	assert.Equal(t, Sign(f, mtAPIKey, st), f["sign"], "request signature")
	return got
}

// mtSigned returns a copy of fields with sign set for st and mtAPIKey.
func mtSigned(fields map[string]string, st SignType) map[string]string {
	out := maps.Clone(fields)
	delete(out, "sign")
	out["sign"] = Sign(out, mtAPIKey, st)
	return out
}

// mtWriteXML writes body as a 200 text/xml response.
func mtWriteXML(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = w.Write(body) // the client checks what it receives
}

// mtWriteFields encodes fields as they are (no signing) and writes them.
func mtWriteFields(t testing.TB, w http.ResponseWriter, fields map[string]string) {
	t.Helper()
	body, err := mtEncode(fields)
	if !assert.NoError(t, err) {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	mtWriteXML(w, body)
}

// mtWriteResponse signs fields with MD5 and writes them.
func mtWriteResponse(t testing.TB, w http.ResponseWriter, fields map[string]string) {
	t.Helper()
	mtWriteFields(t, w, mtSigned(fields, SignTypeMD5))
}

// mtBase is the communication-level and merchant part of a successful
// response.
func mtBase() map[string]string {
	return map[string]string{
		"return_code": "SUCCESS",
		"return_msg":  "OK",
		"appid":       mtAppID,
		"mch_id":      mtMchID,
		"nonce_str":   "mtServerNonce0123",
		"result_code": "SUCCESS",
	}
}

// mtRefundOK answers a refund request: accepted, echoing its ids and amounts.
func mtRefundOK(req map[string]string) map[string]string {
	f := mtBase()
	f["transaction_id"] = req["transaction_id"]
	if f["transaction_id"] == "" {
		f["transaction_id"] = "4200001234202406011234567890"
	}
	f["out_trade_no"] = req["out_trade_no"]
	f["out_refund_no"] = req["out_refund_no"]
	f["refund_id"] = "50300012345202406031234567890"
	f["refund_fee"] = req["refund_fee"]
	f["total_fee"] = req["total_fee"]
	f["cash_fee"] = req["total_fee"]
	return f
}

// mtBizFail is a signed business failure with err_code code.
func mtBizFail(code, des string) map[string]string {
	f := mtBase()
	f["result_code"] = "FAIL"
	f["err_code"] = code
	f["err_code_des"] = des
	return f
}

// mtQueryOK answers a refund query with one successful refund.
func mtQueryOK() map[string]string {
	f := mtBase()
	f["transaction_id"] = "4200001234202406011234567890"
	f["out_trade_no"] = "ORD20240601123456"
	f["total_fee"] = "5000"
	f["cash_fee"] = "5000"
	f["refund_count"] = "1"
	f["out_refund_no_0"] = "RF20240603000001"
	f["refund_id_0"] = "50300012345202406031234567890"
	f["refund_fee_0"] = "2000"
	f["refund_status_0"] = "SUCCESS"
	f["refund_recv_accout_0"] = "支付用户零钱"
	f["refund_success_time_0"] = "2024-06-03 10:15:42"
	return f
}

// mtRefundHandler answers every refund request with respond(request fields),
// signed with MD5, and reports each request on the returned channel.
func mtRefundHandler(t testing.TB, mux *http.ServeMux, respond func(req map[string]string) map[string]string) <-chan mtRequest {
	return mtHandle(t, mux, pathRefund, SignTypeMD5, respond)
}

// mtHandle registers a handler at path that checks requests with
// mtReadRequest, answers with respond(request fields) signed with st, and
// reports each request on the returned channel (buffered; it never blocks).
func mtHandle(t testing.TB, mux *http.ServeMux, path string, st SignType, respond func(req map[string]string) map[string]string) <-chan mtRequest {
	ch := make(chan mtRequest, 64)
	mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		got := mtReadRequest(t, r, st)
		select {
		case ch <- got:
		default:
		}
		mtWriteFields(t, w, mtSigned(respond(got.Fields), st))
	})
	return ch
}

// mtReceive returns the next request a handler reported.
func mtReceive(t testing.TB, ch <-chan mtRequest) mtRequest {
	t.Helper()
	select {
	case r := <-ch:
		return r
	default:
		require.FailNow(t, "the handler was not called")
		return mtRequest{}
	}
}

// mtCountHits registers a handler at path that only counts requests and
// answers 500; for tests where nothing may reach the server.
func mtCountHits(mux *http.ServeMux, path string) *atomic.Int64 {
	n := new(atomic.Int64)
	mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		http.Error(w, "this handler must not be reached", http.StatusInternalServerError)
	})
	return n
}

// mtRefundReq is a valid refund request (the parameters of
// testdata/vectors/refund_request_9_1.xml).
func mtRefundReq() *RefundRequest {
	return &RefundRequest{
		OutTradeNo:  "ORD20240601123456",
		OutRefundNo: "RF20240603000001",
		TotalFee:    5000,
		RefundFee:   2000,
		RefundDesc:  "商品缺货",
		NotifyURL:   "https://merchant.example.com/wxpay/refund-notify",
	}
}

// ---------------------------------------------------------------------------
// Codec helpers for tests: maps in and out of the package's own codec.

// mtDecode decodes a flat document into a map, as the Client reads answers.
func mtDecode(body []byte, roots ...string) (map[string]string, error) {
	l, err := decodeFlat(body, roots...)
	if err != nil {
		return nil, err
	}
	return l.toMap(), nil
}

// mtEncode writes fields as an <xml> document.
func mtEncode(fields map[string]string) ([]byte, error) { return encodeFlat("xml", fields) }

// mtFieldList returns fields sorted by name, as decodeFlat does.
func mtFieldList(fields map[string]string) fieldList {
	l := make(fieldList, 0, len(fields))
	for k, v := range fields {
		l = append(l, field{name: k, value: v})
	}
	slices.SortFunc(l, func(a, b field) int { return strings.Compare(a.name, b.name) })
	return l
}

// mtEncryptECB pads pt with PKCS#7 and encrypts it block by block: the
// sender's side of decryptECB, for building notifications in tests.
func mtEncryptECB(b cipher.Block, pt []byte) []byte {
	bs := b.BlockSize()
	p := bs - len(pt)%bs
	buf := make([]byte, len(pt)+p)
	copy(buf, pt)
	for i := len(pt); i < len(buf); i++ {
		buf[i] = byte(p)
	}
	for i := 0; i < len(buf); i += bs {
		b.Encrypt(buf[i:i+bs], buf[i:i+bs])
	}
	return buf
}

// mtDecryptReqInfo decrypts req_info with c's key and returns a copy of the
// plaintext.
func mtDecryptReqInfo(c *Client, reqInfo string) ([]byte, error) {
	var out []byte
	err := withReqInfo(c.keys().notify, reqInfo, func(pt []byte) error {
		out = bytes.Clone(pt)
		return nil
	})
	return out, err
}

// verifySign checks fields["sign"] as the Client checks an answer's, for
// tests that hold a map; regroupable fields are checkAnswer's concern and
// not reported here.
func verifySign(fields map[string]string, apiKey string, t SignType) error {
	err := newSigner(apiKey).verify(mtFieldList(fields), t)
	if errors.Is(err, ErrMalformed) {
		return nil
	}
	return err
}
