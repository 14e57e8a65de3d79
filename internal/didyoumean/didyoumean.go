// Package didyoumean finds the known name an unknown one was probably
// meant to be, for error messages such as `unknown key "wieght" (did you
// mean "weight"?)`.
package didyoumean

// Closest returns the first of names at the smallest edit distance from
// bad, if that is at most two edits, else "". An edit is inserting,
// deleting or replacing a character, or swapping two neighbours.
func Closest(bad string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := distance(bad, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// distance is the optimal string alignment distance between a and b, on
// runes.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// Three rows: a swap looks two rows back.
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
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
