//go:build race

package sqlstore

// xpDefaultNotifications is TestAcrossProcesses' size under the race
// detector, which slows every process several times.
const xpDefaultNotifications = 100
