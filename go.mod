module github.com/go-wxpay/wxrefund

go 1.26.0

require golang.org/x/crypto v0.59.0

require github.com/stretchr/testify v1.12.1 // indirect
