package stockpile

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Error is one problem found in a stockpile or an inventory, at a position.
type Error struct {
	Pos  Pos
	Msg  string
	Hint string // e.g. `did you mean "restart_policy"?`; may be empty
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.Pos.File != "" {
		b.WriteString(e.Pos.String())
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString(" (hint: ")
		b.WriteString(e.Hint)
		b.WriteString(")")
	}
	return b.String()
}

// Errors is every problem found, sorted by file, line and column. Its
// Error method prints one per line.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Sort orders the errors by file, line, column and message, and drops
// exact duplicates.
func (es *Errors) Sort() {
	slices.SortStableFunc(*es, func(a, b *Error) int {
		return cmp.Or(
			cmp.Compare(a.Pos.File, b.Pos.File),
			cmp.Compare(a.Pos.Line, b.Pos.Line),
			cmp.Compare(a.Pos.Col, b.Pos.Col),
			cmp.Compare(a.Msg, b.Msg),
		)
	})
	*es = slices.CompactFunc(*es, func(a, b *Error) bool { return *a == *b })
}

// Err returns the sorted errors as an error, or nil when there are none.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	es.Sort()
	return es
}

// Addf records an error.
func (es *Errors) Addf(p Pos, hint, format string, args ...any) {
	*es = append(*es, &Error{Pos: p, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// Less orders positions by file, line and column.
func (p Pos) Less(q Pos) bool {
	return cmp.Or(cmp.Compare(p.File, q.File), cmp.Compare(p.Line, q.Line), cmp.Compare(p.Col, q.Col)) < 0
}
