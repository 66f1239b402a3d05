package ledger

import (
	"errors"
	"fmt"
	"strconv"
)

// Code is the reason a transaction was rejected, as CometBFT reports it in
// the result's code (with the codespace "vitalchain"). Code 0 is success.
type Code uint32

// Rejection codes. Their numbers are part of the interface to clients.
const (
	CodeOK             Code = 0
	CodeMalformed      Code = 1  // bytes that do not decode, or fields out of range
	CodeUnknownVersion Code = 2  // a format version this node does not know
	CodeUnknownType    Code = 3  // a transaction type this node does not know
	CodeTooLarge       Code = 4  // over a size limit
	CodeUnsigned       Code = 5  // no signature
	CodeBadSignature   Code = 6  // a signature that does not verify
	CodeUnknownSigner  Code = 7  // the signer is not registered
	CodeWrongRole      Code = 8  // the signer, or a party named, has the wrong role
	CodeReplay         Code = 9  // a sequence number already used, or too old
	CodeUnauthorized   Code = 10 // the signer may not do this
	CodeNotFound       Code = 11 // a party, contract or grant named does not exist
	CodeDuplicate      Code = 12 // it exists already
	CodeInvalid        Code = 13 // well formed, but contrary to the state or the rules
	CodeContract       Code = 14 // a contract whose rules do not compile or exceed the cost limit
	CodeConsistency    Code = 15 // an anchor whose consistency proof does not verify
	CodeExpired        Code = 16 // an expiry in the past
	CodeEnvelope       Code = 17 // a key envelope bound to another context
	CodePolicy         Code = 18 // a proposal that breaks the proposer policy
	CodeWrongChain     Code = 19 // a transaction signed for another chain
	CodeOverCap        Code = 20 // over its signer's share of a block or of the mempool: retry later
	CodeErased         Code = 21 // new keys or grants for a patient whose data was erased
)

var codeNames = map[Code]string{
	CodeOK: "ok", CodeMalformed: "malformed", CodeUnknownVersion: "unknown version",
	CodeUnknownType: "unknown type", CodeTooLarge: "too large", CodeUnsigned: "unsigned",
	CodeBadSignature: "bad signature", CodeUnknownSigner: "unknown signer",
	CodeWrongRole: "wrong role", CodeReplay: "replay", CodeUnauthorized: "unauthorized",
	CodeNotFound: "not found", CodeDuplicate: "duplicate", CodeInvalid: "invalid",
	CodeContract: "contract", CodeConsistency: "consistency", CodeExpired: "expired",
	CodeEnvelope: "envelope", CodePolicy: "policy", CodeWrongChain: "wrong chain",
	CodeOverCap: "over cap", CodeErased: "erased",
}

// String returns the code's name.
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return "code(" + strconv.Itoa(int(c)) + ")"
}

// Codespace is the codespace of VitalChain's rejection codes.
const Codespace = "vitalchain"

// Error is a rejected transaction: its code and the reason.
type Error struct {
	Code Code
	Err  error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Code.String()
	}
	return e.Code.String() + ": " + e.Err.Error()
}
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, &Error{Code: c}) match any Error with code c.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Err == nil && t.Code == e.Code
}

// Rejected returns a target for errors.Is that matches any rejection with code c.
func Rejected(c Code) error { return &Error{Code: c} }

// CodeOf returns the code of err: CodeOK for nil, the code of an *Error, and
// CodeInvalid for anything else.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInvalid
}

func errorf(c Code, format string, args ...any) error {
	return &Error{Code: c, Err: fmt.Errorf(format, args...)}
}

func wrap(c Code, context string, err error) error {
	if context != "" {
		err = fmt.Errorf("%s: %w", context, err)
	}
	return &Error{Code: c, Err: err}
}
