package wxrefund

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ntSignVectors is testdata/vectors/sign_vectors.json.
type ntSignVectors struct {
	Vectors []struct {
		Name         string            `json:"name"`
		Key          string            `json:"key"`
		SignType     SignType          `json:"sign_type"`
		Params       map[string]string `json:"params"`
		StringToSign string            `json:"string_to_sign"`
		Sign         string            `json:"sign"`
	} `json:"vectors"`
	Documents []struct {
		Name        string   `json:"name"`
		File        string   `json:"file"`
		Key         string   `json:"key"`
		SignType    SignType `json:"sign_type"`
		Sign        string   `json:"sign"`
		EmptyFields []string `json:"empty_fields"`
	} `json:"documents"`
}

func ntLoadSignVectors(t testing.TB) ntSignVectors {
	t.Helper()
	var v ntSignVectors
	require.NoError(t, json.Unmarshal(ntReadVector(t, "sign_vectors.json"), &v))
	require.NotEmpty(t, v.Vectors)
	require.NotEmpty(t, v.Documents)
	return v
}

// ntStringToSign is the documented string-to-sign (chapter=4_3), built the
// naive way.
func ntStringToSign(params map[string]string, apiKey string) string {
	keys := make([]string, 0, len(params))
	for k, v := range params {
		if k == "sign" || v == "" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params[k])
		b.WriteByte('&')
	}
	b.WriteString("key=")
	b.WriteString(apiKey)
	return b.String()
}

// ntHash hashes a string-to-sign as the signature page (chapter=4_3) says.
func ntHash(s, apiKey string, t SignType) string {
	if t == SignTypeHMACSHA256 {
		m := hmac.New(sha256.New, []byte(apiKey))
		m.Write([]byte(s))
		return strings.ToUpper(hex.EncodeToString(m.Sum(nil)))
	}
	sum := md5.Sum([]byte(s))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// ntRefSign is a naive reference implementation of Sign.
func ntRefSign(params map[string]string, apiKey string, t SignType) string {
	return ntHash(ntStringToSign(params, apiKey), apiKey, t)
}

func TestSignKnownAnswerVectors(t *testing.T) {
	t.Parallel()
	for _, v := range ntLoadSignVectors(t).Vectors {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			if v.StringToSign != "" {
				assert.Equal(t, v.StringToSign, ntStringToSign(v.Params, v.Key), "reference string-to-sign")
				assert.Equal(t, v.Sign, ntHash(v.StringToSign, v.Key, v.SignType), "hash of the published string")
			}
			assert.Equal(t, v.Sign, Sign(v.Params, v.Key, v.SignType))
			assert.Equal(t, v.Sign, ntRefSign(v.Params, v.Key, v.SignType))

			signed := ntCopy(v.Params)
			signed["sign"] = v.Sign
			require.NoError(t, verifySign(signed, v.Key, v.SignType))
		})
	}
}

// The signature page's HMAC value is for the params without sign_type; adding
// sign_type=HMAC-SHA256 changes it (sign_type is an ordinary signed field).
func TestSignIncludesSignType(t *testing.T) {
	t.Parallel()
	v := ntLoadSignVectors(t).Vectors[1]
	require.Equal(t, SignTypeHMACSHA256, v.SignType)
	p := ntCopy(v.Params)
	p["sign_type"] = "HMAC-SHA256"
	assert.NotEqual(t, v.Sign, Sign(p, v.Key, SignTypeHMACSHA256))
	assert.Equal(t, ntRefSign(p, v.Key, SignTypeHMACSHA256), Sign(p, v.Key, SignTypeHMACSHA256))
}

func TestSignDocumentVectors(t *testing.T) {
	t.Parallel()
	for _, d := range ntLoadSignVectors(t).Documents {
		t.Run(d.Name, func(t *testing.T) {
			t.Parallel()
			fields, err := mtDecode(ntReadVector(t, d.File), "xml")
			require.NoError(t, err)
			require.Equal(t, d.Sign, fields["sign"])
			for _, k := range d.EmptyFields {
				v, ok := fields[k]
				require.True(t, ok, "%s is present", k)
				require.Empty(t, v, "%s is empty", k)
			}

			assert.Equal(t, d.Sign, Sign(fields, d.Key, d.SignType))
			assert.Equal(t, d.Sign, ntRefSign(fields, d.Key, d.SignType))
			require.NoError(t, verifySign(fields, d.Key, d.SignType))

			// Empty fields are skipped: dropping them changes nothing, giving
			// them a value does.
			for _, k := range d.EmptyFields {
				without := ntCopy(fields)
				delete(without, k)
				assert.Equal(t, d.Sign, Sign(without, d.Key, d.SignType))
				with := ntCopy(fields)
				with[k] = "ORIGINAL"
				assert.ErrorIs(t, verifySign(with, d.Key, d.SignType), ErrSignatureMismatch)
			}
			// Every field is covered: changing any one breaks the signature.
			for k := range fields {
				if k == "sign" {
					continue
				}
				m := ntCopy(fields)
				m[k] += "x"
				assert.ErrorIs(t, verifySign(m, d.Key, d.SignType), ErrSignatureMismatch, "field %s", k)
			}
			// The other algorithm does not verify.
			assert.ErrorIs(t, verifySign(fields, d.Key, SignTypeHMACSHA256), ErrSignatureMismatch)
			// Nor does another key.
			assert.ErrorIs(t, verifySign(fields, strings.ToLower(d.Key), d.SignType), ErrSignatureMismatch)
		})
	}
}

func TestSignRules(t *testing.T) {
	t.Parallel()
	const key = "Illustr8tiveApiV2Key0123456789Ab"
	tests := []struct {
		name   string
		params map[string]string
		str    string // the exact string-to-sign
	}{
		{"empty values skipped", map[string]string{"a": "1", "b": "", "c": "3"}, "a=1&c=3&key=" + key},
		{"all empty", map[string]string{"a": "", "b": ""}, "key=" + key},
		{"nil map", nil, "key=" + key},
		{"sign excluded", map[string]string{"a": "1", "sign": "ANYTHING"}, "a=1&key=" + key},
		{"sign_type is not excluded", map[string]string{"a": "1", "sign_type": "MD5"}, "a=1&sign_type=MD5&key=" + key},
		{"keys sorted byte-wise, uppercase first", map[string]string{"b": "1", "a": "2", "B": "3", "A": "4", "_": "5", "a_b": "6", "aB": "7", "a0": "8"},
			"A=4&B=3&_=5&a=2&a0=8&aB=7&a_b=6&b=1&key=" + key},
		{"prefix sorts before longer key", map[string]string{"refund_fee_0": "1", "refund_fee": "2", "refund_fee_10": "3", "refund_fee_1": "4"},
			"refund_fee=2&refund_fee_0=1&refund_fee_1=4&refund_fee_10=3&key=" + key},
		{"& and = hashed verbatim", map[string]string{"a": "x=1&y=2", "b": "&key=evil"}, "a=x=1&y=2&b=&key=evil&key=" + key},
		{"not URL-encoded", map[string]string{"notify_url": "https://m.example.com/a b?c=%20"}, "notify_url=https://m.example.com/a b?c=%20&key=" + key},
		{"UTF-8 values", map[string]string{"refund_desc": "商品缺货", "refund_recv_accout": "招商银行信用卡1234 😀"},
			"refund_desc=商品缺货&refund_recv_accout=招商银行信用卡1234 😀&key=" + key},
		{"whitespace not trimmed", map[string]string{"a": " 1 ", "b": " "}, "a= 1 &b= &key=" + key},
		{"XML specials verbatim", map[string]string{"a": "<b>&amp;]]>"}, "a=<b>&amp;]]>&key=" + key},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, st := range []SignType{SignTypeMD5, SignTypeHMACSHA256} {
				want := ntHash(tc.str, key, st)
				assert.Equal(t, want, Sign(tc.params, key, st), "%s", st)
				assert.Equal(t, want, ntRefSign(tc.params, key, st), "%s (reference)", st)
			}
		})
	}
}

func TestSignDoesNotModifyParams(t *testing.T) {
	t.Parallel()
	p := map[string]string{"a": "1", "b": "", "sign": "X"}
	Sign(p, "k", SignTypeMD5)
	assert.Equal(t, map[string]string{"a": "1", "b": "", "sign": "X"}, p)
}

func TestSignOutputFormat(t *testing.T) {
	t.Parallel()
	p := map[string]string{"a": "1"}
	md := Sign(p, "k", SignTypeMD5)
	hm := Sign(p, "k", SignTypeHMACSHA256)
	assert.Regexp(t, `^[0-9A-F]{32}$`, md)
	assert.Regexp(t, `^[0-9A-F]{64}$`, hm)
}

// The implementation writes the string-to-sign through a 512-byte buffer;
// values of every length around that size (alone, after other fields, and
// spread over many fields) must hash exactly like the naive string.
func TestSignBufferBoundaries(t *testing.T) {
	t.Parallel()
	const key = "Illustr8tiveApiV2Key0123456789Ab"
	val := func(n int, c byte) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = c + byte(i%23)
		}
		return string(b)
	}
	for n := 0; n <= 1200; n++ {
		cases := []map[string]string{
			{"a": val(n, 'a')},
			{"a": val(n, 'a'), "b": val(1200-n, 'A')},
			{"a": "1", "m": val(n, 'a'), "z": "2"},
			{"k": val(n%97, 'a'), "l": val(n, 'b'), "m": val((n*7)%600, 'c'), "n": val(509-n%10, 'd')},
			{"long_key_" + val(n%40, 'a'): val(n, 'a'), "x": val(n/2, 'b')},
			{"a": strings.Repeat("长", n/3)}, // multi-byte UTF-8 across the boundary
		}
		for i, p := range cases {
			for _, st := range []SignType{SignTypeMD5, SignTypeHMACSHA256} {
				if got, want := Sign(p, key, st), ntRefSign(p, key, st); got != want {
					t.Fatalf("n=%d case %d %s: got %s, want %s", n, i, st, got, want)
				}
			}
		}
	}
	// API keys of any length (Sign is exported; the Client's are 32), alone
	// and after fields that nearly fill the buffer.
	for _, kl := range []int{0, 1, 31, 32, 33, 100, 476, 477, 478, 507, 508, 509, 510, 511, 512, 513, 600, 1200} {
		longKey := val(kl, 'K')
		for _, p := range []map[string]string{
			{},
			{"a": "1"},
			{"a": val(512-kl%512, 'a')},
			{"a": val(470, 'a'), "b": val(kl%40, 'b')},
		} {
			for _, st := range []SignType{SignTypeMD5, SignTypeHMACSHA256} {
				if got, want := Sign(p, longKey, st), ntRefSign(p, longKey, st); got != want {
					t.Fatalf("key length %d %s: got %s, want %s", kl, st, got, want)
				}
			}
		}
	}
	// Many fields, growing one byte at a time across several buffer flushes.
	p := map[string]string{}
	for i := range 200 {
		p[fmt.Sprintf("f%03d", i)] = val(i%17, 'a')
		for _, st := range []SignType{SignTypeMD5, SignTypeHMACSHA256} {
			require.Equal(t, ntRefSign(p, key, st), Sign(p, key, st), "%d fields %s", i+1, st)
		}
	}
}

func TestSignUnknownTypeFallsBackToMD5(t *testing.T) {
	t.Parallel()
	p := map[string]string{"appid": "wxd930ea5d5a258f4f", "body": "test"}
	const key = "192006250b4c09247ec02edce69f6a2d"
	md := Sign(p, key, SignTypeMD5)
	for _, st := range []SignType{"", "SHA1", "hmac-sha256", "HMAC-SHA512", "md5"} {
		assert.Equal(t, md, Sign(p, key, st), "%q", st)
	}
	assert.NotEqual(t, md, Sign(p, key, SignTypeHMACSHA256))
	assert.False(t, SignType("hmac-sha256").valid())
	assert.True(t, SignTypeMD5.valid())
	assert.True(t, SignTypeHMACSHA256.valid())
}

func TestSignConcurrent(t *testing.T) {
	t.Parallel()
	v := ntLoadSignVectors(t).Vectors
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				x := v[(g+i)%len(v)]
				if got := Sign(x.Params, x.Key, x.SignType); got != x.Sign {
					t.Errorf("%s: got %s", x.Name, got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestVerifySign(t *testing.T) {
	t.Parallel()
	const key = "Illustr8tiveApiV2Key0123456789Ab"
	base := map[string]string{"return_code": "SUCCESS", "appid": "wx8888888888888888", "mch_id": "1900000109", "nonce_str": "abc"}
	good := Sign(base, key, SignTypeMD5)
	goodHMAC := Sign(base, key, SignTypeHMACSHA256)
	with := func(extra map[string]string) map[string]string {
		m := ntCopy(base)
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	withUnknown := with(map[string]string{"brand_new_field": "v"})
	withUnknown["sign"] = Sign(withUnknown, key, SignTypeMD5)

	tests := []struct {
		name   string
		fields map[string]string
		st     SignType
		ok     bool
	}{
		{"correct MD5", with(map[string]string{"sign": good}), SignTypeMD5, true},
		{"correct HMAC", with(map[string]string{"sign": goodHMAC}), SignTypeHMACSHA256, true},
		{"correct with an extra unknown field", withUnknown, SignTypeMD5, true},
		{"extra unknown empty field", with(map[string]string{"sign": good, "new": ""}), SignTypeMD5, true},
		{"missing sign", ntCopy(base), SignTypeMD5, false},
		{"empty sign", with(map[string]string{"sign": ""}), SignTypeMD5, false},
		{"wrong sign", with(map[string]string{"sign": "9A0A8659F005D6984697E2CA0A9CF3B7"}), SignTypeMD5, false},
		{"lowercase hex sign", with(map[string]string{"sign": strings.ToLower(good)}), SignTypeMD5, false},
		{"sign with surrounding space", with(map[string]string{"sign": " " + good + " "}), SignTypeMD5, false},
		{"truncated sign", with(map[string]string{"sign": good[:31]}), SignTypeMD5, false},
		{"sign over fewer fields (unknown field added later)", with(map[string]string{"sign": good, "injected": "1"}), SignTypeMD5, false},
		{"MD5 sign checked as HMAC", with(map[string]string{"sign": good}), SignTypeHMACSHA256, false},
		{"HMAC sign checked as MD5", with(map[string]string{"sign": goodHMAC}), SignTypeMD5, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := verifySign(tc.fields, key, tc.st)
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrSignatureMismatch)
			ntAssertNoSecrets(t, err, key, good, goodHMAC)
		})
	}
}

// mtCheck runs checkAnswer on a map, returning only the error.
func mtCheck(c *Client, fields map[string]string) error {
	_, err := c.checkAnswer("refund", mtFieldList(fields))
	return err
}

// return_code FAIL is unsigned and surfaces return_msg; otherwise
// the signature is checked over every field before appid/mch_id and
// result_code are believed.
func TestCheckAnswerVerifiesBeforeTrusting(t *testing.T) {
	t.Parallel()
	c := ntClient(t, ntAppID, ntMchID, ntKey)
	signed := func(m map[string]string) map[string]string {
		m = ntCopy(m)
		m["sign"] = Sign(m, ntKey, SignTypeMD5)
		return m
	}
	ok := map[string]string{"return_code": "SUCCESS", "return_msg": "OK", "appid": ntAppID, "mch_id": ntMchID, "nonce_str": "n", "result_code": "SUCCESS"}
	with := func(k, v string) map[string]string { m := ntCopy(ok); m[k] = v; return m }

	require.NoError(t, mtCheck(c, signed(ok)))
	vec, err := mtDecode(ntReadVector(t, "refund_response_9_2.xml"), "xml")
	require.NoError(t, err)
	require.NoError(t, mtCheck(c, vec))

	err = mtCheck(c, map[string]string{"return_code": "FAIL", "return_msg": "invalid refund_fee"})
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "invalid refund_fee", e.ReturnMsg)

	fail := signed(map[string]string{"return_code": "SUCCESS", "appid": ntAppID, "mch_id": ntMchID, "result_code": "FAIL", "err_code": "NOTENOUGH", "err_code_des": "余额不足"})
	err = mtCheck(c, fail)
	require.ErrorAs(t, err, &e)
	assert.Equal(t, CodeNotEnough, e.ErrCode)

	// A FAIL that does not verify is not believed.
	forged := ntCopy(fail)
	forged["err_code"] = CodeSystemError
	require.ErrorIs(t, mtCheck(c, forged), ErrSignatureMismatch)

	for name, tc := range map[string]struct {
		fields map[string]string
		target error
	}{
		"no return_code":      {map[string]string{"return_msg": "x"}, ErrMalformed},
		"unsigned SUCCESS":    {ok, ErrSignatureMismatch},
		"lowercase sign":      {func() map[string]string { m := signed(ok); m["sign"] = strings.ToLower(m["sign"]); return m }(), ErrSignatureMismatch},
		"tampered after sign": {func() map[string]string { m := signed(ok); m["refund_fee"] = "1"; return m }(), ErrSignatureMismatch},
		"foreign appid":       {signed(with("appid", "wx0000000000000000")), ErrMerchantMismatch},
		"foreign mch_id":      {signed(with("mch_id", "1")), ErrMerchantMismatch},
		"odd result_code":     {signed(with("result_code", "PENDING")), ErrMalformed},
		"missing result_code": {signed(with("result_code", "")), ErrMalformed},
	} {
		err := mtCheck(c, tc.fields)
		require.ErrorIs(t, err, tc.target, name)
		var me *MessageError
		require.ErrorAs(t, err, &me, name)
		assert.Equal(t, "refund", me.Op)
		assert.Equal(t, 1, strings.Count(err.Error(), "wxrefund:"), "%s: the prefix appears once: %v", name, err)
		ntAssertNoSecrets(t, err, ntKey)
	}
}
