package event

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestHostErrorFormat(t *testing.T) {
	cause := errors.New("exit status 3")
	for _, c := range []struct {
		err        *HostError
		text, bare string
	}{
		{&HostError{Host: "web4", Err: cause}, "web4: exit status 3", "exit status 3"},
		{&HostError{Host: "web4", Resource: "app-container", Err: cause}, "web4: app-container: exit status 3", "exit status 3"},
		{&HostError{Host: "web4"}, "web4: failed", "failed"},
	} {
		if got := c.err.Error(); got != c.text {
			t.Errorf("Error() = %q, want %q", got, c.text)
		}
		if got := c.err.Cause(); got != c.bare {
			t.Errorf("Cause() = %q, want %q", got, c.bare)
		}
	}
}

// A HostError is transparent to errors.Is and errors.As, also joined
// with other hosts' errors, the way push returns them.
func TestHostErrorUnwraps(t *testing.T) {
	pe := &fs.PathError{Op: "write", Path: "/etc/app.conf", Err: fs.ErrPermission}
	joined := errors.Join(
		&HostError{Host: "web5", Err: errors.New("other")},
		&HostError{Host: "web4", Resource: "conf", Err: fmt.Errorf("apply: %w", pe)},
	)
	if !errors.Is(joined, fs.ErrPermission) {
		t.Error("errors.Is does not reach the cause")
	}
	var got *fs.PathError
	if !errors.As(joined, &got) || got.Path != "/etc/app.conf" {
		t.Error("errors.As does not reach the cause")
	}
	var he *HostError
	if !errors.As(joined, &he) || he.Host != "web5" {
		t.Errorf("errors.As HostError: %v", he)
	}
}
