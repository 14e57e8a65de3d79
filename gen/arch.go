package gen

// appendArch renders a pacman mirrorlist (/etc/pacman.d/mirrorlist):
// "Server = " lines in order. The repository path keeps pacman's own $repo
// and $arch variables, which pacman expands per repository.
func appendArch(dst []byte, l *list) []byte {
	dst = append(dst, "## pacman mirrorlist "...)
	dst = l.appendDescription(dst)
	dst = append(dst, '\n')
	for i := range l.urls() {
		dst = append(dst, "Server = "...)
		dst = l.appendURL(dst, i)
		dst = append(dst, '\n')
	}
	return dst
}
