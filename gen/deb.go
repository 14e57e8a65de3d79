package gen

import "strconv"

// appendDeb renders a list for apt's mirror method (apt-transport-mirror,
// "deb mirror+https://.../DE.txt suite component"): one archive URL a
// line, then a tab and priority:N. apt prefers lower priorities and
// shuffles equal ones, so distinct priorities keep the policy's order.
func appendDeb(dst []byte, l *list) []byte {
	dst = append(dst, "# apt mirror list "...)
	dst = l.appendDescription(dst)
	dst = append(dst, '\n')
	for i := range l.urls() {
		dst = l.appendURL(dst, i)
		dst = append(dst, "\tpriority:"...)
		dst = strconv.AppendInt(dst, int64(i+1), 10)
		dst = append(dst, '\n')
	}
	return dst
}
