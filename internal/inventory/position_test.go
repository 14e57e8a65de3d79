package inventory

import (
	"testing"

	"github.com/pelletier/go-toml/v2/unstable"
)

// TestLineParserAgreesWithShape: the line index gives the same positions
// as the parser's own (quadratic) Shape, multi-byte characters and CRLF
// included.
func TestLineParserAgreesWithShape(t *testing.T) {
	data := []byte("# ü\r\n[network]\r\nname = \"Ünïcode\"\n\n[[mirror]]\nname = \"a\"\nasn = [1,\n  2]\ndns = { x = 1 }\n")
	p := &lineParser{lines: lineStarts(data)}
	p.Reset(data)
	var ref unstable.Parser
	ref.Reset(data)
	n := 0
	var walk func(it unstable.Iterator)
	walk = func(it unstable.Iterator) {
		for it.Next() {
			nd := it.Node()
			if nd.Raw.Length > 0 || nd.Raw.Offset > 0 {
				if got, want := p.start(nd.Raw), ref.Shape(nd.Raw).Start; got != want {
					t.Errorf("offset %d: got %+v, want %+v", nd.Raw.Offset, got, want)
				}
				n++
			}
			walk(nd.Children())
		}
	}
	for p.NextExpression() {
		e := p.Expression()
		walk(e.Children())
	}
	if n < 8 {
		t.Fatalf("compared only %d nodes", n)
	}
}
