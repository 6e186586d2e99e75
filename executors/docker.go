package executors

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/vigo-sh/vigocli/transport"
)

// dockerAPI is a small client of the Docker engine API over the stream
// Host.DialDocker opens (a channel of the host's one SSH connection).
// Requests made concurrently share keep-alive streams; none of them opens
// another SSH connection.
type dockerAPI struct {
	host   string
	c      *http.Client
	tr     *http.Transport
	bounds transport.Bounds
}

// boundsOf returns the host's time and size limits: a *transport.Conn
// carries the run's; other hosts (test fakes) get the defaults.
func boundsOf(h Host) transport.Bounds {
	if b, ok := h.(interface{ Bounds() transport.Bounds }); ok {
		return b.Bounds().WithDefaults()
	}
	return transport.Bounds{}.WithDefaults()
}

func newDockerAPI(h Host) *dockerAPI {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return h.DialDocker(ctx)
		},
		// At most 8 streams at once: a host with many resources queues its
		// requests on them instead of opening a channel per request.
		MaxConnsPerHost:     8,
		MaxIdleConns:        8,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
		// The engine's headers are bounded like its bodies.
		MaxResponseHeaderBytes: 1 << 20,
	}
	return &dockerAPI{host: h.Name(), c: &http.Client{Transport: tr}, tr: tr, bounds: boundsOf(h)}
}

func (d *dockerAPI) Close() { d.tr.CloseIdleConnections() }

// apiError is a non-2xx answer of the engine.
type apiError struct {
	Status  int
	Method  string
	Path    string
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("docker api %s %s: %d: %s", e.Method, e.Path, e.Status, e.Message)
}

func isStatus(err error, code int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == code
}

// do sends one request; out (if not nil) receives the decoded JSON answer.
// The request, answer and body together get Bounds.Request; the body is
// read up to Bounds.MaxBody. An engine that accepts and never answers, or
// streams without end, fails the request with an error naming the limit.
func (d *dockerAPI) do(ctx context.Context, method, path string, query url.Values, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := "http://docker" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	ctx, cancel := transport.WithTimeout(ctx, d.bounds.Request, "", "--request-timeout")
	defer cancel()
	fail := func(err error) error {
		if ctx.Err() != nil {
			// The time limit (or the caller's cancel), not what the
			// HTTP client made of it.
			err = context.Cause(ctx)
		}
		return fmt.Errorf("docker api %s %s: %w", method, path, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.c.Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var m struct {
			Message string `json:"message"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &m) == nil && m.Message != "" {
			msg = m.Message
		}
		return &apiError{Status: resp.StatusCode, Method: method, Path: path, Message: msg}
	}
	rb := &capReader{r: resp.Body, left: d.bounds.MaxBody, limit: d.bounds.MaxBody}
	switch o := out.(type) {
	case nil:
		_, err = io.Copy(io.Discard, rb)
	case *json.RawMessage:
		*o, err = io.ReadAll(rb)
	default:
		err = json.NewDecoder(rb).Decode(out)
	}
	if err != nil {
		return fail(err)
	}
	return nil
}

// capReader reads at most limit bytes; one more is a *transport.SizeError.
type capReader struct {
	r           io.Reader
	left, limit int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// At the limit: fine if the body ends here.
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			return 0, &transport.SizeError{What: "docker api response", Limit: c.limit}
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// The subset of the engine's answers that vigo reads.

type ContainerSummary struct {
	ID      string            `json:"Id"`
	Names   []string          `json:"Names"`
	Image   string            `json:"Image"`
	ImageID string            `json:"ImageID"`
	Labels  map[string]string `json:"Labels"`
	State   string            `json:"State"`
	Status  string            `json:"Status"`
	// Mounts and NetworkSettings say which volumes and networks the
	// container uses (also when it is stopped): a volume or network in
	// use is never removed or recreated.
	Mounts []struct {
		Type string `json:"Type"`
		Name string `json:"Name"`
	} `json:"Mounts"`
	NetworkSettings struct {
		Networks map[string]json.RawMessage `json:"Networks"`
	} `json:"NetworkSettings"`
}

// Name is the container's name without the leading slash.
func (c ContainerSummary) Name() string {
	if len(c.Names) == 0 {
		return ""
	}
	return strings.TrimPrefix(c.Names[0], "/")
}

type Healthcheck struct {
	Test        []string      `json:"Test,omitempty"`
	Interval    time.Duration `json:"Interval,omitempty"`
	Timeout     time.Duration `json:"Timeout,omitempty"`
	StartPeriod time.Duration `json:"StartPeriod,omitempty"`
	Retries     int           `json:"Retries,omitempty"`
	// StartInterval (API 1.44+) is inherited from the image like the
	// others when not declared.
	StartInterval time.Duration `json:"StartInterval,omitempty"`
}

type ContainerConfig struct {
	Hostname     string              `json:"Hostname,omitempty"`
	User         string              `json:"User,omitempty"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Healthcheck  *Healthcheck        `json:"Healthcheck,omitempty"`
	Image        string              `json:"Image,omitempty"`
	WorkingDir   string              `json:"WorkingDir,omitempty"`
	Entrypoint   []string            `json:"Entrypoint,omitempty"`
	Labels       map[string]string   `json:"Labels,omitempty"`
}

type PortBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

type RestartPolicy struct {
	Name              string `json:"Name"`
	MaximumRetryCount int    `json:"MaximumRetryCount"`
}

type HostConfig struct {
	Binds         []string                 `json:"Binds,omitempty"`
	NetworkMode   string                   `json:"NetworkMode,omitempty"`
	PortBindings  map[string][]PortBinding `json:"PortBindings,omitempty"`
	RestartPolicy RestartPolicy            `json:"RestartPolicy"`
}

type ContainerState struct {
	Status   string `json:"Status"`
	Running  bool   `json:"Running"`
	ExitCode int    `json:"ExitCode"`
	Health   *struct {
		Status string `json:"Status"`
	} `json:"Health,omitempty"`
}

// Container is the inspect answer of one container.
type Container struct {
	ID              string          `json:"Id"`
	Name            string          `json:"Name"`
	Image           string          `json:"Image"` // image ID
	State           ContainerState  `json:"State"`
	Config          ContainerConfig `json:"Config"`
	HostConfig      HostConfig      `json:"HostConfig"`
	NetworkSettings struct {
		Networks map[string]*EndpointSettings `json:"Networks"`
	} `json:"NetworkSettings"`
}

// EndpointSettings is a container's attachment to one network.
type EndpointSettings struct {
	Aliases []string `json:"Aliases,omitempty"`
}

// Network is the inspect answer of one network.
type Network struct {
	ID         string            `json:"Id"`
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver"`
	Internal   bool              `json:"Internal"`
	Attachable bool              `json:"Attachable"`
	Options    map[string]string `json:"Options"`
	Labels     map[string]string `json:"Labels"`
	IPAM       struct {
		Config []IPAMConfig `json:"Config"`
	} `json:"IPAM"`
}

// IPAMConfig is one address pool of a network.
type IPAMConfig struct {
	Subnet  string `json:"Subnet,omitempty"`
	Gateway string `json:"Gateway,omitempty"`
}

// Volume is the inspect answer of one volume.
type Volume struct {
	Name    string            `json:"Name"`
	Driver  string            `json:"Driver"`
	Options map[string]string `json:"Options"`
	Labels  map[string]string `json:"Labels"`
}

// Image is the inspect answer of one image.
type Image struct {
	ID       string          `json:"Id"`
	RepoTags []string        `json:"RepoTags"`
	Config   ContainerConfig `json:"Config"`
}

// createBody is the body of POST /containers/create.
type createBody struct {
	ContainerConfig
	HostConfig       HostConfig `json:"HostConfig"`
	NetworkingConfig *struct {
		EndpointsConfig map[string]*EndpointSettings `json:"EndpointsConfig"`
	} `json:"NetworkingConfig,omitempty"`
}

// The engine API calls vigo makes, one typed method each: no request path
// is built outside this file. Each call gets the run's request time limit
// and body size cap (see do). Answers that mean "already so" are handled
// here, once: starting a running container (304), stopping a stopped or
// missing one (304, 404), removing what is gone (404). Inspecting what
// does not exist answers nil, not an error.

// ListContainers lists all containers, running or not; labels (KEY or
// KEY=VALUE) keep only those carrying every one of them.
func (d *dockerAPI) ListContainers(ctx context.Context, labels ...string) ([]ContainerSummary, error) {
	q := url.Values{"all": {"1"}}
	if len(labels) > 0 {
		f, err := json.Marshal(map[string][]string{"label": labels})
		if err != nil {
			return nil, err
		}
		q.Set("filters", string(f))
	}
	var list []ContainerSummary
	if err := d.do(ctx, "GET", "/containers/json", q, nil, &list); err != nil {
		return nil, err
	}
	return list, nil
}

// InspectContainer reads one container by name or ID (nil: none). The
// engine also resolves an ID prefix: a caller asking by name compares
// the answer's name.
func (d *dockerAPI) InspectContainer(ctx context.Context, nameOrID string) (*Container, error) {
	var c Container
	err := d.do(ctx, "GET", "/containers/"+url.PathEscape(nameOrID)+"/json", nil, nil, &c)
	if isStatus(err, 404) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// CreateContainer creates a container named name and returns its ID.
func (d *dockerAPI) CreateContainer(ctx context.Context, name string, body createBody) (string, error) {
	var created struct {
		ID string `json:"Id"`
	}
	if err := d.do(ctx, "POST", "/containers/create", url.Values{"name": {name}}, body, &created); err != nil {
		return "", err
	}
	return created.ID, nil
}

// StartContainer starts a container; one already running is not an error.
func (d *dockerAPI) StartContainer(ctx context.Context, id string) error {
	if err := d.do(ctx, "POST", "/containers/"+url.PathEscape(id)+"/start", nil, nil, nil); err != nil && !isStatus(err, 304) {
		return err
	}
	return nil
}

// StopContainer stops a container gracefully (the engine's stop timeout:
// SIGTERM, then SIGKILL after the container's StopTimeout, 10s by
// default); one already stopped or gone is not an error.
func (d *dockerAPI) StopContainer(ctx context.Context, id string) error {
	err := d.do(ctx, "POST", "/containers/"+url.PathEscape(id)+"/stop", nil, nil, nil)
	if err != nil && !isStatus(err, 304) && !isStatus(err, 404) {
		return fmt.Errorf("stop container %s: %w", shortID(id), err)
	}
	return nil
}

// RestartContainer restarts a container.
func (d *dockerAPI) RestartContainer(ctx context.Context, id string) error {
	return d.do(ctx, "POST", "/containers/"+url.PathEscape(id)+"/restart", nil, nil, nil)
}

// RemoveContainer removes a container (forced: running or not); one
// already gone is not an error.
func (d *dockerAPI) RemoveContainer(ctx context.Context, id string) error {
	err := d.do(ctx, "DELETE", "/containers/"+url.PathEscape(id), url.Values{"force": {"1"}}, nil, nil)
	if err != nil && !isStatus(err, 404) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	return nil
}

// RenameContainer gives a container another name.
func (d *dockerAPI) RenameContainer(ctx context.Context, id, name string) error {
	return d.do(ctx, "POST", "/containers/"+url.PathEscape(id)+"/rename", url.Values{"name": {name}}, nil, nil)
}

// InspectImage reads one image by reference or ID (nil: none).
func (d *dockerAPI) InspectImage(ctx context.Context, ref string) (*Image, error) {
	var img Image
	err := d.do(ctx, "GET", "/images/"+apiRef(ref)+"/json", nil, nil, &img)
	if isStatus(err, 404) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &img, nil
}

// RemoveImage removes an image by reference. The engine's answer is
// returned as is: 404 (gone) and 409 (in use) mean different things to
// the caller.
func (d *dockerAPI) RemoveImage(ctx context.Context, ref string) error {
	return d.do(ctx, "DELETE", "/images/"+apiRef(ref), nil, nil, nil)
}

// networkCreate is the body of POST /networks/create.
type networkCreate struct {
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver,omitempty"`
	Internal   bool              `json:"Internal"`
	Attachable bool              `json:"Attachable"`
	Options    map[string]string `json:"Options"`
	Labels     map[string]string `json:"Labels"`
	IPAM       *networkIPAM      `json:"IPAM,omitempty"`
}

type networkIPAM struct {
	Driver string       `json:"Driver"`
	Config []IPAMConfig `json:"Config"`
}

// InspectNetwork reads one network by exact name (nil: none). The engine
// also resolves an ID prefix; such an answer is taken for "none".
func (d *dockerAPI) InspectNetwork(ctx context.Context, name string) (*Network, error) {
	var nw Network
	err := d.do(ctx, "GET", "/networks/"+url.PathEscape(name), nil, nil, &nw)
	if isStatus(err, 404) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if nw.Name != name {
		return nil, nil
	}
	return &nw, nil
}

// CreateNetwork creates a network and returns its ID. The engine's
// answer is returned as is: 409 means the name is taken.
func (d *dockerAPI) CreateNetwork(ctx context.Context, body networkCreate) (string, error) {
	var created struct {
		ID string `json:"Id"`
	}
	if err := d.do(ctx, "POST", "/networks/create", nil, body, &created); err != nil {
		return "", err
	}
	return created.ID, nil
}

// RemoveNetwork removes a network by ID; one already gone is not an error.
func (d *dockerAPI) RemoveNetwork(ctx context.Context, id string) error {
	err := d.do(ctx, "DELETE", "/networks/"+url.PathEscape(id), nil, nil, nil)
	if err != nil && !isStatus(err, 404) {
		return err
	}
	return nil
}

// ConnectNetwork attaches a container to a network, answering to the
// aliases there.
func (d *dockerAPI) ConnectNetwork(ctx context.Context, network, containerID string, aliases []string) error {
	body := struct {
		Container      string            `json:"Container"`
		EndpointConfig *EndpointSettings `json:"EndpointConfig,omitempty"`
	}{Container: containerID}
	if len(aliases) > 0 {
		body.EndpointConfig = &EndpointSettings{Aliases: aliases}
	}
	return d.do(ctx, "POST", "/networks/"+url.PathEscape(network)+"/connect", nil, body, nil)
}

// volumeCreate is the body of POST /volumes/create.
type volumeCreate struct {
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver"`
	DriverOpts map[string]string `json:"DriverOpts"`
	Labels     map[string]string `json:"Labels"`
}

// InspectVolume reads one volume by name (nil: none).
func (d *dockerAPI) InspectVolume(ctx context.Context, name string) (*Volume, error) {
	var v Volume
	err := d.do(ctx, "GET", "/volumes/"+url.PathEscape(name), nil, nil, &v)
	if isStatus(err, 404) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// CreateVolume creates a volume.
func (d *dockerAPI) CreateVolume(ctx context.Context, body volumeCreate) error {
	return d.do(ctx, "POST", "/volumes/create", nil, body, nil)
}

// RemoveVolume removes a volume; one already gone is not an error.
func (d *dockerAPI) RemoveVolume(ctx context.Context, name string) error {
	err := d.do(ctx, "DELETE", "/volumes/"+url.PathEscape(name), nil, nil, nil)
	if err != nil && !isStatus(err, 404) {
		return err
	}
	return nil
}
