package gen

// appendRPM renders a yum/dnf (and CentOS-style) mirrorlist: one comment
// line saying what the list is for, as Fedora's mirrorlist does, then one
// repository base URL a line. dnf tries them in order.
func appendRPM(dst []byte, l *list) []byte {
	dst = append(dst, "# mirrorlist "...)
	dst = l.appendDescription(dst)
	dst = append(dst, '\n')
	for i := range l.urls() {
		dst = l.appendURL(dst, i)
		dst = append(dst, '\n')
	}
	return dst
}
