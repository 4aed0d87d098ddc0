package wxrefundtest

// This file is the fake's own codec for WeChat Pay API v2 messages: the flat
// XML documents, their signature, the AES-256-ECB of refund notifications,
// nonces and times. It is written from WeChat Pay's documentation on the
// standard library alone and shares no code with package wxrefund, so that a
// codec bug in the SDK cannot hide in the fake its tests talk to.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-wxpay/wxrefund"
)

// maxBody caps every body the fake reads: requests, notify replies and admin
// JSON. Real API v2 messages are a few KiB.
const maxBody = 64 << 10

var (
	errTooLarge  = fmt.Errorf("wxrefundtest: body over %d bytes", maxBody)
	errMalformed = errors.New("wxrefundtest: malformed XML")
	errDecrypt   = errors.New("wxrefundtest: cannot decrypt")
)

// readBody reads all of r, or fails with errTooLarge as soon as more than
// maxBody bytes arrive (it never reads more than maxBody+1).
func readBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	switch {
	case err != nil:
		return nil, err
	case len(b) > maxBody:
		return nil, errTooLarge
	}
	return b, nil
}

// China Standard Time (UTC+8, no daylight saving) and the layout of API v2
// times such as success_time, e.g. "2024-06-03 10:15:42". A fixed zone needs
// no tzdata on the host.
var chinaTime = time.FixedZone("CST", 8*3600)

const timeLayout = "2006-01-02 15:04:05"

// newNonce returns a nonce_str of 32 lowercase hex digits (128 bits from
// crypto/rand); API v2 allows up to 32 characters.
func newNonce() string {
	var b [16]byte
	rand.Read(b[:]) // never returns an error since Go 1.24
	return hex.EncodeToString(b[:])
}

// sign computes the API v2 signature of params with apiKey, as documented at
// https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=4_3: the
// parameters other than sign whose values are not empty, sorted by name in
// byte order, joined as name=value with &, then "&key=" and the API key.
// HMAC-SHA256 keys an HMAC with the API key over that string; any other sign
// type is MD5. The digest is written in uppercase hex.
func sign(params map[string]string, apiKey string, signType wxrefund.SignType) string {
	var s strings.Builder
	for _, name := range slices.Sorted(maps.Keys(params)) {
		if v := params[name]; name != "sign" && v != "" {
			s.WriteString(name + "=" + v + "&")
		}
	}
	s.WriteString("key=" + apiKey)
	var sum []byte
	if signType == wxrefund.SignTypeHMACSHA256 {
		m := hmac.New(sha256.New, []byte(apiKey))
		m.Write([]byte(s.String()))
		sum = m.Sum(nil)
	} else {
		d := md5.Sum([]byte(s.String()))
		sum = d[:]
	}
	return strings.ToUpper(hex.EncodeToString(sum))
}

// notifyCipher is the AES-256 cipher of refund notifications
// (https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_16): its key
// is the 32 ASCII characters of the lowercase hex MD5 of the API key.
func notifyCipher(apiKey string) cipher.Block {
	sum := md5.Sum([]byte(apiKey))
	c, err := aes.NewCipher([]byte(hex.EncodeToString(sum[:])))
	if err != nil {
		panic(err) // unreachable: 32 bytes is an AES-256 key
	}
	return c
}

// encryptECB pads plaintext with PKCS#7 and encrypts it with AES-256-ECB
// under the notification key of apiKey, one 16-byte block at a time.
func encryptECB(apiKey string, plaintext []byte) []byte {
	c := notifyCipher(apiKey)
	pad := aes.BlockSize - len(plaintext)%aes.BlockSize
	out := append(bytes.Clone(plaintext), bytes.Repeat([]byte{byte(pad)}, pad)...)
	for b := out; len(b) > 0; b = b[aes.BlockSize:] {
		c.Encrypt(b, b)
	}
	return out
}

// decryptECB reverses encryptECB: it fails unless the ciphertext is whole
// blocks and ends in valid PKCS#7 padding (1 to 16 bytes, each equal to the
// count), which a wrong key almost never produces.
func decryptECB(apiKey string, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: %d bytes are not whole AES blocks", errDecrypt, len(ciphertext))
	}
	c := notifyCipher(apiKey)
	out := bytes.Clone(ciphertext)
	for b := out; len(b) > 0; b = b[aes.BlockSize:] {
		c.Decrypt(b, b)
	}
	pad := int(out[len(out)-1])
	if pad < 1 || pad > aes.BlockSize || !bytes.Equal(out[len(out)-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
		return nil, fmt.Errorf("%w: bad PKCS#7 padding (most often a wrong API key)", errDecrypt)
	}
	return out[:len(out)-pad], nil
}

// encodeXML writes fields as the children of a flat <root> document, sorted
// by name so that a map always gives the same bytes. Each value is CDATA; a
// "]]>" in a value is split across two sections and a CR goes between
// sections as &#13;, because an XML reader turns a literal CR into LF and
// the value, with any signature over it, would change. Names must be
// ASCII XML names and values XML characters; anything else is an error.
func encodeXML(root string, fields map[string]string) ([]byte, error) {
	if !validName(root) {
		return nil, fmt.Errorf("wxrefundtest: %q is not an XML element name", root)
	}
	var b strings.Builder
	b.WriteString("<" + root + ">")
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		v := fields[name]
		switch {
		case !validName(name):
			return nil, fmt.Errorf("wxrefundtest: %q is not an XML element name", name)
		case !validText(v):
			return nil, fmt.Errorf("wxrefundtest: the value of %s has characters XML cannot carry", name)
		}
		b.WriteString("<" + name + ">")
		for i, line := range strings.Split(v, "\r") {
			if i > 0 {
				b.WriteString("&#13;")
			}
			if line != "" {
				b.WriteString("<![CDATA[" + strings.ReplaceAll(line, "]]>", "]]]]><![CDATA[>") + "]]>")
			}
		}
		b.WriteString("</" + name + ">")
	}
	b.WriteString("</" + root + ">")
	return []byte(b.String()), nil
}

// validName accepts the ASCII XML names WeChat Pay's fields use: a letter or
// "_", then letters, digits, "_", "-" or ".".
func validName(s string) bool {
	for i, c := range []byte(s) {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
		if !letter && (i == 0 || !('0' <= c && c <= '9' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// validText reports whether s is UTF-8 of characters that XML 1.0 allows
// (https://www.w3.org/TR/xml/#charsets): tab, LF, CR, and U+0020 up to
// U+10FFFF except the surrogates, U+FFFE and U+FFFF.
func validText(s string) bool {
	if !utf8.ValidString(s) { // also rules out encoded surrogates
		return false
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return false
		}
	}
	return true
}

// decodeXML reads a flat document whose root element is named root into a
// map from each child's name to its text. Values may be CDATA, text with the
// five predefined entities and character references, or both. A UTF-8 byte
// order mark, one XML declaration before everything else, comments and
// white space between elements are accepted; attributes are ignored. It
// fails with errMalformed on anything else: DOCTYPE and other directives,
// other processing instructions, elements inside a child, a child that
// appears twice, another root, namespaced names, text outside the children,
// content after the root, invalid UTF-8 and syntax errors. Its errors never
// quote the document.
func decodeXML(body []byte, root string) (map[string]string, error) {
	d := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(body, []byte("\uFEFF"))))
	d.Strict = true // and no CharsetReader: a declared encoding other than UTF-8 fails
	const (
		before  = iota // root not yet open
		inRoot         // between children
		inChild        // reading a child's text
		after          // root closed
	)
	state := before
	started := false // a token other than character data was seen
	fields := make(map[string]string)
	var name string
	var text []byte
	for {
		// RawToken leaves prefixes as written and end tags unmatched; the
		// states below check both.
		tok, err := d.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			line, _ := d.InputPos()
			return nil, fmt.Errorf("%w: syntax error on line %d", errMalformed, line)
		}
		if pi, ok := tok.(xml.ProcInst); ok && (started || pi.Target != "xml") {
			return nil, fmt.Errorf("%w: a processing instruction other than a leading XML declaration", errMalformed)
		}
		if _, ok := tok.(xml.CharData); !ok {
			started = true
		}
		switch t := tok.(type) {
		case xml.Directive:
			return nil, fmt.Errorf("%w: DOCTYPE or another directive", errMalformed)
		case xml.CharData:
			if state == inChild {
				text = append(text, t...)
			} else if len(bytes.TrimSpace(t)) > 0 {
				return nil, fmt.Errorf("%w: text outside the fields", errMalformed)
			}
		case xml.StartElement:
			if t.Name.Space != "" {
				return nil, fmt.Errorf("%w: a namespaced element", errMalformed)
			}
			switch state {
			case before:
				if t.Name.Local != root {
					return nil, fmt.Errorf("%w: the root element is not <%s>", errMalformed, root)
				}
				state = inRoot
			case inRoot:
				name, text = t.Name.Local, text[:0]
				if _, dup := fields[name]; dup {
					return nil, fmt.Errorf("%w: field %s appears twice", errMalformed, printable(name))
				}
				state = inChild
			case inChild:
				return nil, fmt.Errorf("%w: an element inside field %s", errMalformed, printable(name))
			case after:
				return nil, fmt.Errorf("%w: a second root element", errMalformed)
			}
		case xml.EndElement:
			switch {
			case state == inChild && t.Name == xml.Name{Local: name}:
				if !utf8.Valid(text) {
					return nil, fmt.Errorf("%w: field %s is not UTF-8", errMalformed, printable(name))
				}
				fields[name] = string(text)
				state = inRoot
			case state == inRoot && t.Name == xml.Name{Local: root}:
				state = after
			default:
				return nil, fmt.Errorf("%w: an end tag that closes nothing open", errMalformed)
			}
		}
	}
	if state != after {
		return nil, fmt.Errorf("%w: the document ends before its root does", errMalformed)
	}
	return fields, nil
}

// printable returns name for an error message when it is a short ASCII
// field name; a hostile document could put anything there.
func printable(name string) string {
	if len(name) > 40 || !validName(name) {
		return "(unnamed)"
	}
	return name
}
