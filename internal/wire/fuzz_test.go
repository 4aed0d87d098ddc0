package wire

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"
)

// fuzzDocs seeds the XML fuzz targets: every vector document, the decrypted
// notification and a set of malformed shapes.
func fuzzDocs(f *testing.F) [][]byte {
	f.Helper()
	var docs [][]byte
	names, err := filepath.Glob(filepath.Join(vectorsDir, "*.xml"))
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
	} {
		docs = append(docs, []byte(s))
	}
	return docs
}

// FuzzDecode: Decode never panics, and whatever it accepts re-encodes to a
// document that decodes to the same map.
func FuzzDecode(f *testing.F) {
	for _, d := range fuzzDocs(f) {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, roots := range [][]string{{"xml"}, {"root", "xml"}} {
			m, err := Decode(data, roots...)
			if err != nil {
				if m != nil {
					t.Fatalf("Decode returned a map and an error")
				}
				continue
			}
			for k, v := range m {
				if !ValidText(v) {
					t.Fatalf("Decode accepted a value XML cannot carry in %q", k)
				}
			}
			enc, err := Encode(m)
			if err != nil {
				// Only names outside the ASCII subset Encode writes may fail.
				for k := range m {
					if !isName(k) {
						return
					}
				}
				t.Fatalf("Encode(Decode(x)) failed: %v", err)
			}
			back, err := Decode(enc, "xml")
			if err != nil {
				t.Fatalf("Decode(Encode(m)) failed: %v\n%q", err, enc)
			}
			if len(back) != len(m) {
				t.Fatalf("round trip changed the field count %d -> %d", len(m), len(back))
			}
			for k, v := range m {
				if back[k] != v {
					t.Fatalf("round trip changed %q: %q -> %q", k, v, back[k])
				}
			}
		}
	})
}

// FuzzEncodeRoundTrip: for arbitrary keys and values, Encode either refuses
// or produces a document that decodes to exactly the input.
func FuzzEncodeRoundTrip(f *testing.F) {
	f.Add("a", "1", "b", "")
	f.Add("refund_desc", "商品缺货", "sign", "F6D21A6A2156D461B557F665B8D98017")
	f.Add("a", "]]>", "b", "]]]]>>")
	f.Add("a", "<![CDATA[x]]>", "b", "&lt;&amp;")
	f.Add("a", "line\r\nbreak\r", "b", "\n")
	f.Add("a", "\x00", "b", "\xff")
	f.Add("", "x", "1a", "y")
	f.Add("a b", "x", "a<", "y")
	f.Add("x", "same", "x", "same")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		m := map[string]string{k1: v1, k2: v2}
		enc, err := Encode(m)
		valid := true
		for k, v := range m {
			if !isName(k) || !ValidText(v) {
				valid = false
			}
		}
		if err != nil {
			if valid {
				t.Fatalf("Encode refused valid input: %v", err)
			}
			return
		}
		if !valid {
			t.Fatalf("Encode accepted invalid input")
		}
		enc2, _ := Encode(m)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("Encode is not deterministic")
		}
		back, err := Decode(enc, "xml")
		if err != nil {
			t.Fatalf("Decode(Encode(m)) failed: %v\n%q", err, enc)
		}
		if len(back) != len(m) {
			t.Fatalf("field count %d -> %d", len(m), len(back))
		}
		for k, v := range m {
			if back[k] != v {
				t.Fatalf("%q: %q -> %q (document %q)", k, v, back[k], enc)
			}
		}
	})
}

// FuzzDecryptECB: DecryptECB never panics; whatever it accepts re-encrypts
// to the same ciphertext (strict padding means one plaintext per ciphertext).
func FuzzDecryptECB(f *testing.F) {
	b := NotifyKey("Illustr8tiveApiV2Key0123456789Ab")
	f.Add([]byte{})
	f.Add(make([]byte, 15))
	f.Add(make([]byte, 16))
	f.Add(make([]byte, 17))
	f.Add(EncryptECB(b, nil))
	f.Add(EncryptECB(b, []byte("<root><out_refund_no>1</out_refund_no></root>")))
	for _, d := range fuzzDocs(f) {
		if m, err := Decode(d, "xml"); err == nil && m["req_info"] != "" {
			if ct, err := base64.StdEncoding.DecodeString(m["req_info"]); err == nil {
				f.Add(ct)
			}
		}
	}
	f.Fuzz(func(t *testing.T, ct []byte) {
		orig := bytes.Clone(ct)
		pt, err := DecryptECB(b, ct)
		if !bytes.Equal(orig, ct) {
			t.Fatalf("DecryptECB modified its input")
		}
		if err != nil {
			if pt != nil {
				t.Fatalf("plaintext returned with an error")
			}
			return
		}
		if len(ct)-len(pt) < 1 || len(ct)-len(pt) > 16 {
			t.Fatalf("stripped %d bytes of padding", len(ct)-len(pt))
		}
		if !bytes.Equal(EncryptECB(b, pt), ct) {
			t.Fatalf("re-encryption differs")
		}
	})
}
