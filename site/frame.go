package site

import (
	"bytes"
	"errors"
	"html/template"
	"strings"
	"sync"
)

// The layout around a page's content is the same for every page with the
// same root, navigation entry and snapshot, but for the title: a quarter
// of what a page's template evaluates. A frame is that layout rendered
// once, with marks where the title and the content go, and cut there.
const (
	titleMark   = "\uE000mirrorsteer-title\uE000"
	contentMark = "\uE000mirrorsteer-content\uE000"
)

// frameContent is the content a frame is rendered around.
const frameContent = `{{define "content"}}` + contentMark + `{{end}}`

// titleText escapes a title as the layout does, inside <title>.
var titleText = template.Must(template.New("title").Parse(`<title>{{.}}</title>`))

type frame struct {
	head, mid, tail []byte // page = head + title + mid + content + tail
}

// framer renders pages in the frames it has rendered so far.
type framer struct {
	t      map[string]*template.Template // by page name; "frame" renders frames
	mu     sync.Mutex
	frames map[page]*frame // by the page's layout values, Title left empty
}

// render appends the page name with data to buf: the content rendered by
// itself in the frame of its layout values.
func (f *framer) render(buf *bytes.Buffer, name string, data interface{ Layout() page }) error {
	lv := data.Layout()
	title := lv.Title
	lv.Title = ""
	fr, err := f.frame(lv)
	if err != nil {
		return err
	}
	var tb bytes.Buffer
	if err := titleText.Execute(&tb, title); err != nil {
		return err
	}
	buf.Write(fr.head)
	buf.Write(tb.Bytes()[len("<title>") : tb.Len()-len("</title>")])
	buf.Write(fr.mid)
	if err := f.t[name].ExecuteTemplate(buf, "content", data); err != nil {
		return err
	}
	buf.Write(fr.tail)
	return nil
}

// frame returns the frame of layout values lv (Title empty), rendering it
// the first time.
func (f *framer) frame(lv page) (*frame, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fr, ok := f.frames[lv]; ok {
		return fr, nil
	}
	marked := lv
	marked.Title = titleMark
	var b bytes.Buffer
	if err := f.t["frame"].ExecuteTemplate(&b, "layout", marked); err != nil {
		return nil, err
	}
	head, rest, ok1 := strings.Cut(b.String(), titleMark)
	mid, tail, ok2 := strings.Cut(rest, contentMark)
	if !ok1 || !ok2 || strings.Contains(tail, titleMark) || strings.Contains(tail, contentMark) || strings.Contains(mid, titleMark) {
		return nil, errBadFrame
	}
	fr := &frame{head: []byte(head), mid: []byte(mid), tail: []byte(tail)}
	f.frames[lv] = fr
	return fr, nil
}

var errBadFrame = errors.New("site: the layout must show the title once, before the content, and the content once")
