// Package executorstest provides an in-process fake host for unit tests of
// executors and converge: a tiny in-memory Docker engine served over the
// same kind of stream the transport gives (DialDocker), an in-memory file
// system, and a record of every command run. It is not a Docker emulator:
// it answers the requests vigo makes, the way the engine answers them.
package executorstest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/vigo-sh/vigocli/transport"
)

// Container is a fake container: the engine's inspect JSON as a map.
type Container struct {
	ID      string
	Name    string
	ImageID string
	Running bool
	Created map[string]any // the create request body
	Labels  map[string]string
}

// Image is a fake image.
type Image struct {
	ID     string
	Ref    string
	Config map[string]any
}

// File is a fake file.
type File struct {
	Data  []byte
	Mode  os.FileMode
	Owner string
	Group string
}

// Host is a fake executors.Host.
type Host struct {
	HostName string

	mu         sync.Mutex
	Containers map[string]*Container // by ID
	Images     map[string]*Image     // by ref
	Files      map[string]*File
	Networks   map[string]bool
	// Registry holds the images a pull can fetch, by ref.
	Registry map[string]*Image
	// Commands lists every Exec argv, joined by spaces.
	Commands []string
	// Requests lists every API request: "METHOD PATH".
	Requests []string
	// FailExec makes Exec fail for argv starting with this prefix.
	FailExec string
	// ExecHook, when set, answers Exec calls it recognises (ok=true).
	ExecHook func(argv []string) (res transport.ExecResult, ok bool, err error)

	// FailRemove, when set, makes RemoveFile fail for the paths it
	// returns an error for.
	FailRemove func(path string) error
	// EnvFiles records the content of every env file a command was run
	// with through vigo's env wrapper (sh -c SCRIPT vigo-env FILE ARGV...).
	EnvFiles []string

	// FailRequest, when it returns true, answers the API request with a
	// 500 before doing anything (an interruption at that point).
	FailRequest func(method, path string) bool

	Dials atomic.Int64
	Execs atomic.Int64
	next  int
}

// New returns an empty fake host.
func New(name string) *Host {
	h := &Host{HostName: name, Containers: map[string]*Container{}, Images: map[string]*Image{},
		Files: map[string]*File{}, Networks: map[string]bool{"bridge": true}, Registry: map[string]*Image{}}
	return h
}

// AddImage puts an image in the registry (and, if local, on the host).
func (h *Host) AddImage(ref, id string, local bool, env []string, cmd []string) *Image {
	h.mu.Lock()
	defer h.mu.Unlock()
	img := &Image{ID: id, Ref: ref, Config: map[string]any{"Env": env, "Cmd": cmd}}
	h.Registry[ref] = img
	if local {
		h.Images[ref] = img
	}
	return img
}

func (h *Host) Name() string { return h.HostName }

func (h *Host) Exec(ctx context.Context, cmd transport.Cmd) (transport.ExecResult, error) {
	h.Execs.Add(1)
	argv := cmd.Argv
	line := strings.Join(argv, " ")
	h.mu.Lock()
	h.Commands = append(h.Commands, line)
	fail := h.FailExec != "" && strings.HasPrefix(line, h.FailExec)
	hook := h.ExecHook
	h.mu.Unlock()
	if fail {
		return transport.ExecResult{ExitCode: 1, Stderr: []byte("fake failure")}, &transport.ExitError{Host: h.HostName, Cmd: line, ExitCode: 1, Stderr: "fake failure"}
	}
	// vigo's env wrapper: source the file, remove it, run the rest.
	if len(argv) >= 6 && argv[0] == "sh" && argv[1] == "-c" && argv[3] == "vigo-env" {
		h.mu.Lock()
		f := h.Files[argv[4]]
		if f == nil {
			h.mu.Unlock()
			msg := "sh: 1: .: cannot open " + argv[4] + ": No such file"
			return transport.ExecResult{ExitCode: 2, Stderr: []byte(msg)}, &transport.ExitError{Host: h.HostName, Cmd: line, ExitCode: 2, Stderr: msg}
		}
		h.EnvFiles = append(h.EnvFiles, string(f.Data))
		delete(h.Files, argv[4])
		h.mu.Unlock()
		argv = argv[5:]
	}
	if hook != nil {
		if res, ok, err := hook(argv); ok {
			return res, err
		}
	}
	switch {
	case len(argv) >= 4 && argv[0] == "sh" && argv[1] == "-c" && argv[3] == "vigo-observe":
		var b strings.Builder
		h.mu.Lock()
		for _, p := range argv[4:] {
			f := h.Files[p]
			if f == nil {
				b.WriteString("-\n")
				continue
			}
			sum := sha256.Sum256(f.Data)
			fmt.Fprintf(&b, "%o %s %s %s\n", transport.UnixMode(f.Mode), orRoot(f.Owner), orRoot(f.Group), hex.EncodeToString(sum[:]))
		}
		h.mu.Unlock()
		return transport.ExecResult{Stdout: []byte(b.String())}, nil
	case len(argv) >= 3 && argv[0] == "docker" && argv[1] == "pull":
		ref := argv[len(argv)-1]
		h.mu.Lock()
		defer h.mu.Unlock()
		img := h.Registry[ref]
		if img == nil {
			msg := "Error response from daemon: manifest for " + ref + " not found: manifest unknown"
			return transport.ExecResult{ExitCode: 1, Stderr: []byte(msg)}, &transport.ExitError{Host: h.HostName, Cmd: line, ExitCode: 1, Stderr: msg}
		}
		h.Images[ref] = img
		return transport.ExecResult{Stdout: []byte(img.ID + "\n")}, nil
	}
	return transport.ExecResult{}, nil
}

func orRoot(s string) string {
	if s == "" {
		return "root"
	}
	return s
}

func (h *Host) WriteFile(ctx context.Context, path string, data []byte, opts transport.FileOptions) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	mode := opts.Mode
	if mode == 0 {
		mode = 0o644
	}
	h.Commands = append(h.Commands, "writefile "+path)
	if f := h.Files[path]; f != nil && string(f.Data) == string(data) && f.Mode == mode {
		return false, nil
	}
	h.Files[path] = &File{Data: append([]byte(nil), data...), Mode: mode, Owner: opts.Owner, Group: opts.Group}
	return true, nil
}

func (h *Host) RemoveFile(ctx context.Context, path string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Commands = append(h.Commands, "removefile "+path)
	if h.FailRemove != nil {
		if err := h.FailRemove(path); err != nil {
			return err
		}
	}
	delete(h.Files, path)
	return nil
}

// DialDocker returns one end of a pipe whose other end is served by the
// fake engine.
func (h *Host) DialDocker(ctx context.Context) (net.Conn, error) {
	h.Dials.Add(1)
	a, b := net.Pipe()
	go h.serve(b)
	return a, nil
}

func (h *Host) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		status, out := h.handle(req.Method, req.URL.Path, req.URL.Query().Get, body)
		var b []byte
		if out != nil {
			b, _ = json.Marshal(out)
		}
		resp := &http.Response{StatusCode: status, ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{"Content-Type": {"application/json"}},
			ContentLength: int64(len(b)), Body: io.NopCloser(strings.NewReader(string(b)))}
		if err := resp.Write(c); err != nil {
			return
		}
	}
}

func msg(s string) map[string]string { return map[string]string{"message": s} }

func (h *Host) byName(name string) *Container {
	for _, c := range h.Containers {
		if c.Name == name || c.ID == name {
			return c
		}
	}
	return nil
}

// resolve finds a container the way the engine resolves a path's
// reference: full ID, then exact name, then a unique ID prefix.
func (h *Host) resolve(ref string) *Container {
	if c := h.Containers[ref]; c != nil {
		return c
	}
	for _, c := range h.Containers {
		if c.Name == ref {
			return c
		}
	}
	var found *Container
	for _, c := range h.Containers {
		if strings.HasPrefix(c.ID, ref) {
			if found != nil {
				return nil
			}
			found = c
		}
	}
	return found
}

func (h *Host) handle(method, path string, q func(string) string, body []byte) (int, any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Requests = append(h.Requests, method+" "+path)
	if h.FailRequest != nil && h.FailRequest(method, path) {
		return 500, msg("fake interruption")
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case method == "GET" && path == "/containers/json":
		var list []map[string]any
		ids := make([]string, 0, len(h.Containers))
		for id := range h.Containers {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			c := h.Containers[id]
			list = append(list, map[string]any{"Id": c.ID, "Names": []string{"/" + c.Name}, "ImageID": c.ImageID,
				"Labels": c.Labels, "State": state(c)})
		}
		return 200, list
	case method == "GET" && len(parts) == 3 && parts[0] == "containers" && parts[2] == "json":
		c := h.resolve(parts[1])
		if c == nil {
			return 404, msg("No such container: " + parts[1])
		}
		return 200, h.inspect(c)
	case method == "GET" && len(parts) >= 3 && parts[0] == "images" && parts[len(parts)-1] == "json":
		ref := strings.Join(parts[1:len(parts)-1], "/")
		for _, img := range h.Images {
			if img.Ref == ref || img.ID == ref {
				return 200, map[string]any{"Id": img.ID, "RepoTags": []string{img.Ref}, "Config": img.Config}
			}
		}
		return 404, msg("No such image: " + ref)
	case method == "DELETE" && len(parts) >= 2 && parts[0] == "images":
		ref := strings.Join(parts[1:], "/")
		img := h.Images[ref]
		if img == nil {
			return 404, msg("No such image")
		}
		for _, c := range h.Containers {
			if c.ImageID == img.ID {
				return 409, msg("conflict: unable to remove repository reference (must force) - container " + c.ID[:12] + " is using its referenced image")
			}
		}
		delete(h.Images, ref)
		return 200, []any{}
	case method == "POST" && path == "/containers/create":
		name := q("name")
		if h.byName(name) != nil {
			return 409, msg("Conflict. The container name \"/" + name + "\" is already in use")
		}
		var cfg map[string]any
		_ = json.Unmarshal(body, &cfg)
		ref, _ := cfg["Image"].(string)
		img := h.Images[ref]
		if img == nil {
			return 404, msg("No such image: " + ref)
		}
		h.next++
		id := fmt.Sprintf("%064x", h.next)
		labels := map[string]string{}
		if l, ok := cfg["Labels"].(map[string]any); ok {
			for k, v := range l {
				labels[k], _ = v.(string)
			}
		}
		h.Containers[id] = &Container{ID: id, Name: name, ImageID: img.ID, Created: cfg, Labels: labels}
		return 201, map[string]any{"Id": id}
	case method == "POST" && len(parts) == 3 && parts[0] == "containers":
		c := h.resolve(parts[1])
		if c == nil {
			return 404, msg("No such container")
		}
		switch parts[2] {
		case "start", "restart":
			c.Running = true
		case "stop":
			c.Running = false
		case "rename":
			c.Name = q("name")
		}
		return 204, nil
	case method == "DELETE" && len(parts) == 2 && parts[0] == "containers":
		c := h.resolve(parts[1])
		if c == nil {
			return 404, msg("No such container")
		}
		delete(h.Containers, c.ID)
		return 204, nil
	case method == "GET" && len(parts) == 2 && parts[0] == "networks":
		if !h.Networks[parts[1]] {
			return 404, msg("network not found")
		}
		return 200, map[string]any{"Name": parts[1]}
	case method == "POST" && path == "/networks/create":
		var cfg map[string]any
		_ = json.Unmarshal(body, &cfg)
		n, _ := cfg["Name"].(string)
		h.Networks[n] = true
		return 201, map[string]any{"Id": n}
	case method == "POST" && len(parts) == 3 && parts[0] == "networks" && parts[2] == "connect":
		return 200, nil
	}
	return 404, msg("fake engine: no route for " + method + " " + path)
}

func state(c *Container) string {
	if c.Running {
		return "running"
	}
	return "exited"
}

// inspect builds the container's inspect answer the way the engine does:
// the image's defaults merged under the create request.
func (h *Host) inspect(c *Container) map[string]any {
	cfg := map[string]any{}
	for k, v := range c.Created {
		if k != "HostConfig" && k != "NetworkingConfig" {
			cfg[k] = v
		}
	}
	var img *Image
	for _, i := range h.Images {
		if i.ID == c.ImageID {
			img = i
		}
	}
	if img == nil {
		for _, i := range h.Registry {
			if i.ID == c.ImageID {
				img = i
			}
		}
	}
	if img != nil {
		env := map[string]string{}
		var order []string
		for _, e := range toStrings(img.Config["Env"]) {
			k, v, _ := strings.Cut(e, "=")
			env[k] = v
			order = append(order, k)
		}
		for _, e := range toStrings(cfg["Env"]) {
			k, v, _ := strings.Cut(e, "=")
			if _, ok := env[k]; !ok {
				order = append(order, k)
			}
			env[k] = v
		}
		var merged []string
		for _, k := range order {
			merged = append(merged, k+"="+env[k])
		}
		cfg["Env"] = merged
		if cfg["Cmd"] == nil && cfg["Entrypoint"] == nil {
			cfg["Cmd"] = img.Config["Cmd"]
		}
	}
	if h, _ := cfg["Hostname"].(string); h == "" {
		cfg["Hostname"] = c.ID[:12]
	}
	hc := c.Created["HostConfig"]
	networks := map[string]any{}
	if m, ok := hc.(map[string]any); ok {
		if n, ok := m["NetworkMode"].(string); ok {
			networks[n] = map[string]any{}
		}
	}
	status := "exited"
	if c.Running {
		status = "running"
	}
	return map[string]any{"Id": c.ID, "Name": "/" + c.Name, "Image": c.ImageID, "Config": cfg, "HostConfig": hc,
		"State": map[string]any{"Status": status, "Running": c.Running}, "NetworkSettings": map[string]any{"Networks": networks}}
}

func toStrings(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, _ := e.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// AddContainer puts a container on the host, as if something else than
// vigo (compose, a human) had made it.
func (h *Host) AddContainer(name, ref string, labels map[string]string, running bool) *Container {
	h.mu.Lock()
	defer h.mu.Unlock()
	img := h.Images[ref]
	if img == nil {
		img = h.Registry[ref]
		h.Images[ref] = img
	}
	h.next++
	id := fmt.Sprintf("%064x", h.next)
	c := &Container{ID: id, Name: name, ImageID: img.ID, Running: running, Labels: labels,
		Created: map[string]any{"Image": ref, "Labels": labels, "HostConfig": map[string]any{"NetworkMode": "bridge"}}}
	h.Containers[id] = c
	return c
}

// RemoveContainer removes a container by name.
func (h *Host) RemoveContainer(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c := h.byName(name); c != nil {
		delete(h.Containers, c.ID)
	}
}

// ByNameLocked is ContainerByName for use inside FailRequest (which runs
// with the fake's lock held).
func (h *Host) ByNameLocked(name string) *Container { return h.byName(name) }

// ContainerByName returns the container with that name, or nil.
func (h *Host) ContainerByName(name string) *Container {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byName(name)
}

// Reset forgets the recorded commands and requests.
func (h *Host) Reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.Commands, h.Requests = nil, nil
}

// Mutating returns the recorded requests and commands that change state.
func (h *Host) Mutating() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.Requests {
		if !strings.HasPrefix(r, "GET ") {
			out = append(out, r)
		}
	}
	for _, c := range h.Commands {
		if strings.HasPrefix(c, "sh -c") && strings.Contains(c, "vigo-observe") {
			continue
		}
		out = append(out, c)
	}
	return out
}
