package executors

import (
	"time"

	"github.com/vigo-sh/vigocli/desired"
)

// The labels vigo stamps on every container it creates.
const (
	LabelManaged  = "io.vigo.managed"
	LabelSpecHash = "io.vigo.spec-hash"
	LabelResource = "io.vigo.resource"
	// tempSuffix names the container a recreate builds before it swaps it
	// in; one left behind by an interrupted push is removed by the next.
	tempSuffix = "-vigo-new"
)

// containerSpec is a decoded docker_container resource. Its exported
// fields are the canonical desired spec the spec hash is computed from.
type containerSpec struct {
	res desired.Resource

	Name          string              `json:"name"`
	Image         string              `json:"image"`
	State         string              `json:"-"`
	Ports         []string            `json:"ports"` // normalised: IP:HOST:CONTAINER/PROTO
	Command       []string            `json:"command"`
	HasCommand    bool                `json:"has_command"`
	Entrypoint    []string            `json:"entrypoint"`
	HasEntrypoint bool                `json:"has_entrypoint"`
	Env           map[string]string   `json:"env"`               // declared; secrets as references (never values)
	RestartPolicy string              `json:"restart"`           // no, always, unless-stopped, on-failure[:N]
	Volumes       []string            `json:"volumes"`           // normalised SOURCE:TARGET[:ro]
	Networks      []string            `json:"networks"`          // declared, in order
	Aliases       map[string][]string `json:"aliases,omitempty"` // network -> sorted aliases
	Labels        map[string]string   `json:"labels"`            // declared
	User          string              `json:"user"`              //
	WorkingDir    string              `json:"working_dir"`       //
	Hostname      string              `json:"hostname"`          //
	Healthcheck   *Healthcheck        `json:"healthcheck"`       //
	WaitHealthy   bool                `json:"-"`
	WaitTimeout   time.Duration       `json:"-"`

	secretVals map[string]string // env key -> resolved value (never printed)
	hash       string
	run        string // the run's ID, recorded in LabelRun
}

func (s *containerSpec) Resource() desired.Resource { return s.res }
func (s *containerSpec) Needs(n *Needs) {
	n.container(s.Name)
	n.List = true // leftovers of interrupted recreates
	if s.Image != "" && s.State != "absent" {
		n.image(s.Image)
	}
}
func (s *containerSpec) Keys() []string {
	k := []string{"container:" + s.Name}
	if s.Image != "" {
		k = append(k, "image:"+s.Image)
	}
	return k
}
func (s *containerSpec) Touches() []string {
	return []string{"container:" + s.Name, "image:" + s.Image, keyContainers}
}
func (s *containerSpec) RefreshAction() Action { return ActionRestart }
