package wxrefund

import (
	"encoding/base64"
	"fmt"
)

// decryptReqInfo decodes and decrypts a notification's req_info with the
// Client's notification key: AES-256-ECB, key = lowercase hex MD5 of the API
// key, strict PKCS#7 padding. Errors wrap ErrDecrypt and never contain key
// material, ciphertext or plaintext.
//
// See https://pay.weixin.qq.com/wiki/doc/api/jsapi.php?chapter=9_16.
func (c *Client) decryptReqInfo(reqInfo string) ([]byte, error) {
	if reqInfo == "" {
		return nil, fmt.Errorf("%w: req_info is empty", ErrDecrypt)
	}
	ct := make([]byte, base64.StdEncoding.DecodedLen(len(reqInfo)))
	n, err := base64.StdEncoding.Decode(ct, []byte(reqInfo))
	if err != nil {
		return nil, fmt.Errorf("%w: req_info is not standard base64", ErrDecrypt)
	}
	return c.sec.decrypt(ct[:n])
}
