package wire

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vectorsDir holds the known-answer vectors shared with the root package.
const vectorsDir = "../../testdata/vectors"

func readVector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectorsDir, name))
	require.NoError(t, err)
	return b
}

// ---------------------------------------------------------------- Encode

func TestEncodeExactBytes(t *testing.T) {
	t.Parallel()
	got, err := Encode(map[string]string{
		"b":     "2",
		"a":     "1",
		"empty": "",
		"Z":     "upper sorts first",
		"t":     "a]]>b",
	})
	require.NoError(t, err)
	want := "<xml>" +
		"<Z><![CDATA[upper sorts first]]></Z>" +
		"<a><![CDATA[1]]></a>" +
		"<b><![CDATA[2]]></b>" +
		"<empty></empty>" +
		"<t><![CDATA[a]]]]><![CDATA[>b]]></t>" +
		"</xml>"
	assert.Equal(t, want, string(got))
}

func TestEncodeEmptyMap(t *testing.T) {
	t.Parallel()
	for _, m := range []map[string]string{nil, {}} {
		got, err := Encode(m)
		require.NoError(t, err)
		assert.Equal(t, "<xml></xml>", string(got))
		back, err := Decode(got, "xml")
		require.NoError(t, err)
		assert.Empty(t, back)
	}
}

func TestEncodeDeterministic(t *testing.T) {
	t.Parallel()
	m := map[string]string{}
	for i := range 40 {
		m["field_"+string(rune('a'+i%26))+strings.Repeat("x", i/26)] = strings.Repeat("v", i)
	}
	first, err := Encode(m)
	require.NoError(t, err)
	for range 50 {
		// Map iteration order differs run to run; the bytes must not.
		again, err := Encode(m)
		require.NoError(t, err)
		require.Equal(t, first, again)
	}
	// A copy of the map built in another insertion order encodes the same.
	c := make(map[string]string, len(m))
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := len(keys) - 1; i >= 0; i-- {
		c[keys[i]] = m[keys[i]]
	}
	again, err := Encode(c)
	require.NoError(t, err)
	assert.Equal(t, first, again)

	// Keys appear in byte-wise sorted order.
	prev := ""
	for _, k := range sortedKeysInDocument(t, first) {
		assert.Less(t, prev, k)
		prev = k
	}
}

// sortedKeysInDocument returns the child element names of an Encode output
// in document order.
func sortedKeysInDocument(t *testing.T, doc []byte) []string {
	t.Helper()
	s := strings.TrimSuffix(strings.TrimPrefix(string(doc), "<xml>"), "</xml>")
	var keys []string
	for s != "" {
		require.True(t, strings.HasPrefix(s, "<"))
		end := strings.IndexByte(s, '>')
		k := s[1:end]
		keys = append(keys, k)
		close := "</" + k + ">"
		i := strings.Index(s, close)
		require.GreaterOrEqual(t, i, 0)
		s = s[i+len(close):]
	}
	return keys
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	values := map[string]string{
		"lt":              "<",
		"amp":             "&",
		"gt":              ">",
		"markup":          "<a href=\"x\">&amp;</a>",
		"cdata_end":       "]]>",
		"cdata_end_x2":    "]]]]>>",
		"cdata_end_many":  "]]>]]>]]>",
		"cdata_lookalike": "<![CDATA[not a section]]>",
		"brackets":        "]]",
		"bracket_gt":      "]>",
		"chinese":         "商品缺货",
		"mixed":           "支付用户零钱 & 招商银行信用卡1234 <ok>",
		"newline":         "line1\nline2\n",
		"tab":             "a\tb",
		"spaces":          "  leading and trailing  ",
		"only_space":      " ",
		"emoji":           "退款 😀",
		"amp_eq":          "a=b&c=d",
		"quote":           `"'`,
		"entity_text":     "&lt;&#x4E2D;",
		"empty":           "",
		"long":            strings.Repeat("长", 5000),
	}
	doc, err := Encode(values)
	require.NoError(t, err)
	back, err := Decode(doc, "xml")
	require.NoError(t, err)
	assert.Equal(t, values, back)

	// Each value alone, too, so a failure names the value.
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc, err := Encode(map[string]string{"v": v})
			require.NoError(t, err)
			back, err := Decode(doc, "xml")
			require.NoError(t, err)
			assert.Equal(t, map[string]string{"v": v}, back)
		})
	}
}

// XML parsers turn a literal CR (and CRLF) into LF, so Encode must not put a
// raw CR into the document: a signed value with a CR would otherwise reach
// WeChat Pay as a different string than the one that was signed.
func TestEncodeCarriageReturnRoundTrips(t *testing.T) {
	t.Parallel()
	doc, err := Encode(map[string]string{"v": "a\r\nb"})
	require.NoError(t, err)
	assert.Equal(t, "<xml><v><![CDATA[a]]>&#13;<![CDATA[\nb]]></v></xml>", string(doc))
	doc, err = Encode(map[string]string{"v": "\r"})
	require.NoError(t, err)
	assert.Equal(t, "<xml><v>&#13;</v></xml>", string(doc))

	for _, v := range []string{"\r", "a\r\nb", "\r\r\n\n", "x\ry", "]]>\r]]>", "\r]]>\r", "end\r"} {
		doc, err := Encode(map[string]string{"v": v})
		require.NoError(t, err)
		back, err := Decode(doc, "xml")
		require.NoError(t, err)
		assert.Equal(t, v, back["v"], "value %q via %q", v, doc)
	}
}

func TestEncodeRejects(t *testing.T) {
	t.Parallel()
	const secret = "SECRETVALUE"
	tests := []struct {
		name string
		m    map[string]string
	}{
		{"NUL", map[string]string{"a": secret + "\x00"}},
		{"ESC", map[string]string{"a": secret + "\x1b"}},
		{"other C0", map[string]string{"a": secret + "\x01"}},
		{"invalid UTF-8", map[string]string{"a": secret + "\xff"}},
		{"truncated UTF-8", map[string]string{"a": secret + "\xe5\x95"}},
		{"surrogate half", map[string]string{"a": secret + "\xed\xa0\x80"}},
		{"U+FFFE", map[string]string{"a": secret + "\uFFFE"}},
		{"empty name", map[string]string{"": secret}},
		{"digit first", map[string]string{"1a": secret}},
		{"space in name", map[string]string{"a b": secret}},
		{"lt in name", map[string]string{"a<": secret}},
		{"colon in name", map[string]string{"a:b": secret}},
		{"dash first", map[string]string{"-a": secret}},
		{"slash in name", map[string]string{"a/": secret}},
		{"non-ASCII name", map[string]string{"名": secret}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := Encode(tc.m)
			require.Error(t, err)
			assert.Nil(t, doc)
			assert.NotContains(t, err.Error(), secret)
		})
	}
}

func TestEncodeAcceptsNameCharacters(t *testing.T) {
	t.Parallel()
	m := map[string]string{"_a": "1", "a-b": "2", "a.b": "3", "A9": "4", "coupon_refund_fee_0_0": "5"}
	doc, err := Encode(m)
	require.NoError(t, err)
	back, err := Decode(doc, "xml")
	require.NoError(t, err)
	assert.Equal(t, m, back)
}

func TestValidText(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"":                        true,
		"plain":                   true,
		"\t\n\r":                  true,
		"商品":                      true,
		"\U0001F600":              true,
		"\uE000\uFFFD":            true,
		"\x00":                    false,
		"\x08":                    false,
		"\x1f":                    false,
		"\xff":                    false,
		"\xc3":                    false,
		"\uFFFE":                  false,
		"\uFFFF":                  false,
		"\xed\xa0\x80":            false, // encoded surrogate
		"ok\x7f":                  true,  // DEL is an XML character
		string([]byte{'a', 0x80}): false,
	} {
		assert.Equal(t, want, ValidText(s), "%q", s)
	}
}

// ---------------------------------------------------------------- Decode

func TestDecodeAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		doc   string
		roots []string
		want  map[string]string
	}{
		{"CDATA", "<xml><a><![CDATA[1]]></a></xml>", nil, map[string]string{"a": "1"}},
		{"text", "<xml><a>1</a></xml>", nil, map[string]string{"a": "1"}},
		{"mixed CDATA and text", "<xml><a>x<![CDATA[<y>]]>z</a></xml>", nil, map[string]string{"a": "x<y>z"}},
		{"two CDATA sections", "<xml><a><![CDATA[]]]]><![CDATA[>]]></a></xml>", nil, map[string]string{"a": "]]>"}},
		{"declaration", `<?xml version="1.0" encoding="UTF-8"?><xml><a>1</a></xml>`, nil, map[string]string{"a": "1"}},
		{"declaration lowercase utf-8", `<?xml version="1.0" encoding="utf-8"?>` + "\n<xml><a>1</a></xml>", nil, map[string]string{"a": "1"}},
		{"declaration without encoding", `<?xml version="1.0"?><xml><a>1</a></xml>`, nil, map[string]string{"a": "1"}},
		{"byte order mark", "\ufeff<xml><a>1</a></xml>", nil, map[string]string{"a": "1"}},
		{"byte order mark and declaration", "\ufeff<?xml version=\"1.0\" encoding=\"UTF-8\"?><xml><a>1</a></xml>", nil, map[string]string{"a": "1"}},
		{"whitespace between elements", "\n<xml>\n  <a>1</a>\r\n\t<b>2</b>\n</xml>\n\n", nil, map[string]string{"a": "1", "b": "2"}},
		{"comments", "<!-- c0 --><xml><!-- c1 --><a>x<!-- c2 -->y</a><!-- c3 --></xml><!-- c4 -->", nil, map[string]string{"a": "xy"}},
		{"self-closing", "<xml><a/><b /></xml>", nil, map[string]string{"a": "", "b": ""}},
		{"empty pair", "<xml><a></a></xml>", nil, map[string]string{"a": ""}},
		{"empty CDATA", "<xml><a><![CDATA[]]></a></xml>", nil, map[string]string{"a": ""}},
		{"empty root", "<xml></xml>", nil, map[string]string{}},
		{"self-closing root", "<xml/>", nil, map[string]string{}},
		{"predefined entities", "<xml><a>&lt;&gt;&amp;&quot;&apos;</a></xml>", nil, map[string]string{"a": `<>&"'`}},
		{"hex char ref", "<xml><a>&#x4E2D;&#x6587;</a></xml>", nil, map[string]string{"a": "中文"}},
		{"decimal char ref", "<xml><a>&#20013;</a></xml>", nil, map[string]string{"a": "中"}},
		{"entity inside CDATA is literal", "<xml><a><![CDATA[&lt;]]></a></xml>", nil, map[string]string{"a": "&lt;"}},
		{"whitespace in value kept", "<xml><a>  1 \n</a></xml>", nil, map[string]string{"a": "  1 \n"}},
		{"UTF-8 text", "<xml><a>支付用户零钱</a></xml>", nil, map[string]string{"a": "支付用户零钱"}},
		{"attributes ignored", `<xml foo="bar"><a x="y">1</a></xml>`, nil, map[string]string{"a": "1"}},
		{"root among several", "<root><a>1</a></root>", []string{"root", "xml"}, map[string]string{"a": "1"}},
		{"BOM-less long value", "<xml><a>" + strings.Repeat("x", 40000) + "</a></xml>", nil, map[string]string{"a": strings.Repeat("x", 40000)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			roots := tc.roots
			if roots == nil {
				roots = []string{"xml"}
			}
			got, err := Decode([]byte(tc.doc), roots...)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	const secret = "SECRETVALUE"
	tests := []struct {
		name  string
		doc   string
		roots []string
	}{
		{"empty input", "", nil},
		{"whitespace only", " \n\t", nil},
		{"comment only", "<!-- x -->", nil},
		{"declaration only", `<?xml version="1.0"?>`, nil},
		{"not XML", "{\"return_code\":\"SUCCESS\"}", nil},
		{"HTML error page", "<html><head><title>400 No required SSL certificate was sent</title></head></html>", nil},
		{"DOCTYPE", "<!DOCTYPE xml><xml><a>1</a></xml>", nil},
		{"XXE external entity", `<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><a>&xxe;</a></xml>`, nil},
		{"XXE parameter entity", `<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://evil.example/x.dtd"> %p;]><xml><a>1</a></xml>`, nil},
		{"billion laughs", `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><xml><a>&lol3;</a></xml>`, nil},
		{"DOCTYPE after root", "<xml><a>1</a></xml><!DOCTYPE xml>", nil},
		{"directive inside root", "<xml><!ELEMENT a ANY><a>1</a></xml>", nil},
		{"nested element", "<xml><a><b>" + secret + "</b></a></xml>", nil},
		{"deep nesting", "<xml><a><b><c>1</c></b></a></xml>", nil},
		{"nested empty element", "<xml><a><b/></a></xml>", nil},
		{"wrong root", "<root><a>1</a></root>", nil},
		{"wrong root among several", "<data><a>1</a></data>", []string{"root", "xml"}},
		{"namespaced root", `<x:xml xmlns:x="u"><a>1</a></x:xml>`, nil},
		{"namespaced field", `<xml><x:a>1</x:a></xml>`, nil},
		{"two roots", "<xml><a>1</a></xml><xml><b>2</b></xml>", nil},
		{"two empty roots", "<xml/><xml/>", nil},
		{"trailing text", "<xml><a>1</a></xml>" + secret, nil},
		{"leading text", secret + "<xml><a>1</a></xml>", nil},
		{"unclosed root", "<xml><a>1</a>", nil},
		{"unclosed field", "<xml><a>" + secret, nil},
		{"unclosed CDATA", "<xml><a><![CDATA[" + secret + "</a></xml>", nil},
		{"mismatched field end tag", "<xml><a>1</b></xml>", nil},
		{"mismatched root end tag", "<xml><a>1</a></root>", []string{"xml", "root"}},
		{"stray end tag", "<xml><a>1</a></a></xml>", nil},
		{"end tag only", "</xml>", nil},
		{"duplicate field", "<xml><a>1</a><a>" + secret + "</a></xml>", nil},
		{"duplicate empty field", "<xml><a/><a/></xml>", nil},
		{"undeclared entity", "<xml><a>&secret;</a></xml>", nil},
		{"html entity", "<xml><a>&nbsp;</a></xml>", nil},
		{"bare ampersand", "<xml><a>" + secret + " & more</a></xml>", nil},
		{"bare less-than", "<xml><a>1 < 2</a></xml>", nil},
		{"invalid char ref", "<xml><a>&#0;</a></xml>", nil},
		{"GBK encoding", `<?xml version="1.0" encoding="GBK"?><xml><a>1</a></xml>`, nil},
		{"ISO-8859-1 encoding", `<?xml version="1.0" encoding="ISO-8859-1"?><xml><a>1</a></xml>`, nil},
		{"invalid UTF-8 in text", "<xml><a>" + secret + "\xff\xfe</a></xml>", nil},
		{"invalid UTF-8 in CDATA", "<xml><a><![CDATA[" + secret + "\xc3]]></a></xml>", nil},
		{"NUL in text", "<xml><a>" + secret + "\x00</a></xml>", nil},
		{"ESC in CDATA", "<xml><a><![CDATA[" + secret + "\x1b]]></a></xml>", nil},
		{"text directly inside root", "<xml>" + secret + "<a>1</a></xml>", nil},
		{"CDATA directly inside root", "<xml><![CDATA[" + secret + "]]><a>1</a></xml>", nil},
		{"two byte order marks", "\ufeff\ufeff<xml><a>1</a></xml>", nil},
		{"byte order mark inside", "<xml>\ufeff<a>1</a></xml>", nil},
		{"second declaration", `<?xml version="1.0"?><?xml version="1.0"?><xml><a>1</a></xml>`, nil},
		{"declaration after a comment", `<!-- c --><?xml version="1.0"?><xml><a>1</a></xml>`, nil},
		{"declaration after the root", `<xml><a>1</a></xml><?xml version="1.0"?>`, nil},
		{"processing instruction inside root", `<xml><?php echo 1; ?><a>1</a></xml>`, nil},
		{"processing instruction inside field", `<xml><a><?pi x?>1</a></xml>`, nil},
		{"xml declaration after root", `<xml><a>1</a></xml><?xml version="1.0"?>`, nil},
		{"other processing instruction before root", `<?xml-stylesheet href="x"?><xml><a>1</a></xml>`, nil},
		{"declaration inside root", `<xml><?xml version="1.0"?><a>1</a></xml>`, nil},
		{"unquoted attribute", `<xml a=b><c>1</c></xml>`, nil},
		{"truncated tag", "<xml><a", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			roots := tc.roots
			if roots == nil {
				roots = []string{"xml"}
			}
			got, err := Decode([]byte(tc.doc), roots...)
			require.ErrorIs(t, err, ErrMalformedXML)
			assert.Nil(t, got)
			assert.NotContains(t, err.Error(), secret, "errors must not quote the document")
		})
	}
}

func TestDecodeVectors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file   string
		root   string
		fields int
		check  map[string]string
	}{
		{"refund_request_9_1.xml", "xml", 10, map[string]string{"refund_desc": "商品缺货", "sign": "F6D21A6A2156D461B557F665B8D98017"}},
		{"refund_response_9_2.xml", "xml", 25, map[string]string{"refund_channel": "", "coupon_type_0": "NO_CASH", "refund_fee": "2000"}},
		{"refundquery_response_9_3.xml", "xml", 44, map[string]string{"refund_recv_accout_1": "招商银行信用卡1234", "refund_count": "2"}},
		{"notify_9_4.xml", "xml", 5, map[string]string{"return_code": "SUCCESS", "mch_id": "1900000109"}},
		{"notify_9_4_plaintext.xml", "root", 13, map[string]string{"success_time": "2024-06-03 10:15:42"}},
		{"notify_wechatpy.xml", "xml", 5, map[string]string{"appid": "wx4f4bc4dec97d474b"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			f, err := Decode(readVector(t, tc.file), tc.root)
			require.NoError(t, err)
			assert.Len(t, f, tc.fields)
			for k, v := range tc.check {
				got, ok := f[k]
				assert.True(t, ok, k)
				assert.Equal(t, v, got, k)
			}
			// Re-encoding keeps every field.
			doc, err := Encode(f)
			require.NoError(t, err)
			back, err := Decode(doc, "xml")
			require.NoError(t, err)
			assert.Equal(t, f, back)
		})
	}
}

// --------------------------------------------------------------- ReadLimited

func TestReadLimited(t *testing.T) {
	t.Parallel()
	const limit = 100
	body := bytes.Repeat([]byte("a"), limit)

	got, err := ReadLimited(bytes.NewReader(body), limit)
	require.NoError(t, err)
	assert.Equal(t, body, got)

	got, err = ReadLimited(bytes.NewReader(append(body, 'b')), limit)
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Nil(t, got)

	got, err = ReadLimited(bytes.NewReader(nil), limit)
	require.NoError(t, err)
	assert.Empty(t, got)

	// One byte at a time still works.
	got, err = ReadLimited(iotest.OneByteReader(bytes.NewReader(body)), limit)
	require.NoError(t, err)
	assert.Equal(t, body, got)

	// MaxBody itself.
	got, err = ReadLimited(bytes.NewReader(make([]byte, MaxBody)), MaxBody)
	require.NoError(t, err)
	assert.Len(t, got, MaxBody)
	_, err = ReadLimited(bytes.NewReader(make([]byte, MaxBody+1)), MaxBody)
	require.ErrorIs(t, err, ErrTooLarge)
}

type countingReader struct {
	n int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	r.n += int64(len(p))
	return len(p), nil
}

func TestReadLimitedStopsReading(t *testing.T) {
	t.Parallel()
	r := &countingReader{}
	_, err := ReadLimited(r, 1000)
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Equal(t, int64(1001), r.n, "reads at most limit+1 bytes from an endless body")
}

func TestReadLimitedPassesReadErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	_, err := ReadLimited(io.MultiReader(strings.NewReader("<xml>"), iotest.ErrReader(boom)), 100)
	require.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, ErrTooLarge)
}

// --------------------------------------------------------------- AES-ECB

func TestNotifyKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ apiKey, aesKey string }{
		{"OF4Ne3znh8KqL0V4NqmALQa0uXMYKcEk", "63dfc0c1f53d9bc83a8fdc365b8141da"},
		{"Illustr8tiveApiV2Key0123456789Ab", "9c2098c0ede6b2281449560ecbee1578"},
		{"192006250b4c09247ec02edce69f6a2d", md5Hex("192006250b4c09247ec02edce69f6a2d")},
	} {
		want, err := aes.NewCipher([]byte(tc.aesKey)) // the 32 ASCII characters
		require.NoError(t, err)
		got := NotifyKey(tc.apiKey)
		assert.Equal(t, aes.BlockSize, got.BlockSize())

		for _, in := range [][]byte{make([]byte, 16), []byte("0123456789abcdef"), bytes.Repeat([]byte{0xff}, 16)} {
			a, b := make([]byte, 16), make([]byte, 16)
			want.Encrypt(a, in)
			got.Encrypt(b, in)
			assert.Equal(t, a, b, "api key %s", tc.apiKey)
		}
		// Not the raw 16-byte digest as an AES-128 key.
		raw, err := hex.DecodeString(tc.aesKey)
		require.NoError(t, err)
		wrong, err := aes.NewCipher(raw)
		require.NoError(t, err)
		a, b := make([]byte, 16), make([]byte, 16)
		wrong.Encrypt(a, make([]byte, 16))
		got.Encrypt(b, make([]byte, 16))
		assert.NotEqual(t, a, b)
	}
}

// FIPS-197 appendix C.3 (AES-256): one block through EncryptECB, followed by
// a full block of padding.
func TestEncryptECBKnownAnswer(t *testing.T) {
	t.Parallel()
	key, _ := hex.DecodeString("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	pt, _ := hex.DecodeString("00112233445566778899aabbccddeeff")
	want, _ := hex.DecodeString("8ea2b7ca516745bfeafc49904b496089")
	b, err := aes.NewCipher(key)
	require.NoError(t, err)

	ct := EncryptECB(b, pt)
	require.Len(t, ct, 32)
	assert.Equal(t, want, ct[:16])
	pad := make([]byte, 16)
	b.Decrypt(pad, ct[16:])
	assert.Equal(t, bytes.Repeat([]byte{16}, 16), pad)

	back, err := DecryptECB(b, ct)
	require.NoError(t, err)
	assert.Equal(t, pt, back)
	// ECB: equal plaintext blocks give equal ciphertext blocks (no IV, no chaining).
	ct2 := EncryptECB(b, append(append([]byte{}, pt...), pt...))
	assert.Equal(t, ct2[:16], ct2[16:32])
}

func TestECBRoundTrip(t *testing.T) {
	t.Parallel()
	b := NotifyKey("Illustr8tiveApiV2Key0123456789Ab")
	for n := 0; n <= 40; n++ {
		pt := make([]byte, n)
		for i := range pt {
			pt[i] = byte(i*7 + n)
		}
		orig := bytes.Clone(pt)
		ct := EncryptECB(b, pt)
		assert.Equal(t, orig, pt, "EncryptECB must not modify its input")
		assert.Equal(t, (n/16+1)*16, len(ct), "length %d", n)

		// The last block decrypts to the plaintext tail and p bytes of p.
		raw := make([]byte, len(ct))
		for i := 0; i < len(ct); i += 16 {
			b.Decrypt(raw[i:i+16], ct[i:i+16])
		}
		p := 16 - n%16
		assert.Equal(t, orig, raw[:n])
		assert.Equal(t, bytes.Repeat([]byte{byte(p)}, p), raw[n:])

		ctCopy := append([]byte(nil), ct...)
		got, err := DecryptECB(b, ct)
		require.NoError(t, err, "length %d", n)
		assert.Equal(t, orig, got, "length %d", n)
		assert.Equal(t, ctCopy, ct, "DecryptECB must not modify its input")
	}
}

// encryptRaw encrypts whole blocks without adding padding, to build
// ciphertexts whose plaintext has an arbitrary (bad) padding shape.
func encryptRaw(t testing.TB, b cipher.Block, pt []byte) []byte {
	t.Helper()
	require.Zero(t, len(pt)%16)
	ct := make([]byte, len(pt))
	for i := 0; i < len(pt); i += 16 {
		b.Encrypt(ct[i:i+16], pt[i:i+16])
	}
	return ct
}

func TestDecryptECBBadPadding(t *testing.T) {
	t.Parallel()
	const apiKey = "Illustr8tiveApiV2Key0123456789Ab"
	const aesKeyHex = "9c2098c0ede6b2281449560ecbee1578"
	b := NotifyKey(apiKey)
	secret := []byte("RF20240603000001") // a plaintext value that must never leak
	block := func(tail ...byte) []byte {
		pt := append([]byte{}, secret...)
		blk := make([]byte, 16)
		copy(blk, "<root>SECRETXYZ")
		copy(blk[16-len(tail):], tail)
		return append(pt, blk...)
	}
	tests := []struct {
		name string
		pt   []byte
	}{
		{"pad byte 0", block(0)},
		{"pad byte 17", block(17)},
		{"pad byte 32", block(32)},
		{"pad byte 255", block(255)},
		{"pad bytes differ 03 03 02", block(3, 3, 2)},
		{"pad bytes differ 02 03 03", block(2, 3, 3)},
		{"pad bytes differ in the middle", block(4, 4, 9, 4)},
		{"pad 16 but not 16 of them", block(16, 16, 16, 16)},
		{"pad 16 over a short block", append(append([]byte{}, secret[:3]...), bytes.Repeat([]byte{16}, 13)...)},
		{"full pad block with one wrong byte", append(append([]byte{}, secret...), append(bytes.Repeat([]byte{16}, 15), 15)...)},
		{"pad 16 one block wrong first byte", append([]byte{0}, bytes.Repeat([]byte{16}, 15)...)},
		{"pad 5 with 4 fives", block(0, 5, 5, 5, 5)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecryptECB(b, encryptRaw(t, b, tc.pt))
			require.ErrorIs(t, err, ErrDecrypt)
			assert.Nil(t, got)
			assertNoSecrets(t, err, apiKey, aesKeyHex, string(secret), "SECRETXYZ")
		})
	}
}

func TestDecryptECBGoodPaddingEdges(t *testing.T) {
	t.Parallel()
	b := NotifyKey("Illustr8tiveApiV2Key0123456789Ab")
	// Pad 1 and pad 16 are both valid.
	got, err := DecryptECB(b, encryptRaw(t, b, append(bytes.Repeat([]byte("a"), 15), 1)))
	require.NoError(t, err)
	assert.Equal(t, bytes.Repeat([]byte("a"), 15), got)
	got, err = DecryptECB(b, encryptRaw(t, b, bytes.Repeat([]byte{16}, 16)))
	require.NoError(t, err)
	assert.Empty(t, got)
	// Plaintext that ends in bytes equal to the pad value is not over-stripped.
	got, err = DecryptECB(b, encryptRaw(t, b, append(bytes.Repeat([]byte{2}, 14), 2, 2)))
	require.NoError(t, err)
	assert.Equal(t, bytes.Repeat([]byte{2}, 14), got)
}

func TestDecryptECBBadLength(t *testing.T) {
	t.Parallel()
	const apiKey = "Illustr8tiveApiV2Key0123456789Ab"
	b := NotifyKey(apiKey)
	good := EncryptECB(b, []byte("0123456789abcdefSECRET"))
	for _, ct := range [][]byte{nil, {}, good[:15], good[:17], good[:31], good[:1], append(append([]byte{}, good...), 0)} {
		got, err := DecryptECB(b, ct)
		require.ErrorIs(t, err, ErrDecrypt, "length %d", len(ct))
		assert.Nil(t, got)
		assertNoSecrets(t, err, apiKey, "9c2098c0ede6b2281449560ecbee1578", "SECRET")
	}
}

func TestDecryptECBWrongKey(t *testing.T) {
	t.Parallel()
	const right, wrong = "Illustr8tiveApiV2Key0123456789Ab", "Illustr8tiveApiV2Key0123456789AB"
	ct := EncryptECB(NotifyKey(right), []byte("<root><out_refund_no>SECRET</out_refund_no></root>"))
	got, err := DecryptECB(NotifyKey(wrong), ct)
	if err == nil {
		// A wrong key yields a valid-looking pad with probability ~1/256;
		// these fixed keys were checked not to.
		t.Fatalf("wrong key decrypted to %q", got)
	}
	require.ErrorIs(t, err, ErrDecrypt)
	assertNoSecrets(t, err, right, wrong, md5Hex(right), md5Hex(wrong), "SECRET")
}

func TestNotifyVectorsDecrypt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file, apiKey, wantOutRefundNo string
		ctLen, pad                    int
	}{
		{"notify_wechatpy.xml", "OF4Ne3znh8KqL0V4NqmALQa0uXMYKcEk", "1234", 800, 5},
		{"notify_9_4.xml", "Illustr8tiveApiV2Key0123456789Ab", "RF20240603000001", 0, 0},
	} {
		outer, err := Decode(readVector(t, tc.file), "xml")
		require.NoError(t, err)
		ct := mustBase64(t, outer["req_info"])
		if tc.ctLen != 0 {
			assert.Len(t, ct, tc.ctLen)
		}
		b := NotifyKey(tc.apiKey)
		pt, err := DecryptECB(b, ct)
		require.NoError(t, err)
		if tc.pad != 0 {
			assert.Equal(t, len(ct)-tc.pad, len(pt))
		}
		inner, err := Decode(pt, "root")
		require.NoError(t, err)
		assert.Equal(t, tc.wantOutRefundNo, inner["out_refund_no"])
		// Re-encrypting the plaintext reproduces the vector byte for byte.
		assert.Equal(t, ct, EncryptECB(b, pt))
	}
	// §9.4 plaintext as printed in the SPEC (modulo the trailing newline).
	outer, err := Decode(readVector(t, "notify_9_4.xml"), "xml")
	require.NoError(t, err)
	pt, err := DecryptECB(NotifyKey("Illustr8tiveApiV2Key0123456789Ab"), mustBase64(t, outer["req_info"]))
	require.NoError(t, err)
	want, err := Decode(readVector(t, "notify_9_4_plaintext.xml"), "root")
	require.NoError(t, err)
	got, err := Decode(pt, "root")
	require.NoError(t, err)
	assert.Equal(t, want, got)
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func mustBase64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

// assertNoSecrets checks that err's text contains none of secrets.
func assertNoSecrets(t testing.TB, err error, secrets ...string) {
	t.Helper()
	require.Error(t, err)
	msg := err.Error()
	for _, s := range secrets {
		assert.NotContains(t, msg, s)
		assert.NotContains(t, strings.ToLower(msg), strings.ToLower(s))
	}
}

// Errors name a field only when the name looks like protocol vocabulary; a
// hostile name (long, or outside the ASCII name set) is not echoed.
func TestDecodeErrorFieldNames(t *testing.T) {
	t.Parallel()
	_, err := Decode([]byte("<xml><refund_fee>1</refund_fee><refund_fee>2</refund_fee></xml>"), "xml")
	require.ErrorIs(t, err, ErrMalformedXML)
	assert.Contains(t, err.Error(), "refund_fee")

	long := "secret_" + strings.Repeat("x", 40)
	for _, name := range []string{long, "秘密字段", "a\u00e9b"} {
		doc := "<xml><" + name + ">1</" + name + "><" + name + ">2</" + name + "></xml>"
		_, err := Decode([]byte(doc), "xml")
		require.ErrorIs(t, err, ErrMalformedXML, name)
		assert.NotContains(t, err.Error(), name)
		assert.Contains(t, err.Error(), "(unnamed)")

		doc = "<xml><" + name + "><b/></" + name + "></xml>"
		_, err = Decode([]byte(doc), "xml")
		require.ErrorIs(t, err, ErrMalformedXML, name)
		assert.NotContains(t, err.Error(), name)
	}
}

func TestEncodeRoot(t *testing.T) {
	got, err := EncodeRoot("root", map[string]string{"b": "2", "a": "x]]>y"})
	require.NoError(t, err)
	assert.Equal(t, "<root><a><![CDATA[x]]]]><![CDATA[>y]]></a><b><![CDATA[2]]></b></root>", string(got))
	m, err := Decode(got, "root")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "x]]>y", "b": "2"}, m)
	for _, bad := range []string{"", "1x", "a b", "a<"} {
		_, err := EncodeRoot(bad, nil)
		assert.Error(t, err, "root %q", bad)
	}
}

func TestNonce(t *testing.T) {
	a, b := Nonce(), Nonce()
	assert.Len(t, a, 32)
	assert.NotEqual(t, a, b)
	for _, c := range a + b {
		assert.Contains(t, nonceAlphabet, string(c))
	}
}
