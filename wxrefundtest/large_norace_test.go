//go:build !race

package wxrefundtest_test

// largeBillRows is the size of TestLargeBill's bill (see large_race_test.go).
const largeBillRows = 1_000_000
