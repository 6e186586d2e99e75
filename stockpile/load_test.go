package stockpile_test

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/vigo-sh/vigocli/executors"
	"github.com/vigo-sh/vigocli/stockpile"
)

func load(t *testing.T, files map[string]string) (*stockpile.Stockpile, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return stockpile.LoadFS(fsys, "sp", executors.BuiltinSchemas())
}

func mustLoad(t *testing.T, files map[string]string) *stockpile.Stockpile {
	t.Helper()
	sp, err := load(t, files)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return sp
}

func TestLoadExample(t *testing.T) {
	sp, err := stockpile.Load("../examples/docker-stack", executors.BuiltinSchemas())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range sp.Modules {
		names = append(names, m.Name)
	}
	if !reflect.DeepEqual(names, []string{"app-stack", "compose-app", "redis"}) {
		t.Errorf("modules %v", names)
	}
	// The module app-stack and compose-app's resource app-stack live in
	// separate namespaces; notify: app-stack resolves to the resource.
	cf := sp.Resource("compose-app/compose-file")
	if cf == nil || len(cf.Notify) != 1 || cf.Notify[0].ID() != "compose-app/app-stack" {
		t.Errorf("compose-file notify = %+v", cf)
	}
	ac := sp.Resource("app-stack/app-container")
	if ac == nil || len(ac.DependsOn) != 1 || ac.DependsOn[0].ID() != "redis/redis-container" {
		t.Errorf("app-container depends_on = %+v", ac)
	}
	if got := ac.DependsOn[0].Pos.String(); got != "../examples/docker-stack/modules/app-stack.vgo:27:9" {
		t.Errorf("depends_on position %s", got)
	}
	if got := ac.Pos.String(); got != "../examples/docker-stack/modules/app-stack.vgo:15:5" {
		t.Errorf("resource position %s", got)
	}
	var e *stockpile.Envoy
	for _, x := range sp.Envoys {
		if x.Match == "*.app.example.com" {
			e = x
		}
	}
	if e == nil {
		t.Fatal("no envoy *.app.example.com")
	}
	if e.Match != "*.app.example.com" || e.Environment != "production" || e.Roles[0].Name != "docker-app" {
		t.Errorf("envoy %+v", e)
	}
}

const redis = `name: redis
vars:
  redis_port: 6379
  maxmemory: 512mb
  quoted: "6379"
  list: [a, 1]
resources:
  - name: redis-container
    type: docker_container
    container: redis
    image: "redis:7"
    ports:
      - 6379:6379
      - 8080
    environment:
      A: 1
      B: true
      C: "{{ .Vars.x }}"
    user: "1000"
    wait_healthy: True
  - name: compose
    type: docker_compose
    compose_file: /x.yml
    remove_orphans: "true"
    wait: false
    wait_timeout: 2m
  - name: compose2
    type: docker_compose
    compose_file: /y.yml
    remove_orphans: true
    state: "{{ .Vars.state }}"
  - name: page
    type: file
    target_path: /srv/page
    mode: 0644
    content: !raw |
      {{ .Values.helm }} << .Stays >>
  - name: single
    type: docker_container
    container: one
    ports: "80:80"
    depends_on: redis-container
    notify: [compose, redis/compose2]
`

func TestScalars(t *testing.T) {
	sp := mustLoad(t, map[string]string{"modules/redis.vgo": redis})
	m := sp.Module("redis")
	vars := map[string]any{}
	for _, v := range m.Vars {
		vars[v.Name] = v.Value.Plain()
	}
	wantVars := map[string]any{"redis_port": "6379", "maxmemory": "512mb", "quoted": "6379", "list": []any{"a", "1"}}
	if !reflect.DeepEqual(vars, wantVars) {
		t.Errorf("vars %#v, want %#v", vars, wantVars)
	}
	rc := sp.Resource("redis/redis-container")
	for _, tc := range []struct {
		field string
		want  any
	}{
		{"ports", []any{"6379:6379", "8080"}},
		{"environment", map[string]any{"A": "1", "B": "true", "C": "{{ .Vars.x }}"}},
		{"user", "1000"},
		{"wait_healthy", "true"},
	} {
		if got := rc.Field(tc.field).Plain(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s = %#v, want %#v", tc.field, got, tc.want)
		}
	}
	if got := sp.Resource("redis/compose").Field("remove_orphans").Str; got != "true" {
		t.Errorf(`remove_orphans: "true" = %q`, got)
	}
	if got := sp.Resource("redis/compose2").Field("remove_orphans").Str; got != "true" {
		t.Errorf(`remove_orphans: true = %q`, got)
	}
	page := sp.Resource("redis/page")
	if got := page.Field("mode").Str; got != "0644" {
		t.Errorf("mode = %q, want 0644 as written", got)
	}
	if c := page.Field("content"); !c.Raw || c.Str != "{{ .Values.helm }} << .Stays >>\n" {
		t.Errorf("raw content = %+v", c)
	}
	single := sp.Resource("redis/single")
	if got := single.Field("ports").Plain(); !reflect.DeepEqual(got, []any{"80:80"}) {
		t.Errorf("single port as list: %#v", got)
	}
	var deps, notify []string
	for _, r := range single.DependsOn {
		deps = append(deps, r.ID())
	}
	for _, r := range single.Notify {
		notify = append(notify, r.ID())
	}
	if !reflect.DeepEqual(deps, []string{"redis/redis-container"}) || !reflect.DeepEqual(notify, []string{"redis/compose", "redis/compose2"}) {
		t.Errorf("refs %v %v", deps, notify)
	}
}

func TestResolve(t *testing.T) {
	files := map[string]string{
		"modules/a.vgo": "name: a\nresources:\n  - {name: img, type: docker_image, image: x}\n  - {name: uniq, type: docker_image, image: x}\n",
		"modules/b.vgo": "name: b\nresources:\n  - {name: img, type: docker_image, image: x}\n  - {name: use, type: docker_image, image: x, depends_on: [img, uniq, a/img]}\n",
	}
	sp := mustLoad(t, files)
	var got []string
	for _, r := range sp.Resource("b/use").DependsOn {
		got = append(got, r.ID())
	}
	// img: own module first; uniq: the only one; a/img: qualified.
	if want := []string{"b/img", "a/uniq", "a/img"}; !reflect.DeepEqual(got, want) {
		t.Errorf("resolved %v, want %v", got, want)
	}
}

func TestLoadErrorsAllAtOnce(t *testing.T) {
	_, err := load(t, map[string]string{
		"modules/a.vgo": "name: a\nresources:\n  - {name: x, type: docker_image, imag: y}\n  - {name: z, type: nope}\n",
		"roles/r.vgo":   "name: r\nmodules: [b]\n",
	})
	if err == nil {
		t.Fatal("no error")
	}
	es, ok := err.(stockpile.Errors)
	if !ok {
		t.Fatalf("error type %T", err)
	}
	want := []string{
		`sp/modules/a.vgo:3:5: resource "x" (docker_image) is missing required field "image"`,
		`sp/modules/a.vgo:3:35: unknown field "imag" in resource "x" (docker_image) (hint: did you mean "image"?)`,
		`sp/modules/a.vgo:4:21: unknown resource type "nope"`,
		`sp/roles/r.vgo:2:11: role "r" uses unknown module "b"`,
	}
	if len(es) != len(want) {
		t.Fatalf("got %d errors:\n%v", len(es), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(es[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, es[i].Error(), w)
		}
	}
}

func TestAliases(t *testing.T) {
	sp := mustLoad(t, map[string]string{
		"modules/a.vgo": `name: a
vars: &v {x: "1"}
resources: &r
  - name: img
    type: docker_image
    image: &i nginx
  - {name: img2, type: docker_image, image: *i}
`,
		"roles/r.vgo": "name: r\nmodules: &m [a]\n",
	})
	if got := sp.Resource("a/img2").Field("image").Str; got != "nginx" {
		t.Errorf("aliased image %q", got)
	}
	if len(sp.Role("r").Modules) != 1 {
		t.Error("aliased role modules")
	}
}

func TestErrorFormat(t *testing.T) {
	es := stockpile.Errors{
		{Pos: stockpile.Pos{File: "b.vgo", Line: 1, Col: 1}, Msg: "second"},
		{Pos: stockpile.Pos{File: "a.vgo", Line: 9, Col: 2}, Msg: "first", Hint: `did you mean "x"?`},
		{Pos: stockpile.Pos{File: "a.vgo", Line: 9, Col: 2}, Msg: "first", Hint: `did you mean "x"?`},
		{Msg: "no position"},
	}
	want := "no position\na.vgo:9:2: first (hint: did you mean \"x\"?)\nb.vgo:1:1: second"
	if got := es.Err().Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if (stockpile.Errors{}).Err() != nil {
		t.Error("no errors must be a nil error")
	}
}

// FuzzLoad feeds arbitrary bytes to the loader as a module, a role and an
// envoys file: it must return a stockpile or errors, never panic, and every
// error must carry a position inside the stockpile.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(redis))
	f.Add([]byte("name: x\nresources: [{name: a, type: file, target_path: /a, content: !raw '{{'}]\n"))
	f.Add([]byte("envoys:\n  - match: '*'\n    roles: [r]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("name: m\nvars: {a: &x [*x]}\nresources: []\n"))
	f.Add([]byte("- &a [a, a]\n- &b [*a, *a]\n- &c [*b, *b]\n"))
	f.Add([]byte("name: r\nmodules: [x]\nvars: {a: 1}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{
			"modules/m.vgo": {Data: data},
			"roles/r.vgo":   {Data: data},
			"envoys/e.vgo":  {Data: data},
		}
		var sp *stockpile.Stockpile
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			sp, err = stockpile.LoadFS(fsys, "", executors.BuiltinSchemas())
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("load of %q takes more than 10s", data)
		}
		if err == nil {
			if sp == nil {
				t.Fatal("nil stockpile without error")
			}
			return
		}
		es, ok := err.(stockpile.Errors)
		if !ok {
			t.Fatalf("error of type %T: %v", err, err)
		}
		for _, e := range es {
			if e.Pos.File == "" || e.Pos.Line < 1 {
				t.Fatalf("error without position: %v", e)
			}
		}
	})
}

// An alias inside its own anchor is refused at once (it used to expand
// until the node limit, building ever longer descriptions: minutes of
// work for an 11-byte file), and so is absurd nesting.
func TestSelfAlias(t *testing.T) {
	for _, tc := range []struct{ data, want string }{
		{"a: &x [*x]\n", "inv.vgo:1:8: alias *x in a[0] refers to a value that contains it"},
		{"a: " + strings.Repeat("[", 150) + strings.Repeat("]", 150) + "\n", "nested more than 100 levels deep"},
	} {
		done := make(chan stockpile.Errors)
		go func() { _, errs := stockpile.ParseFile("inv.vgo", []byte(tc.data)); done <- errs }()
		select {
		case errs := <-done:
			if !strings.Contains(errs.Error(), tc.want) {
				t.Errorf("%q: got %v, want %q", tc.data, errs, tc.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q: parse takes more than 10s", tc.data)
		}
	}
}

// TestCheckValueKinds covers each scalar kind's check, including KindInt,
// which no built-in field uses today (testdata/bad covers the others end
// to end).
func TestCheckValueKinds(t *testing.T) {
	for _, tc := range []struct {
		f             stockpile.Field
		in, norm, bad string
	}{
		{f: stockpile.Field{Name: "n", Kind: stockpile.KindInt}, in: "10", norm: "10"},
		{f: stockpile.Field{Name: "n", Kind: stockpile.KindInt}, in: "ten", bad: `must be a whole number, not "ten"`},
		{f: stockpile.Field{Name: "b", Kind: stockpile.KindBool}, in: "True", norm: "true"},
		{f: stockpile.Field{Name: "b", Kind: stockpile.KindBool}, in: "maybe", bad: `must be true or false, not "maybe"`},
		{f: stockpile.Field{Name: "d", Kind: stockpile.KindDuration}, in: "2m", norm: "2m"},
		{f: stockpile.Field{Name: "d", Kind: stockpile.KindDuration}, in: "10 parsecs", bad: `must be a duration, not "10 parsecs"`},
		{f: stockpile.Field{Name: "e", Enum: []string{"up", "down"}}, in: "up", norm: "up"},
		{f: stockpile.Field{Name: "e", Enum: []string{"up", "down"}}, in: "sideways", bad: `must be one of up, down, not "sideways"`},
	} {
		norm, problem, _ := stockpile.CheckValue(tc.f, tc.in)
		if problem != tc.bad || tc.bad == "" && norm != tc.norm {
			t.Errorf("CheckValue(%s %q) = %q, %q; want %q, %q", tc.f.Name, tc.in, norm, problem, tc.norm, tc.bad)
		}
	}
}
