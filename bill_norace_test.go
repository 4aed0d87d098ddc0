//go:build !race

package wxrefund

// blLargeBill is the size of the generated bill (see bill_race_test.go).
const blLargeBill = 1_000_000
