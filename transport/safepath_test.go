package transport

import (
	"errors"
	"path"
	"strings"
	"testing"
)

// fakeFS is an Lstater over a map; a path whose parent is not a
// directory in the map is missing, as on a real file system. It counts
// calls so that a test can bound the work.
type fakeFS struct {
	nodes map[string]Node
	calls int
}

func (f *fakeFS) Lstat(p string) (Node, error) {
	f.calls++
	if p != "/" {
		if par, ok := f.nodes[path.Dir(p)]; !ok || par.Kind != NodeDir {
			return Node{}, nil
		}
	}
	return f.nodes[p], nil
}

func dirNode(uid uint32, mode uint32) Node { return Node{Kind: NodeDir, UID: uid, Mode: mode} }
func linkNode(uid uint32, to string) Node {
	return Node{Kind: NodeSymlink, UID: uid, Mode: 0o777, Link: to}
}

func TestResolveDir(t *testing.T) {
	base := map[string]Node{
		"/":             dirNode(0, 0o755),
		"/tmp":          dirNode(0, 0o1777),
		"/tmp/evil":     dirNode(1000, 0o755),
		"/tmp/link":     linkNode(1000, "/etc"),
		"/var":          dirNode(0, 0o755),
		"/var/run":      linkNode(0, "/run"),
		"/run":          dirNode(0, 0o755),
		"/etc":          dirNode(0, 0o755),
		"/srv":          dirNode(0, 0o755),
		"/srv/app":      dirNode(1000, 0o755),
		"/srv/app/up":   linkNode(1000, "../../etc"),
		"/srv/app/in":   linkNode(1000, "sub"),
		"/srv/app/sub":  dirNode(1000, 0o700),
		"/srv/app/root": dirNode(0, 0o755),
		"/srv/open":     dirNode(0, 0o777),
		"/srv/grp":      dirNode(0, 0o775),
		"/srv/rootgrp":  Node{Kind: NodeDir, UID: 0, GID: 0, Mode: 0o775},
		"/srv/file":     Node{Kind: NodeRegular, UID: 0, Mode: 0o644},
		"/srv/loop":     linkNode(0, "/srv/loop"),
	}
	base["/srv/grp"] = Node{Kind: NodeDir, UID: 0, GID: 50, Mode: 0o775}
	for _, tc := range []struct {
		dir      string
		owner    []uint32
		want     string // resolved dir, or "refused COMPONENT" / "error"
		wantMiss string
	}{
		{dir: "/etc", want: "/etc"},
		{dir: "/var/run", want: "/run"},
		{dir: "/var/run/x/y", want: "/run", wantMiss: "x,y"},
		{dir: "/tmp", want: "/tmp"},
		{dir: "/tmp/new", want: "/tmp", wantMiss: "new"},
		{dir: "/tmp/evil", want: "refused /tmp/evil"},
		{dir: "/tmp/evil", owner: []uint32{1000}, want: "/tmp/evil"},
		{dir: "/tmp/link", want: "refused /tmp/link"},
		{dir: "/tmp/link", owner: []uint32{1000}, want: "refused /tmp/link"}, // user's absolute link to /
		{dir: "/srv/app", want: "refused /srv/app"},
		{dir: "/srv/app/in", owner: []uint32{1000}, want: "/srv/app/sub"},
		{dir: "/srv/app/up", owner: []uint32{1000}, want: "refused /srv"}, // .. out of the user's dir
		{dir: "/srv/app/root", owner: []uint32{1000}, want: "refused /srv/app/root"},
		{dir: "/srv/app/new", owner: []uint32{1000}, want: "refused /srv/app"},
		{dir: "/srv/open", want: "refused /srv/open"},
		{dir: "/srv/grp", want: "refused /srv/grp"},
		{dir: "/srv/rootgrp", want: "/srv/rootgrp"},
		{dir: "/srv/file", want: "refused /srv/file"},
		{dir: "/srv/loop", want: "error"},
	} {
		fs := &fakeFS{nodes: base}
		res, err := ResolveDir(fs, tc.dir, tc.dir+"/f", Trust{UIDs: tc.owner})
		var ue *UnsafePathError
		got := res.Dir
		switch {
		case errors.As(err, &ue):
			got = "refused " + ue.Component
			if !strings.Contains(ue.Error(), ue.Component) {
				t.Errorf("%s: message %q", tc.dir, ue.Error())
			}
		case err != nil:
			got = "error"
		}
		if got != tc.want || strings.Join(res.Missing, ",") != tc.wantMiss {
			t.Errorf("%s (owner %v): got %q missing %v (%v), want %q missing %q", tc.dir, tc.owner, got, res.Missing, err, tc.want, tc.wantMiss)
		}
	}
}

// FuzzResolveDir builds a small file system from the input and checks
// that a resolution never ends in a directory reached through an unsafe
// transition, never panics, and stops after a bounded number of lstat
// calls whatever the symlinks do.
//
//	go test ./transport -run '^$' -fuzz FuzzResolveDir -fuzztime 300000x
func FuzzResolveDir(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 2, 5, 1, 1, 1, 0}, "/a/b/c", uint8(1))
	f.Add([]byte{0, 1, 0, 3, 0, 3, 2, 0, 0, 1}, "/b/a", uint8(0))
	f.Add([]byte{7, 2, 1, 4, 1, 9, 1, 2, 2, 6}, "/c/../a/b", uint8(2))
	names := []string{"a", "b", "c"}
	links := []string{"/", "/a", "../b", "a/b", "..", "/a/b/c", ".", "c/../a", "/c"}
	modes := []uint32{0o755, 0o777, 0o1777, 0o775, 0o700, 0o2775}
	f.Fuzz(func(t *testing.T, data []byte, dir string, owner uint8) {
		if !path.IsAbs(dir) || len(dir) > 64 {
			return
		}
		nodes := map[string]Node{"/": dirNode(0, 0o755)}
		for i := 0; i+5 <= len(data) && i < 5*24; i += 5 {
			b := data[i : i+5]
			p := "/"
			for d := 0; d <= int(b[0]%3); d++ {
				p = path.Join(p, names[(int(b[0])>>(2+d))%3])
			}
			n := Node{UID: uint32(b[2] % 3), GID: uint32(b[2] / 3 % 2), Mode: modes[int(b[3])%len(modes)]}
			switch b[1] % 3 {
			case 0:
				n.Kind = NodeDir
			case 1:
				n.Kind, n.Link = NodeSymlink, links[int(b[4])%len(links)]
			default:
				n.Kind = NodeRegular
			}
			nodes[p] = n
		}
		fs := &fakeFS{nodes: nodes}
		tr := Trust{UIDs: []uint32{uint32(owner % 3)}}
		res, err := ResolveDir(fs, dir, dir, tr)
		if fs.calls > (maxSymlinkHops+2)*(len(dir)+16) {
			t.Fatalf("%d lstat calls", fs.calls)
		}
		if err != nil {
			return
		}
		// Walk the result's own chain: every prefix is a directory the
		// rules accept, entered safely from the one before.
		prev := uint32(0)
		chain := []string{"/"}
		for _, c := range splitPath(res.Dir) {
			chain = append(chain, path.Join(chain[len(chain)-1], c))
		}
		for _, p := range chain {
			n, ok := nodes[p]
			switch {
			case !ok || n.Kind != NodeDir:
				t.Fatalf("resolved %s through %s, not a directory (%+v)", res.Dir, p, n)
			case !tr.trusted(n.UID):
				t.Fatalf("resolved %s through %s owned by %d", res.Dir, p, n.UID)
			case prev != 0 && n.UID != prev:
				t.Fatalf("resolved %s through an unsafe transition at %s", res.Dir, p)
			case n.Mode&0o1000 == 0 && (n.Mode&0o002 != 0 || n.Mode&0o020 != 0 && n.GID != 0):
				t.Fatalf("resolved %s through writable %s (%04o)", res.Dir, p, n.Mode)
			}
			prev = n.UID
		}
		for _, m := range res.Missing {
			if m == "" || m == "." || m == ".." || strings.Contains(m, "/") {
				t.Fatalf("missing component %q", m)
			}
		}
		if len(res.Missing) > 0 {
			if _, ok := nodes[path.Join(res.Dir, res.Missing[0])]; ok {
				t.Fatalf("%s reported missing but exists", path.Join(res.Dir, res.Missing[0]))
			}
		}
	})
}
