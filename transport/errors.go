package transport

// unreachableError marks err as "the host could not be reached" without
// changing its text.
type unreachableError struct{ err error }

func (u *unreachableError) Error() string        { return u.err.Error() }
func (u *unreachableError) Unwrap() error        { return u.err }
func (u *unreachableError) Is(target error) bool { return target == ErrUnreachable }

func unreachable(err error) error { return &unreachableError{err} }
