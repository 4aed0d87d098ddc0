//go:build !race

package wxrefund_test

// loadPerWorker is how many refunds each goroutine of the load test makes
// (see refund_load_race_test.go).
const loadPerWorker = 500
