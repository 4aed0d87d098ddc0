//go:build race

package wxrefundtest_test

// largeBillRows is the size of TestLargeBill's bill; smaller under the race
// detector, which slows the server and the client several times.
const largeBillRows = 30_000
