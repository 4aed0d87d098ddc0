package wxrefund

import (
	"context"
	"errors"
	"strconv"
)

// Action is what to do about an error the SDK returned: Classify's answer.
type Action int

// The actions, one per kind of failure.
const (
	// Succeeded: the error is nil.
	Succeeded Action = iota
	// FixRequest: the request was refused locally ([ErrInvalidRequest]);
	// nothing was sent. Fix the field the error names.
	FixRequest
	// FixConfiguration: the Client's configuration is wrong: its API key,
	// certificate, AppID or mch_id, or the merchant platform's settings
	// ([ErrInvalidConfig], [ErrCertificate], [ErrCertificateRequired],
	// [ErrCertificateRejected], [ErrSignatureRejected]; see [Error.Hint]).
	// Nothing will work until it is fixed.
	FixConfiguration
	// SendLater: nothing reached WeChat Pay (the context was done, or the
	// rate limiter refused, before sending). Send the request when ready.
	SendLater
	// SendAgain: the outcome is unknown or the failure passes (a timeout,
	// an answer that cannot be trusted, SYSTEMERROR, NOTENOUGH, ...). Send
	// the same request again after a pause; for a refund, the same
	// OutRefundNo and amounts, or settle it with [Client.ResolveRefund].
	// [ErrOutcomeUnknown] has the rule and its table of codes; [Error.Hint]
	// says when something must change first (a top-up for NOTENOUGH).
	SendAgain
	// GiveUp: WeChat Pay's final answer for this request (ORDERNOTEXIST,
	// TRADE_OVERDUE, REFUNDNOTEXIST, no bill that day, ...), or an error the
	// caller's own code returned. Sending it again unchanged cannot help.
	GiveUp
)

// String names the action, such as "SendAgain".
func (a Action) String() string {
	switch a {
	case Succeeded:
		return "Succeeded"
	case FixRequest:
		return "FixRequest"
	case FixConfiguration:
		return "FixConfiguration"
	case SendLater:
		return "SendLater"
	case SendAgain:
		return "SendAgain"
	case GiveUp:
		return "GiveUp"
	}
	return "Action(" + strconv.Itoa(int(a)) + ")"
}

// Classify says what to do about err, an error of any call of this package
// (Refund, QueryRefund, AllRefunds, ResolveRefund, DownloadRefundBill,
// DecryptNotify, NewClient): the one switch a caller needs, in the order that
// matters. It reads the error's kind and, for an *Error, WeChat Pay's code.
//
//	switch wxrefund.Classify(err) {
//	case wxrefund.Succeeded:
//	case wxrefund.SendAgain: // outcome unknown: same request later, or ResolveRefund
//	case wxrefund.GiveUp:    // final: record the failure
//	default:                 // FixRequest, FixConfiguration, SendLater
//	}
//
// IsRetryable is true for the SendAgain errors that need no change first
// (all but NOTENOUGH and REFUND_FEE_MISMATCH, whose Hint says what to do).
// A notification that fails (DecryptNotify) is GiveUp: WeChat Pay delivers
// it again by itself.
func Classify(err error) Action {
	if err == nil {
		return Succeeded
	}
	var (
		ve *ValidationError
		te *TransportError
		me *MessageError
		e  *Error
	)
	switch {
	case errors.As(err, &ve):
		return FixRequest
	case errors.Is(err, ErrOutcomeUnknown):
		// Before anything the last attempt says: when an earlier attempt's
		// outcome was unknown, the refund may exist, whatever the last
		// attempt's failure (a final code, a limiter that refused, a
		// certificate page from the other domain).
		return SendAgain
	case errors.Is(err, ErrInvalidConfig), errors.Is(err, ErrCertificate), errors.Is(err, ErrCertificateRequired),
		errors.Is(err, ErrCertificateRejected), errors.Is(err, ErrSignatureRejected):
		return FixConfiguration
	case errors.As(err, &te) && te.unsent:
		return SendLater
	case errors.As(err, &me) && me.Op == opBill && errors.Is(err, ErrMerchantMismatch):
		// Another merchant's bill: the request names the wrong
		// sub-merchant (or lacks AllSubMerchants), or the server is not
		// WeChat Pay's. Asking again gets the same bill.
		return FixConfiguration
	case errors.As(err, &te) && te.handshakeRejected():
		// The server's certificate did not verify: the trust store.
		return FixConfiguration
	case errors.As(err, &te) && errors.Is(err, context.Canceled):
		return SendLater
	case IsRetryable(err):
		return SendAgain
	case errors.As(err, &e), errors.As(err, &me), errors.As(err, &te):
		return GiveUp
	}
	return GiveUp
}
