// Package didyoumean suggests the closest known name for a misspelt one,
// for hints like `did you mean "restart_policy"?`.
package didyoumean

import (
	"fmt"
	"slices"
	"strings"
)

// Suggest returns the candidate closest to name by edit distance, or ""
// when none is close enough (1 edit for names under 4 characters, else 2
// or a third of the length, at most 4). Ties go to the earliest candidate.
func Suggest(name string, candidates []string) string {
	best, bestD := "", -1
	limit := 1
	if len(name) >= 4 {
		limit = min(max(2, len(name)/3), 4)
	}
	ln := strings.ToLower(name)
	for _, c := range candidates {
		if c == name {
			continue
		}
		d := distance(ln, strings.ToLower(c))
		if d <= limit && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// distance is the Levenshtein distance between a and b, counting a swap
// of two adjacent characters as one edit (restart_polciy).
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows are enough for the optimal string alignment distance.
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// Hint is the wording every error uses for Suggest: `did you mean "x"?`,
// or "" when name is itself one of the candidates or none is close enough.
func Hint(name string, candidates []string) string {
	if slices.Contains(candidates, name) {
		return ""
	}
	if s := Suggest(name, candidates); s != "" {
		return fmt.Sprintf("did you mean %q?", s)
	}
	return ""
}
