package main

import (
	"bufio"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// Geometry of the chart, in SVG user units.
const (
	barW     = 22.0
	barGap   = 3.0
	groupGap = 26.0
	sizeGap  = 30.0
	left     = 64.0
	right    = 16.0
	top      = 58.0
	plotH    = 300.0
	bottom   = 78.0
)

var series = []struct {
	name, color string
	value       func(group) float64
}{
	{"vigo", "#2b6cb0", func(g group) float64 { return g.Vigo }},
	{"Ansible", "#c05621", func(g group) float64 { return g.Ansible }},
	{"floor", "#718096", func(g group) float64 { return g.Floor }},
}

var phaseLabel = map[string]string{"create": "create", "noop": "no-op", "warm": "warm no-op", "retag": "retag"}

// draw writes the SVG of the groups (sorted by size, then phase).
func draw(w io.Writer, groups []group, title string) error {
	lo, hi := math.Inf(1), 0.0
	for _, g := range groups {
		for _, s := range series {
			if v := s.value(g); v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if hi == 0 {
		return fmt.Errorf("no wall time above zero")
	}
	// Decades from below the smallest to above the largest value.
	dlo, dhi := math.Floor(math.Log10(lo)), math.Ceil(math.Log10(hi))
	if dhi == dlo {
		dhi++
	}
	y := func(v float64) float64 {
		return top + plotH - (math.Log10(v)-dlo)/(dhi-dlo)*plotH
	}

	groupW := float64(len(series))*(barW+barGap) - barGap
	// x positions: groups side by side, a wider gap between sizes.
	xs := make([]float64, len(groups))
	x := left + groupGap/2
	for i, g := range groups {
		if i > 0 {
			x += groupGap
			if g.Hosts != groups[i-1].Hosts {
				x += sizeGap
			}
		}
		xs[i] = x
		x += groupW
	}
	width := x + groupGap/2 + right
	height := top + plotH + bottom

	b := bufio.NewWriter(w)
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="11">`+"\n",
		width, height, width, height)
	p(`<rect width="100%%" height="100%%" fill="#ffffff"/>` + "\n")
	p(`<text x="%.1f" y="18" font-size="14" font-weight="bold">%s</text>`+"\n", left, esc(title))
	// Legend.
	lx := left
	for _, s := range series {
		name := s.name
		if s.name == "floor" {
			name = "floor (engine: create, retag; login: no-op; warm: warm no-op)"
		}
		p(`<rect x="%.1f" y="30" width="12" height="12" fill="%s"/><text x="%.1f" y="40">%s</text>`+"\n", lx, s.color, lx+16, esc(name))
		lx += 16 + 7*float64(len(name)) + 18
	}
	// Axis and decade grid.
	for d := dlo; d <= dhi; d++ {
		v := math.Pow(10, d)
		yy := y(v)
		p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e2e8f0"/>`+"\n", left, yy, width-right, yy)
		p(`<text x="%.1f" y="%.1f" text-anchor="end" fill="#4a5568">%s s</text>`+"\n", left-6, yy+4, strconv.FormatFloat(v, 'g', -1, 64))
	}
	p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#4a5568"/>`+"\n", left, top, left, top+plotH)
	p(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#4a5568"/>`+"\n", left, top+plotH, width-right, top+plotH)

	base := top + plotH
	for i, g := range groups {
		for j, s := range series {
			v := s.value(g)
			if v <= 0 {
				continue
			}
			bx := xs[i] + float64(j)*(barW+barGap)
			by := y(v)
			p(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s, %d hosts: %s s</title></rect>`+"\n",
				bx, by, barW, base-by, s.color, esc(s.name), esc(phaseLabel[g.Phase]), g.Hosts, seconds(v))
			p(`<text x="%.1f" y="%.1f" text-anchor="middle" font-size="9">%s</text>`+"\n", bx+barW/2, by-3, seconds(v))
		}
		cx := xs[i] + groupW/2
		p(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", cx, base+14, esc(phaseLabel[g.Phase]))
		if g.Vigo > 0 && g.Ansible > 0 {
			p(`<text x="%.1f" y="%.1f" text-anchor="middle" font-size="9" fill="#c05621">A/v %s</text>`+"\n", cx, base+27, ratio(g.Ansible/g.Vigo))
		}
		if g.Vigo > 0 && g.Floor > 0 {
			p(`<text x="%.1f" y="%.1f" text-anchor="middle" font-size="9" fill="#4a5568">v/fl %s</text>`+"\n", cx, base+39, ratio(g.Vigo/g.Floor))
		}
	}
	// Size labels under each run of groups.
	for i := 0; i < len(groups); {
		j := i
		for j+1 < len(groups) && groups[j+1].Hosts == groups[i].Hosts {
			j++
		}
		cx := (xs[i] + xs[j] + groupW) / 2
		p(`<text x="%.1f" y="%.1f" text-anchor="middle" font-weight="bold">%d hosts</text>`+"\n", cx, base+58, groups[i].Hosts)
		i = j + 1
	}
	p(`<text x="%.1f" y="%.1f" font-size="9" fill="#4a5568">A/v: Ansible / vigo; v/fl: vigo / floor (wall time)</text>`+"\n", left, height-6)
	p("</svg>\n")
	return b.Flush()
}

func esc(s string) string { return html.EscapeString(s) }

// seconds formats a wall time with two or three significant figures.
func seconds(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	case v >= 0.1:
		return fmt.Sprintf("%.2f", v)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.3f", v), "0"), ".")
}

func ratio(r float64) string {
	if r >= 10 {
		return fmt.Sprintf("%.0fx", r)
	}
	return fmt.Sprintf("%.1fx", r)
}
