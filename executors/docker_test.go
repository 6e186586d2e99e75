package executors

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/vigo-sh/vigocli/transport"
)

// scriptedEngine answers each "METHOD PATH" with a status and a body, and
// records the requests (with query and body) it got.
type scriptedEngine struct {
	mu      sync.Mutex
	answers map[string]scripted
	got     []string
}

type scripted struct {
	status int
	body   string
}

func (e *scriptedEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	e.mu.Lock()
	e.got = append(e.got, r.Method+" "+r.URL.RequestURI()+" "+string(b))
	a, ok := e.answers[r.Method+" "+r.URL.Path]
	e.mu.Unlock()
	if !ok {
		a = scripted{404, `{"message":"no such thing"}`}
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func startScriptedEngine(t *testing.T, answers map[string]scripted) (*dockerAPI, *scriptedEngine) {
	t.Helper()
	e := &scriptedEngine{answers: answers}
	sock := filepath.Join(t.TempDir(), "docker.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	api := newDockerAPI(&boundedHost{sock: sock, b: transport.Bounds{}.WithDefaults()})
	t.Cleanup(api.Close)
	return api, e
}

// TestEngineClientAlreadySo: the answers that mean "already so" are
// handled in the client, once, and every other failure is an error that
// carries the engine's status.
func TestEngineClientAlreadySo(t *testing.T) {
	ctx := context.Background()
	api, e := startScriptedEngine(t, map[string]scripted{
		"POST /containers/running/start": {304, ""},
		"POST /containers/broken/start":  {500, `{"message":"cannot start"}`},
		"POST /containers/stopped/stop":  {304, ""},
		"POST /containers/broken/stop":   {500, `{"message":"cannot stop"}`},
		"GET /containers/json":           {200, `[{"Id":"abc","Names":["/x"]}]`},
		"GET /networks/net1":             {200, `{"Id":"net1id0123","Name":"net1"}`},
		"GET /networks/cafe":             {200, `{"Id":"cafe0123","Name":"other"}`},
		"POST /networks/net1/connect":    {200, ""},
	})
	if err := api.StartContainer(ctx, "running"); err != nil {
		t.Errorf("start of a running container: %v", err)
	}
	if err := api.StartContainer(ctx, "broken"); !isStatus(err, 500) {
		t.Errorf("start failure: %v, want the engine's 500", err)
	}
	if err := api.StopContainer(ctx, "stopped"); err != nil {
		t.Errorf("stop of a stopped container: %v", err)
	}
	if err := api.StopContainer(ctx, "gone"); err != nil {
		t.Errorf("stop of a missing container: %v", err)
	}
	if err := api.StopContainer(ctx, "broken"); !isStatus(err, 500) {
		t.Errorf("stop failure: %v, want the engine's 500", err)
	}
	if err := api.RemoveContainer(ctx, "gone"); err != nil {
		t.Errorf("remove of a missing container: %v", err)
	}
	if err := api.RemoveNetwork(ctx, "gone"); err != nil {
		t.Errorf("remove of a missing network: %v", err)
	}
	if err := api.RemoveVolume(ctx, "gone"); err != nil {
		t.Errorf("remove of a missing volume: %v", err)
	}
	if err := api.RemoveImage(ctx, "gone:1"); !isStatus(err, 404) {
		t.Errorf("remove of a missing image: %v, want the engine's 404 (the caller tells gone from in use)", err)
	}
	if c, err := api.InspectContainer(ctx, "gone"); c != nil || err != nil {
		t.Errorf("inspect of a missing container: %v %v, want nil nil", c, err)
	}
	if nw, err := api.InspectNetwork(ctx, "net1"); err != nil || nw == nil || nw.ID != "net1id0123" {
		t.Errorf("inspect network: %+v %v", nw, err)
	}
	if nw, err := api.InspectNetwork(ctx, "cafe"); nw != nil || err != nil {
		t.Errorf("a network found by ID prefix is not the one named: %+v %v", nw, err)
	}
	list, err := api.ListContainers(ctx, "com.docker.compose.project=a b")
	if err != nil || len(list) != 1 || list[0].Name() != "x" {
		t.Errorf("list: %+v %v", list, err)
	}
	if err := api.ConnectNetwork(ctx, "net1", "abc", nil); err != nil {
		t.Errorf("connect: %v", err)
	}
	want := []string{
		"POST /containers/running/start ",
		"POST /containers/broken/start ",
		"POST /containers/stopped/stop ",
		"POST /containers/gone/stop ",
		"POST /containers/broken/stop ",
		"DELETE /containers/gone?force=1 ",
		"DELETE /networks/gone ",
		"DELETE /volumes/gone ",
		"DELETE /images/gone:1 ",
		"GET /containers/gone/json ",
		"GET /networks/net1 ",
		"GET /networks/cafe ",
		"GET /containers/json?all=1&filters=%7B%22label%22%3A%5B%22com.docker.compose.project%3Da+b%22%5D%7D ",
		`POST /networks/net1/connect {"Container":"abc"}`,
	}
	if !slices.Equal(e.got, want) {
		t.Errorf("requests:\n%q\nwant\n%q", e.got, want)
	}
}
