package main

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
	"time"
)

// The floor's stack: the documentation's docker-app stack (redis, then
// webapp) under its own names and ports, so that it never touches vigo's
// containers (redis, webapp on 6379/8080) nor the bench's Ansible ones
// (ans-redis, ans-webapp on 6380/8081).
const (
	redisImage = "redis:7-alpine"
	appImage   = "myregistry.example.com/webapp"
	oldTag     = "v2.1.0"
	newTag     = "v2.2.0"
)

// stack names the floor's two containers and their host ports.
type stack struct {
	Prefix    string // container names: PREFIX-redis, PREFIX-webapp
	RedisPort int
	AppPort   int
}

func (s stack) redis() string { return s.Prefix + "-redis" }
func (s stack) app() string   { return s.Prefix + "-webapp" }

// createBody is what vigo's docker_container sends to POST
// /containers/create for the documentation's stack: image, command,
// environment, labels, one published port, restart policy, bridge network.
type createBody struct {
	Image        string              `json:"Image"`
	Cmd          []string            `json:"Cmd,omitempty"`
	Env          []string            `json:"Env,omitempty"`
	Labels       map[string]string   `json:"Labels"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts"`
	HostConfig   hostConfig          `json:"HostConfig"`
}

type hostConfig struct {
	NetworkMode   string                   `json:"NetworkMode"`
	PortBindings  map[string][]portBinding `json:"PortBindings"`
	RestartPolicy struct {
		Name              string `json:"Name"`
		MaximumRetryCount int    `json:"MaximumRetryCount"`
	} `json:"RestartPolicy"`
}

type portBinding struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

func container(image string, cmd, env []string, hostPort int, ctrPort string) createBody {
	b := createBody{Image: image, Cmd: cmd, Env: env,
		Labels:       map[string]string{"sh.vigo.bench": "engine-floor"},
		ExposedPorts: map[string]struct{}{ctrPort: {}},
		HostConfig: hostConfig{NetworkMode: "bridge",
			PortBindings: map[string][]portBinding{ctrPort: {{HostPort: fmt.Sprint(hostPort)}}}}}
	b.HostConfig.RestartPolicy.Name = "unless-stopped"
	return b
}

func (s stack) redisBody() createBody {
	return container(redisImage, []string{"redis-server", "--maxmemory", "512mb"}, nil, s.RedisPort, "6379/tcp")
}

func (s stack) appBody(tag string) createBody {
	return container(appImage+":"+tag, nil, []string{"DATABASE_URL=postgres://bench:bench@db.internal/webapp",
		"REDIS_URL=redis://localhost:6379"}, s.AppPort, "8080/tcp")
}

// engine is a minimal Docker engine API client over one dial function
// (a direct-streamlocal channel of the host's SSH connection, or a fake).
type engine struct {
	hc *http.Client
}

func newEngine(dial func(context.Context) (net.Conn, error)) *engine {
	tr := &http.Transport{
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		MaxIdleConnsPerHost: 4,
		DisableCompression:  true,
	}
	return &engine{hc: &http.Client{Transport: tr}}
}

func (e *engine) close() { e.hc.CloseIdleConnections() }

// statusError is an engine answer outside 2xx.
type statusError struct {
	Method, Path string
	Status       int
	Message      string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: engine answered %d: %s", e.Method, e.Path, e.Status, e.Message)
}

// do sends one request; out, when not nil, receives the JSON answer.
func (e *engine) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	u := "http://docker" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var m struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(data, &m)
		return &statusError{Method: method, Path: path, Status: resp.StatusCode, Message: m.Message}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

func isStatus(err error, code int) bool {
	var se *statusError
	return errors.As(err, &se) && se.Status == code
}

func (e *engine) create(ctx context.Context, name string, body createBody) (string, error) {
	var created struct {
		ID string `json:"Id"`
	}
	if err := e.do(ctx, "POST", "/containers/create", url.Values{"name": {name}}, body, &created); err != nil {
		return "", fmt.Errorf("create %s: %w", name, err)
	}
	return created.ID, nil
}

func (e *engine) start(ctx context.Context, id string) error {
	if err := e.do(ctx, "POST", "/containers/"+url.PathEscape(id)+"/start", nil, nil, nil); err != nil && !isStatus(err, 304) {
		return err
	}
	return nil
}

func (e *engine) remove(ctx context.Context, ref string) error {
	if err := e.do(ctx, "DELETE", "/containers/"+url.PathEscape(ref), url.Values{"force": {"1"}}, nil, nil); err != nil && !isStatus(err, 404) {
		return err
	}
	return nil
}

// createPhase is the engine work of vigo's create push of the stack with
// its images present: per container, create then start; webapp after
// redis (it depends on it).
func (s stack) createPhase(ctx context.Context, e *engine) error {
	id, err := e.create(ctx, s.redis(), s.redisBody())
	if err != nil {
		return err
	}
	if err := e.start(ctx, id); err != nil {
		return err
	}
	if id, err = e.create(ctx, s.app(), s.appBody(oldTag)); err != nil {
		return err
	}
	return e.start(ctx, id)
}

// retagPhase is the engine work of vigo's retag (webapp v2.1.0 ->
// v2.2.0, image present): create the new container under a temporary
// name, stop and remove the old one, rename the new one, start it.
func (s stack) retagPhase(ctx context.Context, e *engine) error {
	var old struct {
		ID string `json:"Id"`
	}
	// Not an engine call vigo makes here (it knows the id from its
	// observation, which belongs to its no-op floor): the floor needs the id.
	if err := e.do(ctx, "GET", "/containers/"+url.PathEscape(s.app())+"/json", nil, nil, &old); err != nil {
		return fmt.Errorf("inspect %s: %w", s.app(), err)
	}
	temp := s.app() + "-vigo-new"
	id, err := e.create(ctx, temp, s.appBody(newTag))
	if err != nil {
		return err
	}
	if err := e.do(ctx, "POST", "/containers/"+url.PathEscape(old.ID)+"/stop", nil, nil, nil); err != nil && !isStatus(err, 304) {
		return err
	}
	if err := e.remove(ctx, old.ID); err != nil {
		return err
	}
	if err := e.do(ctx, "POST", "/containers/"+url.PathEscape(id)+"/rename", url.Values{"name": {s.app()}}, nil, nil); err != nil {
		return err
	}
	return e.start(ctx, id)
}

// cleanPhase removes the floor's containers (not measured).
func (s stack) cleanPhase(ctx context.Context, e *engine) error {
	for _, n := range []string{s.app() + "-vigo-new", s.app(), s.redis()} {
		if err := e.remove(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// phase returns the work of a phase by name.
func (s stack) phase(name string) (func(context.Context, *engine) error, error) {
	switch name {
	case "create":
		return s.createPhase, nil
	case "retag":
		return s.retagPhase, nil
	case "clean":
		return s.cleanPhase, nil
	}
	return nil, fmt.Errorf("unknown phase %q: want create, retag or clean", name)
}

// deadline is the default limit of a whole phase.
const deadline = 10 * time.Minute
