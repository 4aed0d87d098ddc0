package wxrefundtest

// The fake's own codec, for the external tests (package wxrefundtest_test),
// so that they build and read messages without package wxrefund's codec.
// codec_test.go checks it against WeChat Pay's published vectors, and the
// tests that go through wxrefund.Client check that the two agree.
var (
	Sign       = sign
	EncodeXML  = encodeXML
	DecodeXML  = decodeXML
	DecryptECB = decryptECB
)
