// Command wxrefund is a command line for the people on call for a WeChat
// Pay API v2 refund integration: look refunds up, settle the ones left in
// doubt, make refunds one by one or in batches, download and reconcile the
// day's refund bill, decrypt a notification, check a signature and a
// certificate, without writing code.
//
//	go install github.com/go-wxpay/wxrefund/cmd/wxrefund@latest
//	wxrefund help
//
// Credentials come from flags, then the WXPAY_* environment variables that
// the examples read, then a configuration file; the API key never from a
// flag. Nothing prints the API key, the private key or a full signature.
// Exit codes: 0 done, 1 a final failure or a difference found, 2 usage,
// 3 configuration, 4 outcome unknown (run the same command again later).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// The exit codes, by outcome.
const (
	exitOK      = 0 // done: the refund exists, the bill added up, no difference
	exitFailed  = 1 // a final failure, or a difference found (reconcile, verify, cert)
	exitUsage   = 2 // the command line is wrong
	exitConfig  = 3 // the configuration is wrong or missing (credentials, certificate)
	exitUnknown = 4 // the outcome is unknown or nothing was sent: run the same command again later
)

// command is a subcommand.
type command struct {
	name, synopsis, summary string
	run                     func(a *app, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"query", "query (-out-refund-no NO | -refund-id ID | -out-trade-no NO | -transaction-id ID) [flags]",
			"look refunds up: one refund, or every refund of an order", runQuery},
		{"resolve", "resolve -out-refund-no NO (-out-trade-no NO | -transaction-id ID) -total FEN -refund FEN [flags]",
			"settle a refund left in doubt: find it, or send the same request if WeChat Pay has none", runResolve},
		{"refund", "refund -out-refund-no NO (-out-trade-no NO | -transaction-id ID) -total FEN -refund FEN [-yes] [flags]",
			"make one refund (asks for confirmation unless -yes)", runRefund},
		{"batch", "batch -in refunds.csv -results results.csv [-rate N] [flags]",
			"make many refunds from a CSV, resumable, never twice", runBatch},
		{"bill", "bill -date YYYY-MM-DD [-format csv|jsonl] [-out FILE] [flags]",
			"download a day's refund bill as CSV or JSON lines", runBill},
		{"reconcile", "reconcile -date YYYY-MM-DD -refunds FILE [flags]",
			"compare a day's bill with a CSV of your own refunds", runReconcile},
		{"decrypt", "decrypt [FILE] [flags]",
			"decrypt a refund notification body (from FILE or standard input)", runDecrypt},
		{"verify", "verify [FILE] [flags]",
			"check the signature of a request or answer body, and say why it fails", runVerify},
		{"cert", "cert [-days N] [flags]",
			"show the merchant certificate and fail when it expires within N days", runCert},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	a := &app{ctx: ctx, stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, env: os.Getenv,
		interactive: isTerminal(os.Stdin) && isTerminal(os.Stderr)}
	code := a.main(os.Args[1:])
	stop()
	os.Exit(code)
}

// app is one run of the program, with its streams and environment (tests
// give their own).
type app struct {
	ctx            context.Context
	stdin          io.Reader
	stdout, stderr io.Writer
	env            func(string) string
	interactive    bool  // a person at a terminal: prompts and progress
	writeErr       error // the first failed write to standard output
}

// printf writes to standard output; a failed write is remembered, and ends
// the command with exit 1 (a full disk must not pass for a finished bill).
func (a *app) printf(format string, args ...any) { a.note(fmt.Fprintf(a.stdout, format, args...)) }

// note remembers the first failed write to standard output.
func (a *app) note(_ int, err error) {
	if err != nil && a.writeErr == nil {
		a.writeErr = err
	}
}

// eprintf writes to standard error, where a failure has nowhere to go.
func (a *app) eprintf(format string, args ...any) { _, _ = fmt.Fprintf(a.stderr, format, args...) }

// main runs the command in args and returns the exit code.
func (a *app) main(args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		if len(args) > 1 {
			return a.main([]string{args[1], "-h"})
		}
		a.usage(a.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(a, args[1:])
			if err == nil && a.writeErr != nil {
				err = failf(exitFailed, "writing the output: %v", a.writeErr)
			}
			return a.report(err)
		}
	}
	a.eprintf("wxrefund: unknown command %q; run \"wxrefund help\" for the list\n", args[0])
	return exitUsage
}

// usage prints the command list, the configuration and the exit codes.
func (a *app) usage(w io.Writer) {
	_, _ = fmt.Fprint(w, "usage: wxrefund <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		_, _ = fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	_, _ = fmt.Fprint(w, "\n"+configHelp+"\n"+exitHelp)
	_, _ = fmt.Fprint(w, "\nRun \"wxrefund help <command>\" for a command's flags.\n")
}

const exitHelp = `Exit codes:
  0  done: the refund exists as asked, the bill added up, no difference found
  1  a final failure (WeChat Pay refused the request for good), or a difference
     found by reconcile, verify or cert
  2  usage: the command line is wrong
  3  configuration: a credential, certificate or file is wrong or missing
  4  the outcome is unknown, or nothing was sent: run the same command again later
     (for a refund, the same out_refund_no and amounts; "resolve" settles it)
`

// exitError is a failure with its exit code and one line that says what
// happened and what to do.
type exitError struct {
	code int
	msg  string
	err  error // the cause, for errors.Is
}

func (e *exitError) Error() string { return e.msg }
func (e *exitError) Unwrap() error { return e.err }

// failf returns an exitError.
func failf(code int, format string, args ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

// usageErr is a command-line mistake.
func usageErr(format string, args ...any) error { return failf(exitUsage, format, args...) }

// report prints err as one line and returns its exit code.
func (a *app) report(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		ee = sdkError(err)
	}
	if ee.code == exitOK {
		return exitOK // -h: the usage was printed
	}
	msg := strings.ReplaceAll(strings.TrimPrefix(ee.msg, "wxrefund: "), "\n", " ")
	a.eprintf("%s\n", "wxrefund: "+msg)
	return ee.code
}

// sortedKeys returns m's keys, sorted.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// commandSynopsis is the synopsis of the command name.
func commandSynopsis(name string) string {
	for _, c := range commands {
		if c.name == name {
			return c.synopsis
		}
	}
	return name
}
