//go:build race

package wxrefund

// blLargeBill is the size of the generated bill; smaller under the race
// detector, which slows parsing several times.
const blLargeBill = 30_000
