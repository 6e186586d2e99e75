package event

// HostError is a failure on one host, in the spirit of os.PathError: the
// host and, when one is at fault, the resource are data beside the cause.
// Only push (the rollout engine, which runs converge and task jobs) makes
// one, once per failed host; the layers below it (converge, executors,
// transport, secrets) never put a host name in an error's text.
// Renderers print Host and Resource from the events (Event.Host,
// Event.Resource), whose Error is the cause alone; Error() is the form
// for a joined error of many hosts (the recap, the exit message).
type HostError struct {
	Host     string
	Resource string // the resource at fault; empty: the host as a whole
	Err      error
}

func (e *HostError) Error() string {
	s := e.Host + ": "
	if e.Resource != "" {
		s += e.Resource + ": "
	}
	return s + e.Cause()
}

func (e *HostError) Unwrap() error { return e.Err }

// Cause is the message without the host and the resource: what a
// renderer prints after them.
func (e *HostError) Cause() string {
	if e.Err == nil {
		return "failed"
	}
	return e.Err.Error()
}
