package executors

import (
	"context"
	"fmt"
	"strings"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/stockpile"
)

// docker_volume: a named volume, created and compared with what the
// engine reports. A volume may hold data, and the engine cannot change a
// volume's driver, options or labels in place: a difference is reported
// and refused unless the resource says recreate: true (its data is then
// deleted). A volume in use by a container (running or not) is never
// removed; one vigo did not create is replaced or removed only with
// take_over: true.

var dockerVolumeType = Type{
	Schema: stockpile.TypeSchema{
		Type: "docker_volume",
		Doc:  "a named volume present or absent; containers mount it as NAME:/path",
		Key:  "volume",
		Fields: []stockpile.Field{
			{Name: "volume", Kind: stockpile.KindString, Required: true, Doc: "volume name on the host"},
			{Name: "driver", Kind: stockpile.KindString, Default: "local", Doc: "volume driver"},
			{Name: "driver_opts", Kind: stockpile.KindMap, Doc: "driver options, e.g. type, device, o for local"},
			{Name: "labels", Kind: stockpile.KindMap, Doc: "volume labels (no secret references)"},
			{Name: "state", Kind: stockpile.KindString, Enum: []string{"present", "absent"}, Default: "present", Doc: "absent removes the volume and its data"},
			{Name: "recreate", Kind: stockpile.KindBool, Default: "false", Doc: "when driver, driver_opts or labels differ, delete the volume and its data and create it anew (false: refused)"},
			{Name: "take_over", Kind: stockpile.KindBool, Default: "false", Doc: "let vigo recreate or remove a volume of this name that it did not create"},
		},
	},
	Decode: decodeVolume,
}

// volumeSpec is a decoded docker_volume resource.
type volumeSpec struct {
	res      desired.Resource
	Name     string
	Driver   string
	Opts     map[string]string
	Labels   map[string]string
	State    string
	Recreate bool
	TakeOver bool
}

func decodeVolume(f fields, _ Env) (Spec, error) {
	s := &volumeSpec{res: f.r}
	var err error
	if s.Name, err = f.str("volume"); err != nil {
		return nil, err
	}
	if s.Name == "" {
		return nil, f.errorf("volume", "required")
	}
	if !volumeNameRE.MatchString(s.Name) {
		return nil, f.errorf("volume", "%q is not a volume name (two or more of [a-zA-Z0-9_.-], starting with a letter or digit)", s.Name)
	}
	if s.Driver, err = f.str("driver"); err != nil {
		return nil, err
	}
	s.Driver = orDefault(s.Driver, f.def("driver"))
	if !driverRE.MatchString(s.Driver) {
		return nil, f.errorf("driver", "%q is not a driver name", s.Driver)
	}
	if s.Opts, err = f.strMap("driver_opts"); err != nil {
		return nil, err
	}
	if s.Labels, err = userLabels(f, "labels"); err != nil {
		return nil, err
	}
	if s.State, err = f.enum("state"); err != nil {
		return nil, err
	}
	if s.Recreate, err = f.boolean("recreate"); err != nil {
		return nil, err
	}
	if s.TakeOver, err = f.boolean("take_over"); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *volumeSpec) Resource() desired.Resource { return s.res }
func (s *volumeSpec) Needs(n *Needs) {
	n.volume(s.Name)
	n.List = true // the containers using it
}
func (s *volumeSpec) Keys() []string        { return []string{"volume:" + s.Name, keyContainers} }
func (s *volumeSpec) Touches() []string     { return []string{"volume:" + s.Name} }
func (s *volumeSpec) RefreshAction() Action { return ActionNone }
func (s *volumeSpec) Refresh(context.Context, Host, *State) (Outcome, error) {
	return Outcome{}, nil
}

// Plan compares the declared volume with the one observed.
func (s *volumeSpec) Plan(o *State) Step {
	v := o.Volumes[s.Name]
	users := volumeUsers(o, s.Name)
	if s.State == "absent" {
		if v == nil {
			return Step{Action: ActionNone, Reason: "absent"}
		}
		st := Step{Action: ActionRemove, Reason: "present, absent wanted", Diff: []Change{{Field: "volume", Subject: s.Name, From: "present", To: "absent", Note: "its data is deleted"}}}
		return s.guard(st, v, users, false)
	}
	if v == nil {
		return Step{Action: ActionCreate, Reason: "missing", Diff: []Change{{Field: "volume", Subject: s.Name, From: "absent", To: "present", Note: "driver " + s.Driver}}}
	}
	var d []Change
	if v.Driver != s.Driver {
		d = append(d, Change{Field: "driver", From: v.Driver, To: s.Driver})
	}
	d = append(d, mapDiff("driver_opts", s.Opts, v.Options, nil)...)
	d = append(d, labelDiff("labels", s.Labels, v.Labels, nil)...)
	if len(d) == 0 {
		reason := "matches"
		if !owned(v.Labels) {
			reason += "; not created by vigo, used as is"
		}
		return Step{Action: ActionNone, Reason: reason}
	}
	return s.guard(Step{Action: ActionRecreate, Reason: diffReason(d), Diff: d}, v, users, true)
}

// guard turns a remove or recreate into a refusal when it is not safe
// or not allowed; the step keeps its diff and says why.
func (s *volumeSpec) guard(st Step, v *Volume, users []string, recreate bool) Step {
	var why []string
	if recreate && !s.Recreate {
		why = append(why, "a volume's data is never deleted silently (recreate: true lets vigo delete it and create the volume anew)")
	}
	if !owned(v.Labels) && !s.TakeOver {
		why = append(why, "not created by vigo (take_over: true lets vigo replace or remove it)")
	}
	if len(users) > 0 {
		st.Diff = append(st.Diff, usedBy(users))
		why = append(why, "in use by container(s) "+strings.Join(users, ", ")+" (remove them first)")
	}
	switch {
	case len(why) > 0:
		st.Reason = st.Reason + "; refused: " + strings.Join(why, "; ")
		st.Action = ActionRefuse
		if recreate {
			st.Diff = append(st.Diff, Change{Field: "data", To: "kept", Note: "refused"})
		}
	case recreate:
		st.Diff = append(st.Diff, Change{Field: "data", To: "deleted", Note: "recreate: true"})
	}
	return st
}

// volumeUsers names the containers (running or not) that mount the volume.
func volumeUsers(o *State, name string) []string {
	var users []string
	for _, c := range o.List {
		for _, m := range c.Mounts {
			if m.Type == "volume" && m.Name == name {
				users = append(users, c.Name())
				break
			}
		}
	}
	return users
}

func (s *volumeSpec) Apply(ctx context.Context, h Host, st Step) (Outcome, error) {
	api := newDockerAPI(h)
	defer api.Close()
	switch st.Action {
	case ActionRefuse:
		return Outcome{}, fmt.Errorf("volume %s: %s", s.Name, st.Reason)
	case ActionCreate:
		return Outcome{Changed: true}, s.create(ctx, api)
	case ActionRemove:
		return Outcome{Changed: true}, removeVolume(ctx, api, s.Name)
	case ActionRecreate:
		if !s.Recreate {
			return Outcome{}, fmt.Errorf("volume %s: recreate planned without recreate: true (refusing)", s.Name)
		}
		if err := removeVolume(ctx, api, s.Name); err != nil {
			return Outcome{}, err
		}
		if err := s.create(ctx, api); err != nil {
			return Outcome{}, fmt.Errorf("%w (the old volume was removed; the next push creates it)", err)
		}
		return Outcome{Changed: true, Detail: "recreated, data deleted"}, nil
	}
	return Outcome{}, fmt.Errorf("docker_volume: unexpected action %s", st.Action)
}

func (s *volumeSpec) create(ctx context.Context, api *dockerAPI) error {
	body := volumeCreate{Name: s.Name, Driver: s.Driver, DriverOpts: s.Opts, Labels: ownLabels(s.res.Name, s.Labels)}
	if err := api.CreateVolume(ctx, body); err != nil {
		return fmt.Errorf("create volume %s: %w", s.Name, err)
	}
	return nil
}

func removeVolume(ctx context.Context, api *dockerAPI, name string) error {
	if err := api.RemoveVolume(ctx, name); err != nil {
		return fmt.Errorf("remove volume %s: %w", name, err)
	}
	return nil
}
