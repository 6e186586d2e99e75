package executors

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/vigo-sh/vigocli/desired"
	"github.com/vigo-sh/vigocli/stockpile"
)

// docker_network: a user-defined network, created, compared field by
// field with what the engine reports, and recreated or removed only when
// that is safe: vigo never disconnects a container (a network that
// containers use is refused, with a plan line that names them), and never
// replaces or removes a network it did not create unless the resource
// says take_over: true.

var dockerNetworkType = Type{
	Schema: stockpile.TypeSchema{
		Type: "docker_network",
		Doc:  "a user-defined network present or absent; containers name it in their networks",
		Key:  "network",
		Fields: []stockpile.Field{
			{Name: "network", Kind: stockpile.KindString, Required: true, Doc: "network name on the host"},
			{Name: "driver", Kind: stockpile.KindString, Default: "bridge", Doc: "network driver"},
			{Name: "options", Kind: stockpile.KindMap, Doc: "driver options, e.g. com.docker.network.bridge.name"},
			{Name: "labels", Kind: stockpile.KindMap, Doc: "network labels (no secret references)"},
			{Name: "internal", Kind: stockpile.KindBool, Default: "false", Doc: "no route to the outside"},
			{Name: "attachable", Kind: stockpile.KindBool, Default: "false", Doc: "standalone containers may attach (swarm overlay networks)"},
			{Name: "subnet", Kind: stockpile.KindString, Doc: "address pool in CIDR notation, IPv4 or IPv6 (default: the engine picks one, and that choice is not compared)"},
			{Name: "gateway", Kind: stockpile.KindString, Doc: "gateway address in the subnet (default: the engine picks one)"},
			{Name: "state", Kind: stockpile.KindString, Enum: []string{"present", "absent"}, Default: "present", Doc: "absent removes the network, if safe"},
			{Name: "take_over", Kind: stockpile.KindBool, Default: "false", Doc: "let vigo recreate or remove a network of this name that it did not create"},
		},
	},
	Decode: decodeNetwork,
}

// driverRE: a driver name, or a plugin's REPOSITORY[:TAG].
var driverRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_./:-]*$`)

// networkSpec is a decoded docker_network resource.
type networkSpec struct {
	res        desired.Resource
	Name       string
	Driver     string
	Options    map[string]string
	Labels     map[string]string
	Internal   bool
	Attachable bool
	Subnet     string
	Gateway    string
	State      string
	TakeOver   bool
}

func decodeNetwork(f fields, _ Env) (Spec, error) {
	s := &networkSpec{res: f.r}
	var err error
	if s.Name, err = f.str("network"); err != nil {
		return nil, err
	}
	if s.Name == "" {
		return nil, f.errorf("network", "required")
	}
	if why := checkObjectName("network name", s.Name); why != "" || strings.HasPrefix(s.Name, "container:") {
		return nil, f.errorf("network", "%s", orDefault(why, fmt.Sprintf("%q is not a network name", s.Name)))
	}
	if isBuiltinNetwork(s.Name) || s.Name == "default" {
		return nil, f.errorf("network", "%q is the engine's own network: it cannot be declared", s.Name)
	}
	if s.Driver, err = f.str("driver"); err != nil {
		return nil, err
	}
	s.Driver = orDefault(s.Driver, f.def("driver"))
	if !driverRE.MatchString(s.Driver) {
		return nil, f.errorf("driver", "%q is not a driver name", s.Driver)
	}
	if s.Options, err = f.strMap("options"); err != nil {
		return nil, err
	}
	if s.Labels, err = userLabels(f, "labels"); err != nil {
		return nil, err
	}
	if s.Internal, err = f.boolean("internal"); err != nil {
		return nil, err
	}
	if s.Attachable, err = f.boolean("attachable"); err != nil {
		return nil, err
	}
	if s.Subnet, err = f.str("subnet"); err != nil {
		return nil, err
	}
	var subnet *net.IPNet
	if s.Subnet != "" {
		ip, n, err := net.ParseCIDR(s.Subnet)
		if err != nil || !ip.Equal(n.IP) {
			return nil, f.errorf("subnet", "%q is not a network in CIDR notation (e.g. 172.30.0.0/24)", s.Subnet)
		}
		subnet = n
	}
	if s.Gateway, err = f.str("gateway"); err != nil {
		return nil, err
	}
	if s.Gateway != "" {
		ip := net.ParseIP(s.Gateway)
		switch {
		case ip == nil:
			return nil, f.errorf("gateway", "%q is not an IP address", s.Gateway)
		case subnet == nil:
			return nil, f.errorf("gateway", "needs a subnet")
		case !subnet.Contains(ip):
			return nil, f.errorf("gateway", "%s is not in subnet %s", s.Gateway, s.Subnet)
		}
	}
	if s.State, err = f.enum("state"); err != nil {
		return nil, err
	}
	if s.TakeOver, err = f.boolean("take_over"); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *networkSpec) Resource() desired.Resource { return s.res }
func (s *networkSpec) Needs(n *Needs) {
	n.network(s.Name)
	n.List = true // the containers using it
}
func (s *networkSpec) Keys() []string        { return []string{"network:" + s.Name, keyContainers} }
func (s *networkSpec) Touches() []string     { return []string{"network:" + s.Name} }
func (s *networkSpec) RefreshAction() Action { return ActionNone }
func (s *networkSpec) Refresh(context.Context, Host, *State) (Outcome, error) {
	return Outcome{}, nil
}

// Plan compares the declared network with the one observed.
func (s *networkSpec) Plan(o *State) Step {
	nw := o.Networks[s.Name]
	users := networkUsers(o, s.Name)
	if s.State == "absent" {
		if nw == nil {
			return Step{Action: ActionNone, Reason: "absent"}
		}
		st := Step{Action: ActionRemove, Reason: "present, absent wanted", Diff: []Change{{Field: "network", Subject: s.Name, From: "present", To: "absent"}}}
		return s.guard(st, nw, users)
	}
	if nw == nil {
		return Step{Action: ActionCreate, Reason: "missing", Diff: []Change{{Field: "network", Subject: s.Name, From: "absent", To: "present", Note: s.describe()}}}
	}
	d := s.diff(nw)
	if len(d) == 0 {
		reason := "matches " + shortID(nw.ID)
		if !owned(nw.Labels) {
			reason += "; not created by vigo, used as is"
		}
		return Step{Action: ActionNone, Reason: reason}
	}
	return s.guard(Step{Action: ActionRecreate, Reason: diffReason(d), Diff: d}, nw, users)
}

// guard turns a remove or recreate into a refusal when it is not safe
// or not allowed; the step keeps its diff and says why.
func (s *networkSpec) guard(st Step, nw *Network, users []string) Step {
	var why []string
	if !owned(nw.Labels) && !s.TakeOver {
		why = append(why, "not created by vigo (take_over: true lets vigo replace or remove it)")
	}
	if len(users) > 0 {
		st.Diff = append(st.Diff, usedBy(users))
		why = append(why, "in use by container(s) "+strings.Join(users, ", ")+
			" (vigo never disconnects containers: remove them or move them to another network first)")
	}
	if len(why) > 0 {
		st.Reason = st.Reason + "; refused: " + strings.Join(why, "; ")
		st.Action = ActionRefuse
	}
	return st
}

func (s *networkSpec) describe() string {
	d := "driver " + s.Driver
	if s.Subnet != "" {
		d += ", subnet " + s.Subnet
	}
	if s.Internal {
		d += ", internal"
	}
	return d
}

// diff lists the declared fields in which the network differs. An
// undeclared subnet or gateway is the engine's choice: not compared.
func (s *networkSpec) diff(nw *Network) []Change {
	var d []Change
	if nw.Driver != s.Driver {
		d = append(d, Change{Field: "driver", From: nw.Driver, To: s.Driver})
	}
	d = append(d, mapDiff("options", s.Options, nw.Options, nil)...)
	d = append(d, labelDiff("labels", s.Labels, nw.Labels, nil)...)
	if nw.Internal != s.Internal {
		d = append(d, Change{Field: "internal", From: strconv.FormatBool(nw.Internal), To: strconv.FormatBool(s.Internal)})
	}
	if nw.Attachable != s.Attachable {
		d = append(d, Change{Field: "attachable", From: strconv.FormatBool(nw.Attachable), To: strconv.FormatBool(s.Attachable)})
	}
	var got IPAMConfig
	if len(nw.IPAM.Config) > 0 {
		got = nw.IPAM.Config[0]
	}
	if s.Subnet != "" && got.Subnet != s.Subnet {
		d = append(d, Change{Field: "subnet", From: orDefault(got.Subnet, "(none)"), To: s.Subnet})
	}
	if s.Gateway != "" && got.Gateway != s.Gateway {
		d = append(d, Change{Field: "gateway", From: orDefault(got.Gateway, "(none)"), To: s.Gateway})
	}
	return d
}

// networkUsers names the containers (running or not) attached to the
// network, from the container list.
func networkUsers(o *State, name string) []string {
	var users []string
	for _, c := range o.List {
		if _, ok := c.NetworkSettings.Networks[name]; ok {
			users = append(users, c.Name())
		}
	}
	return users
}

func (s *networkSpec) Apply(ctx context.Context, h Host, st Step) (Outcome, error) {
	api := newDockerAPI(h)
	defer api.Close()
	nw := st.obs.Networks[s.Name]
	switch st.Action {
	case ActionRefuse:
		return Outcome{}, fmt.Errorf("network %s: %s", s.Name, st.Reason)
	case ActionCreate:
		id, err := s.create(ctx, api)
		if err != nil {
			return Outcome{}, err
		}
		return Outcome{Changed: true, Detail: "network " + shortID(id)}, nil
	case ActionRemove:
		if err := removeNetwork(ctx, api, nw); err != nil {
			return Outcome{}, err
		}
		return Outcome{Changed: true}, nil
	case ActionRecreate:
		if err := removeNetwork(ctx, api, nw); err != nil {
			return Outcome{}, err
		}
		id, err := s.create(ctx, api)
		if err != nil {
			return Outcome{}, fmt.Errorf("%w (the old network %s was removed; the next push creates it)", err, shortID(nw.ID))
		}
		return Outcome{Changed: true, Detail: "network " + shortID(id)}, nil
	}
	return Outcome{}, fmt.Errorf("docker_network: unexpected action %s", st.Action)
}

func (s *networkSpec) create(ctx context.Context, api *dockerAPI) (string, error) {
	body := networkCreate{Name: s.Name, Driver: s.Driver, Internal: s.Internal, Attachable: s.Attachable,
		Options: s.Options, Labels: ownLabels(s.res.Name, s.Labels)}
	if s.Subnet != "" {
		body.IPAM = &networkIPAM{Driver: "default", Config: []IPAMConfig{{Subnet: s.Subnet, Gateway: s.Gateway}}}
	}
	id, err := api.CreateNetwork(ctx, body)
	if err != nil {
		return "", fmt.Errorf("create network %s: %w", s.Name, err)
	}
	return id, nil
}

// removeNetwork removes the network by ID (the one the plan saw).
func removeNetwork(ctx context.Context, api *dockerAPI, nw *Network) error {
	if err := api.RemoveNetwork(ctx, nw.ID); err != nil {
		return fmt.Errorf("remove network %s: %w", nw.Name, err)
	}
	return nil
}
