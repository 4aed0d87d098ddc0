//go:build !race

package sqlstore

// xpDefaultNotifications is TestAcrossProcesses' size.
const xpDefaultNotifications = 300
