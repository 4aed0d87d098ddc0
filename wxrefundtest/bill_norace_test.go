//go:build !race

package wxrefundtest_test

// largeBillRows is the size of TestLargeBill's bill (see bill_race_test.go).
const largeBillRows = 1_000_000
