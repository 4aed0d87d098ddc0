package wxrefundtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-wxpay/wxrefund"
)

// These tests check the fake's codec (codec.go) against WeChat Pay's
// published examples and the repository's vectors, without package
// wxrefund's codec.

const vectors = "../testdata/vectors"

func readVector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectors, name))
	require.NoError(t, err)
	return b
}

// TestSignVectors checks sign against the example of
// https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3 and then
// against every vector of testdata/vectors/sign_vectors.json.
func TestSignVectors(t *testing.T) {
	p := map[string]string{
		"appid":       "wxd930ea5d5a258f4f",
		"mch_id":      "10000100",
		"device_info": "1000",
		"body":        "test",
		"nonce_str":   "ibuaiVcKdpRxkhJA",
	}
	const key = "192006250b4c09247ec02edce69f6a2d"
	require.Equal(t, "9A0A8659F005D6984697E2CA0A9CF3B7", sign(p, key, wxrefund.SignTypeMD5))
	require.Equal(t, "6A9AE1657590FD6257D693A078E1C3E4BB6BA4DC30B23E0EE2496E54170DACD6",
		sign(p, key, wxrefund.SignTypeHMACSHA256))
	// sign itself and empty values are left out.
	p["sign"], p["attach"] = "ANYTHING", ""
	require.Equal(t, "9A0A8659F005D6984697E2CA0A9CF3B7", sign(p, key, wxrefund.SignTypeMD5))

	var file struct {
		Vectors []struct {
			Name     string            `json:"name"`
			Key      string            `json:"key"`
			SignType wxrefund.SignType `json:"sign_type"`
			Params   map[string]string `json:"params"`
			Sign     string            `json:"sign"`
		} `json:"vectors"`
	}
	require.NoError(t, json.Unmarshal(readVector(t, "sign_vectors.json"), &file))
	require.NotEmpty(t, file.Vectors)
	for _, v := range file.Vectors {
		require.Equal(t, v.Sign, sign(v.Params, v.Key, v.SignType), v.Name)
	}
}

// TestNotifyVectors decrypts the req_info of each notification in
// testdata/vectors/notify_vectors.json, checks its fields and, for the one
// with a plaintext file, the exact bytes both ways: AES-256-ECB is
// deterministic, so encrypting the plaintext gives the published req_info.
func TestNotifyVectors(t *testing.T) {
	var file struct {
		Vectors []struct {
			Name      string         `json:"name"`
			File      string         `json:"file"`
			Plaintext string         `json:"plaintext_file"`
			Key       string         `json:"key"`
			AppID     string         `json:"appid"`
			MchID     string         `json:"mch_id"`
			Want      map[string]any `json:"want"`
		} `json:"vectors"`
	}
	require.NoError(t, json.Unmarshal(readVector(t, "notify_vectors.json"), &file))
	require.NotEmpty(t, file.Vectors)
	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			outer, err := decodeXML(readVector(t, v.File), "xml")
			require.NoError(t, err)
			require.Equal(t, v.AppID, outer["appid"])
			require.Equal(t, v.MchID, outer["mch_id"])
			ct, err := base64.StdEncoding.DecodeString(outer["req_info"])
			require.NoError(t, err)
			pt, err := decryptECB(v.Key, ct)
			require.NoError(t, err)
			inner, err := decodeXML(pt, "root")
			require.NoError(t, err)
			for k, want := range v.Want {
				if k == "success_time_utc" {
					at, err := time.ParseInLocation(timeLayout, inner["success_time"], chinaTime)
					require.NoError(t, err)
					require.Equal(t, want, at.UTC().Format(time.RFC3339))
					continue
				}
				require.Equal(t, fmt.Sprint(want), inner[k], k)
			}

			if v.Plaintext != "" {
				// The file ends in a newline that the ciphertext does not hold.
				want := bytes.TrimSuffix(readVector(t, v.Plaintext), []byte("\n"))
				require.Equal(t, string(want), string(pt))
				require.Equal(t, ct, encryptECB(v.Key, pt))
			}

			_, err = decryptECB(strings.Repeat("0", 32), ct)
			require.ErrorIs(t, err, errDecrypt, "another key")
		})
	}
}

func TestECB(t *testing.T) {
	const key = "Illustr8tiveApiV2Key0123456789Ab"
	for n := range 40 {
		pt := bytes.Repeat([]byte{'x'}, n)
		ct := encryptECB(key, pt)
		require.Len(t, ct, (n/16+1)*16, "PKCS#7 always adds 1 to 16 bytes")
		back, err := decryptECB(key, ct)
		require.NoError(t, err)
		require.Equal(t, pt, back)
	}
	for _, ct := range [][]byte{nil, make([]byte, 15), make([]byte, 17)} {
		_, err := decryptECB(key, ct)
		require.ErrorIs(t, err, errDecrypt)
	}
	// A last block that ends in 0x02 after a 0x03 is not PKCS#7.
	ct := encryptECB(key, []byte("0123456789abcd\x03\x02"))
	_, err := decryptECB(key, ct[:16])
	require.ErrorIs(t, err, errDecrypt)
}

func TestEncodeXML(t *testing.T) {
	got, err := encodeXML("xml", map[string]string{
		"b": "2", "a": "1", "empty": "", "Z": "upper first", "t": "a]]>b", "cr": "x\r\ny", "onlycr": "\r",
	})
	require.NoError(t, err)
	require.Equal(t, "<xml>"+
		"<Z><![CDATA[upper first]]></Z>"+
		"<a><![CDATA[1]]></a>"+
		"<b><![CDATA[2]]></b>"+
		"<cr><![CDATA[x]]>&#13;<![CDATA[\ny]]></cr>"+
		"<empty></empty>"+
		"<onlycr>&#13;</onlycr>"+
		"<t><![CDATA[a]]]]><![CDATA[>b]]></t>"+
		"</xml>", string(got))

	got, err = encodeXML("root", nil)
	require.NoError(t, err)
	require.Equal(t, "<root></root>", string(got))

	for _, bad := range []map[string]string{
		{"": "x"}, {"1a": "x"}, {"a b": "x"}, {"a:b": "x"}, {"-a": "x"}, {"名": "x"},
		{"a": "\x00"}, {"a": "\x1b"}, {"a": "\xff"}, {"a": "\xed\xa0\x80"}, {"a": "\uFFFE"},
	} {
		_, err := encodeXML("xml", bad)
		require.Error(t, err, "%q", bad)
	}
	_, err = encodeXML("a b", nil)
	require.Error(t, err)
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	fields := map[string]string{
		"lt": "<", "amp": "&", "markup": `<a href="x">&amp;</a>`, "cdata_end": "]]>",
		"cdata_ends": "]]]]>>]]>]]>", "lookalike": "<![CDATA[x]]>", "brackets": "]]", "bracket_gt": "]>",
		"chinese": "商品缺货", "emoji": "退款 😀", "newline": "a\nb\n", "tab": "a\tb", "spaces": "  x  ",
		"crlf": "a\r\nb", "crs": "\r\r\n\n", "cr_cdata": "]]>\r]]>\r", "empty": "", "entity": "&lt;&#x4E2D;",
		"_a": "1", "a-b.c9": "2", "long": strings.Repeat("长", 5000),
	}
	doc, err := encodeXML("xml", fields)
	require.NoError(t, err)
	back, err := decodeXML(doc, "xml")
	require.NoError(t, err)
	require.Equal(t, fields, back)
}

func TestDecodeXMLAccepts(t *testing.T) {
	for doc, want := range map[string]map[string]string{
		"<xml><a><![CDATA[1]]></a></xml>":                                    {"a": "1"},
		"<xml><a>1</a><b/><c></c></xml>":                                     {"a": "1", "b": "", "c": ""},
		"<xml><a>x<![CDATA[<y>]]>z</a></xml>":                                {"a": "x<y>z"},
		"<xml><a>&lt;&gt;&amp;&quot;&apos;&#x4E2D;&#25991;</a></xml>":        {"a": `<>&"'中文`},
		"<xml><a><![CDATA[&lt;]]></a></xml>":                                 {"a": "&lt;"},
		`<?xml version="1.0" encoding="UTF-8"?>` + "\n<xml><a>1</a></xml>\n": {"a": "1"},
		"\uFEFF<?xml version=\"1.0\"?><xml><a>1</a></xml>":                   {"a": "1"},
		"\n<xml>\n  <a>1</a>\r\n\t<b> 2 \n</b>\n</xml>\n":                    {"a": "1", "b": " 2 \n"},
		"<!-- c --><xml><!-- c --><a>x<!-- c -->y</a></xml><!-- c -->":       {"a": "xy"},
		`<xml foo="bar"><a x="y">1</a></xml>`:                                {"a": "1"},
		"<xml/>":                                                             {},
		"<xml><名>1</名></xml>":                                                {"名": "1"},
	} {
		got, err := decodeXML([]byte(doc), "xml")
		require.NoError(t, err, "%q", doc)
		require.Equal(t, want, got, "%q", doc)
	}
}

func TestDecodeXMLRejects(t *testing.T) {
	const secret = "SECRETVALUE"
	for _, doc := range []string{
		"", " \n", "<!-- c -->", `<?xml version="1.0"?>`, "refund please", `{"a":1}`,
		"<html><body>400</body></html>",
		"<root><a>1</a></root>",
		"<!DOCTYPE xml><xml><a>1</a></xml>",
		`<!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><a>&x;</a></xml>`,
		"<xml><a>1</a></xml><!DOCTYPE xml>",
		"<xml><!ELEMENT a ANY><a>1</a></xml>",
		"<xml><a><b>" + secret + "</b></a></xml>",
		"<xml><a><b/></a></xml>",
		`<x:xml xmlns:x="u"><a>1</a></x:xml>`,
		"<xml><x:a>1</x:a></xml>",
		"<xml><a>1</a></xml><xml/>",
		"<xml><a>1</a></xml>" + secret,
		secret + "<xml><a>1</a></xml>",
		"<xml>" + secret + "<a>1</a></xml>",
		"<xml><![CDATA[" + secret + "]]></xml>",
		"<xml><a>1</a>",
		"<xml><a>" + secret,
		"<xml><a><![CDATA[" + secret + "</a></xml>",
		"<xml><a>1</b></xml>",
		"<xml><a>1</a></root>",
		"<xml><a>1</a></a></xml>",
		"</xml>",
		"<xml><a>1</a><a>" + secret + "</a></xml>",
		"<xml><a/><a/></xml>",
		"<xml><a>&nbsp;</a></xml>",
		"<xml><a>" + secret + " & more</a></xml>",
		"<xml><a>1 < 2</a></xml>",
		"<xml><a>&#0;</a></xml>",
		`<?xml version="1.0" encoding="GBK"?><xml><a>1</a></xml>`,
		"<xml><a>" + secret + "\xff</a></xml>",
		"<xml><a><![CDATA[" + secret + "\xc3]]></a></xml>",
		"<xml><a>" + secret + "\x00</a></xml>",
		"\uFEFF\uFEFF<xml><a>1</a></xml>",
		"<xml>\uFEFF<a>1</a></xml>",
		`<?xml version="1.0"?><?xml version="1.0"?><xml/>`,
		`<!-- c --><?xml version="1.0"?><xml/>`,
		`<xml/><?xml version="1.0"?>`,
		`<?xml-stylesheet href="x"?><xml/>`,
		`<xml><?pi x?><a>1</a></xml>`,
		`<xml><a><?pi x?>1</a></xml>`,
		`<xml a=b><c>1</c></xml>`,
		"<xml><a",
	} {
		got, err := decodeXML([]byte(doc), "xml")
		require.ErrorIs(t, err, errMalformed, "%q", doc)
		require.Nil(t, got)
		require.NotContains(t, err.Error(), secret, "errors must not quote the document")
	}
}

func TestReadBody(t *testing.T) {
	full := bytes.Repeat([]byte("x"), maxBody)
	got, err := readBody(iotest.OneByteReader(bytes.NewReader(full)))
	require.NoError(t, err)
	require.Equal(t, full, got)

	_, err = readBody(bytes.NewReader(append(full, 'x')))
	require.ErrorIs(t, err, errTooLarge)

	boom := errors.New("reset")
	_, err = readBody(io.MultiReader(strings.NewReader("<xml>"), iotest.ErrReader(boom)))
	require.ErrorIs(t, err, boom)
}

func TestValidText(t *testing.T) {
	for s, want := range map[string]bool{
		"": true, "plain \t\n\r": true, "商品 😀": true, "\uE000\uFFFD\U0010FFFF": true, "\x7f": true,
		"\x00": false, "\x08": false, "\x1f": false, "\xff": false, "\xc3": false,
		"\xed\xa0\x80": false, "\uFFFE": false, "\uFFFF": false,
	} {
		require.Equal(t, want, validText(s), "%q", s)
	}
}

func TestNonceAndTime(t *testing.T) {
	a, b := newNonce(), newNonce()
	require.Len(t, a, 32)
	require.NotEqual(t, a, b)
	at := time.Date(2024, 6, 3, 2, 15, 42, 0, time.UTC)
	require.Equal(t, "2024-06-03 10:15:42", at.In(chinaTime).Format(timeLayout))
}

// FuzzCodec checks that whatever decodeXML accepts encodes again (when its
// names are ASCII) and decodes back to the same fields.
func FuzzCodec(f *testing.F) {
	f.Add([]byte("<xml><a><![CDATA[x]]]]><![CDATA[>y]]></a><b>&#13;\n</b></xml>"))
	f.Add(readVector(f, "refundquery_response_9_3.xml"))
	f.Add(readVector(f, "notify_9_4.xml"))
	f.Fuzz(func(t *testing.T, body []byte) {
		fields, err := decodeXML(body, "xml")
		if err != nil {
			return
		}
		for name, v := range fields {
			if !validText(v) {
				t.Fatalf("decoded a value XML cannot carry: %q", v)
			}
			if !validName(name) {
				return
			}
		}
		doc, err := encodeXML("xml", fields)
		if err != nil {
			t.Fatalf("cannot encode what was decoded: %v", err)
		}
		back, err := decodeXML(doc, "xml")
		if err != nil {
			t.Fatalf("cannot decode %q: %v", doc, err)
		}
		if len(back) != len(fields) {
			t.Fatalf("%d fields became %d", len(fields), len(back))
		}
		for k, v := range fields {
			if back[k] != v {
				t.Fatalf("field %s: %q became %q", k, v, back[k])
			}
		}
	})
}
