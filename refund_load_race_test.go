//go:build race

package wxrefund_test

// loadPerWorker is how many refunds each goroutine of the load test makes:
// fewer under the race detector, which makes every TLS round trip several
// times dearer. Eight workers still race each other all the way through.
const loadPerWorker = 150
