// Package errdefs owns the error classes that crisp's packages return and the
// CRI layer maps to gRPC status codes. Lower packages wrap these sentinels
// (fmt.Errorf("pod %s: %w", id, errdefs.ErrNotFound)); only pkg/cri turns them
// into codes, so a package never needs to know it is served over gRPC.
package errdefs

import "errors"

// Error classes. Each maps to exactly one gRPC code in pkg/cri.
var (
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrUnavailable        = errors.New("unavailable")
	ErrResourceExhausted  = errors.New("resource exhausted")
	ErrDeadlineExceeded   = errors.New("deadline exceeded")
	ErrUnauthenticated    = errors.New("unauthenticated")
	ErrPermissionDenied   = errors.New("permission denied")
	ErrNotImplemented     = errors.New("not implemented")
)

// InvalidField reports a bad value in the named request field, for example
// InvalidField("metadata.name", "must not be empty").
func InvalidField(field, problem string) error {
	return &FieldError{Field: field, Problem: problem}
}

// FieldError is an invalid request field. It matches ErrInvalidArgument.
type FieldError struct {
	Field   string
	Problem string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Is makes errors.Is(err, ErrInvalidArgument) true for field errors.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidArgument }

// classes are the error classes in the order ClassOf tries them.
var classes = []error{
	ErrInvalidArgument, ErrNotFound, ErrAlreadyExists, ErrFailedPrecondition,
	ErrUnavailable, ErrResourceExhausted, ErrDeadlineExceeded,
	ErrUnauthenticated, ErrPermissionDenied, ErrNotImplemented,
}

// ClassOf returns the class err belongs to, nil if none. With ClassNamed it
// carries an error's class across a process boundary as its text.
func ClassOf(err error) error {
	for _, c := range classes {
		if errors.Is(err, c) {
			return c
		}
	}
	return nil
}

// ClassNamed returns the class whose Error() is name, nil if none.
func ClassNamed(name string) error {
	for _, c := range classes {
		if c.Error() == name {
			return c
		}
	}
	return nil
}
