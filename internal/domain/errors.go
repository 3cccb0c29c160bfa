// Package domain holds the tenant onboarding model: the tenant record and its
// lifecycle, input validation, message contracts and the interfaces the
// adapters (Table Storage, Service Bus, Graph) implement.
package domain

import (
	"errors"
	"fmt"
	"time"
)

// Code classifies an error. Handlers map codes to HTTP statuses in one place;
// queue functions map them to complete-with-rejection (permanent) or
// fail-for-redelivery (transient).
type Code string

const (
	CodeInvalid            Code = "invalid"             // bad input; never succeeds on retry
	CodeNotFound           Code = "not_found"           // the thing does not exist
	CodeConflict           Code = "conflict"            // already exists / taken
	CodePreconditionFailed Code = "precondition_failed" // stale ETag: someone else updated first
	CodeForbidden          Code = "forbidden"           // caller may not do this
	CodeUnauthenticated    Code = "unauthenticated"     // no or bad credentials
	CodeGone               Code = "gone"                // existed, expired or superseded
	CodeUnavailable        Code = "unavailable"         // transient: a dependency is down or throttling
	CodeInternal           Code = "internal"            // a bug or an unexpected state
)

// Error is the one error type of the domain. Field names the input field at
// fault (JSON path style, e.g. "contacts[0].email") when there is one.
type Error struct {
	Code    Code
	Field   string
	Message string
	Err     error
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" && msg != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		if msg == "" {
			return e.Err.Error()
		}
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError builds a CodeInvalid error naming the field and the rule broken.
func FieldError(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// Wrap attaches a code and context to err.
func Wrap(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, CodeInternal
// for other non-nil errors and "" for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// ErrorField returns the Field of the first *Error in err's chain.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// IsTransient reports whether retrying later may succeed.
func IsTransient(err error) bool {
	return ErrorCode(err) == CodeUnavailable
}

// RetryAfter returns the wait a transient error's server asked for (an error
// in the chain with a RetryAfter() method), 0 if none.
func RetryAfter(err error) time.Duration {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return ra.RetryAfter()
	}
	return 0
}

// Errors collects several field errors so a caller sees every problem at once.
type Errors []*Error

func (es Errors) Error() string {
	if len(es) == 1 {
		return es[0].Error()
	}
	s := fmt.Sprintf("%d problems: ", len(es))
	for i, e := range es {
		if i > 0 {
			s += "; "
		}
		s += e.Error()
	}
	return s
}

// Err returns nil when there are no errors, so `return errs.Err()` is safe.
func (es Errors) Err() error {
	switch len(es) {
	case 0:
		return nil
	case 1:
		return es[0]
	}
	return &Error{Code: CodeInvalid, Field: es[0].Field, Err: es}
}

// Unwrap exposes the individual errors to errors.As/Is.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}
