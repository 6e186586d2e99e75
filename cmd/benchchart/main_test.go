package main

import (
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `rep,tool,phase,hosts,wall_s,user_s,sys_s,max_rss_kb,login_floor_s,engine_floor_s
1,vigo,create,10,12.0,0.2,0.1,18000,1.0,10.0
1,vigo,noop,10,1.5,0.1,0.1,16000,1.2,
1,vigo,retag,10,9.0,0.2,0.1,18000,1.1,8.0
1,ansible,create,10,40.0,10,8,60000,1.4,11.0
1,ansible,noop,10,45.0,10,8,60000,1.0,
1,ansible,retag,10,50.0,10,8,60000,1.3,9.0
2,vigo,noop,10,2.5,0.1,0.1,16000,1.1,
2,vigo,noop,10,0.5,0.1,0.1,16000,1.1,
1,vigo,noop,50,30,0.5,0.2,30000,25,
1,vigo,warm,50,12,0.4,0.1,30000,9,
1,ansible,noop,50,600,90,10,60000,28,
`

func TestReadTakesMediansAndTheRightFloor(t *testing.T) {
	gs, err := read(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	want := []group{
		{10, "create", 12, 40, 10.5, "engine floor"},
		{10, "noop", 1.5, 45, 1.1, "login floor"},
		{10, "retag", 9, 50, 8.5, "engine floor"},
		{50, "noop", 30, 600, 26.5, "login floor"},
		{50, "warm", 12, 0, 9, "warm floor"},
	}
	if len(gs) != len(want) {
		t.Fatalf("groups %+v, want %+v", gs, want)
	}
	for i := range want {
		if gs[i] != want[i] {
			t.Errorf("group %d: %+v, want %+v", i, gs[i], want[i])
		}
	}
}

func TestReadRefusesWhatItCannotPlace(t *testing.T) {
	for _, csv := range []string{
		"",
		"rep,tool,phase,wall_s\n1,vigo,noop,1\n", // no hosts column
		"rep,tool,phase,hosts,wall_s\n1,vigo,deploy,10,1\n",  // unknown phase
		"rep,tool,phase,hosts,wall_s\n1,salt,noop,10,1\n",    // unknown tool
		"rep,tool,phase,hosts,wall_s\n1,vigo,noop,10,fast\n", // not a number
		"rep,tool,phase,hosts,wall_s\n1,vigo,noop,ten,1\n",   // not a size
	} {
		if _, err := read(strings.NewReader(csv)); err == nil {
			t.Errorf("%q: no error", csv)
		}
	}
}

// TestRunWritesOneBarPerMeasurement: the SVG is well-formed XML with a
// bar for every measured series of every group, and the ratios labelled.
func TestRunWritesOneBarPerMeasurement(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "bench.csv"), filepath.Join(dir, "bench.svg")
	if err := os.WriteFile(in, []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-in", in, "-out", out}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	svg := string(b)
	d := xml.NewDecoder(strings.NewReader(svg))
	bars := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			for _, a := range se.Attr {
				if a.Name.Local == "fill" && a.Value != "#ffffff" {
					bars++
				}
			}
		}
	}
	// 4 groups x 3 series, the warm group's 2 (no Ansible), plus the 3
	// legend squares.
	if bars != 4*3+2+3 {
		t.Errorf("%d filled rects, want %d", bars, 4*3+2+3)
	}
	for _, s := range []string{"A/v 30x", "v/fl 1.4x", "A/v 20x", "v/fl 1.3x", "10 hosts", "50 hosts", "no-op"} {
		if !strings.Contains(svg, s) {
			t.Errorf("no %q in the SVG", s)
		}
	}
	if err := run([]string{"-in", filepath.Join(dir, "absent.csv"), "-out", out}); err == nil {
		t.Errorf("absent CSV: no error")
	}
}
