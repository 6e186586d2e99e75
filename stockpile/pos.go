package stockpile

import "fmt"

// Pos is a position in a stockpile file. Every entity keeps one so that
// errors can say file:line:col.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

func (p Pos) String() string {
	if p.File == "" {
		return "-"
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}
