package gen

// appendFiles renders a plain URL list, one URL a line and nothing else,
// for scripts and download tools (wget -i, curl, aria2c -i).
func appendFiles(dst []byte, l *list) []byte {
	for i := range l.urls() {
		dst = l.appendURL(dst, i)
		dst = append(dst, '\n')
	}
	return dst
}
