package executors

import (
	"context"
	"fmt"
	"strings"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/event"
)

// Change is one differing field of a plan (see event.Change): plans carry
// data, renderers format it.
type Change = event.Change

// Action is what a step does to a resource.
type Action string

const (
	ActionNone     Action = "none"
	ActionCreate   Action = "create"   // container: create and start (or only create when stopped is wanted)
	ActionStart    Action = "start"    // container exists, stopped
	ActionStop     Action = "stop"     // container running, stopped is wanted
	ActionRecreate Action = "recreate" // container differs from its spec
	ActionRemove   Action = "remove"   // container, image or file present, absent is wanted
	ActionCleanup  Action = "cleanup"  // container matches; only a leftover of an interrupted push is removed
	ActionPull     Action = "pull"     // image missing, or pull: always
	ActionWrite    Action = "write"    // file content missing or different
	ActionChattr   Action = "chattr"   // file mode/owner/group differ, content matches
	ActionUp       Action = "up"       // compose project not (fully) up
	ActionDown     Action = "down"     // compose project up, down is wanted
	ActionRestart  Action = "restart"  // container refresh after a notification
	ActionRepull   Action = "repull"   // image refresh after a notification
	ActionReup     Action = "reup"     // compose refresh after a notification
	// ActionRefuse: a network or volume differs (or is to be removed) but
	// changing it is not safe or not allowed (in use, not vigo's, holds
	// data); applying it fails, saying why and what to do.
	ActionRefuse Action = "refuse"
)

// Step is the plan for one resource: what to do, why, and which fields
// differ (as structured changes). It is computed by a pure function of the desired spec and the
// observed state, so that dry-run and golden tests show exactly what a
// push would do. A step never holds a secret value in any printed field.
type Step struct {
	Resource string
	Type     string
	Action   Action
	Reason   string
	Diff     []Change
	// Triggered names the resources whose change triggered this
	// resource's refresh (set by converge).
	Triggered []string

	spec Spec   // what Apply works from
	obs  *State // what Plan saw
}

// Changes says whether applying the step would change the host. A pull
// with pull: always is reported as a possible change; Apply tells.
func (s Step) Changes() bool { return s.Action != ActionNone }

// String is the stable text form of the step, used by dry-run and by
// golden tests: one header line, then one indented line per change.
func (s Step) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s): %s", s.Resource, s.Type, s.Action)
	if s.Reason != "" {
		fmt.Fprintf(&b, ": %s", s.Reason)
	}
	if len(s.Triggered) > 0 {
		fmt.Fprintf(&b, " [notified by %s]", strings.Join(s.Triggered, ", "))
	}
	b.WriteByte('\n')
	for _, c := range s.Diff {
		fmt.Fprintf(&b, "    %s\n", c)
	}
	return b.String()
}

// diffReason is a step's reason from its changes: the one difference,
// or the names of the fields that differ.
func diffReason(diff []Change) string {
	if len(diff) == 1 {
		return diff[0].Field + " " + diff[0].Value()
	}
	names := make([]string, 0, len(diff))
	for _, c := range diff {
		names = append(names, c.Field)
	}
	return "differs: " + strings.Join(names, ", ")
}

// keyContainers is the state key of the container list: a resource that
// reads which containers use something (a network, a volume) is planned
// again after a container changed.
const keyContainers = "containers"

// Outcome is what applying a step did.
type Outcome struct {
	Changed bool
	// Detail refines the step's reason after the fact, e.g. a pull:
	// always that found the same image ID.
	Detail string
	// Warnings are things the operator must know that did not fail the
	// step (e.g. a temporary file that could not be removed), each naming
	// the host and what was left.
	Warnings []string
}

// Env is what decoding needs besides the resource itself.
type Env struct {
	// StockpileDir is where file sources are read from.
	StockpileDir string
	// SourceOutside lets a file source be a symlink leading out of the
	// stockpile directory (the operator's opt-in; see readSource).
	SourceOutside bool
	// Secrets maps secret paths to resolved values.
	Secrets map[string]string
	// Offline decodes without secrets (validate, and push before it
	// connects): a secret reference stands for a value that is set.
	Offline bool
	// Run is the run's ID, recorded on the containers it creates (see
	// LabelRun); empty: none recorded.
	Run string
}

// Spec is one decoded resource: it says what it needs observed, plans
// purely against the observed state, and applies a step.
type Spec interface {
	Resource() desired.Resource
	// Needs adds what Plan must see to n.
	Needs(n *Needs)
	// Keys are the state keys the resource reads (for re-observation
	// after an earlier resource changed one of them).
	Keys() []string
	// Touches are the state keys applying the resource may change.
	Touches() []string
	// Plan is pure: no I/O.
	Plan(o *State) Step
	// Apply carries a step out on the host.
	Apply(ctx context.Context, h Host, st Step) (Outcome, error)
	// Refresh runs when a notification triggered the resource and its
	// own step changed nothing (restart, re-pull, re-up; file: nothing).
	Refresh(ctx context.Context, h Host, o *State) (Outcome, error)
	// RefreshAction is the action Refresh performs (ActionNone: nothing).
	RefreshAction() Action
}

// Plan plans a spec against the state and keeps what Apply needs.
func Plan(sp Spec, o *State) Step {
	st := sp.Plan(o)
	r := sp.Resource()
	st.Resource, st.Type = r.Name, r.Type
	st.spec, st.obs = sp, o
	return st
}

// Apply applies a planned step.
func Apply(ctx context.Context, h Host, st Step) (Outcome, error) {
	if st.spec == nil {
		return Outcome{}, fmt.Errorf("resource %q: step was not planned", st.Resource)
	}
	if st.Action == ActionNone {
		return Outcome{}, nil
	}
	return st.spec.Apply(ctx, h, st)
}
