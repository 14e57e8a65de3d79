package inventory

import (
	"slices"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// positions maps a dotted key path ("mirror.3.weight", "mirror.3.subnets.1")
// to where it stands in the file, so that errors found after decoding (a bad
// country code, a duplicate URL) can still point at a line and column.
type positions map[string]unstable.Position

// indexPositions walks the TOML document once. It is only called on a
// document the decoder has already accepted, so a parse error here cannot
// happen in practice; if it does, the index is simply incomplete and errors
// fall back to the nearest known position.
func indexPositions(data []byte) positions {
	pos := positions{}
	p := &lineParser{lines: lineStarts(data)}
	p.Reset(data)
	var table []string
	arrays := map[string]int{} // array-table path -> current index
	for p.NextExpression() {
		expr := p.Expression()
		switch expr.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = table[:0]
			var first *unstable.Node
			it := expr.Key()
			for it.Next() {
				n := it.Node()
				if first == nil {
					first = n
				}
				table = append(table, string(n.Data))
			}
			path := strings.Join(table, ".")
			if expr.Kind == unstable.ArrayTable {
				idx, seen := arrays[path]
				if seen {
					idx++
				}
				arrays[path] = idx
				table = append(table, strconv.Itoa(idx))
				path += "." + strconv.Itoa(idx)
			} else if i, ok := arrays[table[0]]; ok && len(table) > 1 {
				// [mirror.x] after [[mirror]] addresses the last element.
				table = append([]string{table[0], strconv.Itoa(i)}, table[1:]...)
				path = strings.Join(table, ".")
			}
			if first != nil {
				pos[path] = p.start(first.Raw)
			}
		case unstable.KeyValue:
			indexKeyValue(p, pos, table, expr)
		}
	}
	return pos
}

func indexKeyValue(p *lineParser, pos positions, prefix []string, kv *unstable.Node) {
	path := append([]string(nil), prefix...)
	var keyNode *unstable.Node
	it := kv.Key()
	for it.Next() {
		n := it.Node()
		if keyNode == nil {
			keyNode = n
		}
		path = append(path, string(n.Data))
	}
	if keyNode == nil {
		return
	}
	at := p.start(keyNode.Raw)
	pos[strings.Join(path, ".")] = at
	indexValue(p, pos, path, kv.Value(), at)
}

func indexValue(p *lineParser, pos positions, path []string, v *unstable.Node, at unstable.Position) {
	switch v.Kind {
	case unstable.Array:
		i := 0
		it := v.Children()
		for it.Next() {
			n := it.Node()
			elem := append(append([]string(nil), path...), strconv.Itoa(i))
			ep := at
			if n.Raw.Length > 0 {
				ep = p.start(n.Raw)
			}
			pos[strings.Join(elem, ".")] = ep
			indexValue(p, pos, elem, n, ep)
			i++
		}
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			indexKeyValue(p, pos, path, it.Node())
		}
	}
}

// at returns the position of path, or of its nearest indexed ancestor.
func (ps positions) at(path string) (unstable.Position, bool) {
	for {
		if p, ok := ps[path]; ok {
			return p, true
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			return unstable.Position{}, false
		}
		path = path[:i]
	}
}

// lineParser is a parser that knows where each line starts. The
// parser's own Shape counts lines from the top of the file on every
// call, which made loading an inventory of 5,000 mirrors take 13 s.
type lineParser struct {
	unstable.Parser
	lines []int // offset of the first byte of each line
}

func lineStarts(data []byte) []int {
	lines := []int{0}
	for i, c := range data {
		if c == '\n' {
			lines = append(lines, i+1)
		}
	}
	return lines
}

// start is where r begins: line and column counted from 1, the column in
// bytes, as the parser's Shape gives them.
func (p *lineParser) start(r unstable.Range) unstable.Position {
	off := int(r.Offset)
	line, _ := slices.BinarySearch(p.lines, off+1) // lines starting at or before off
	return unstable.Position{Offset: off, Line: line, Column: off - p.lines[line-1] + 1}
}
