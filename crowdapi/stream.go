package crowdapi

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
)

// listWriter streams a <users>/<groups> list (or its JSON form) straight to the client, so a list of
// any length is written with constant memory and the first byte goes out at once.
type listWriter struct {
	c       echo.Context
	w       *bufio.Writer
	buf     bytes.Buffer
	xml     *xml.Encoder
	json    bool
	started bool
	n       int
	root    string // "users" or "groups"
	expand  string // "user" or "group"
}

func newListWriter(c echo.Context, root, expand string) *listWriter {
	return &listWriter{c: c, root: root, expand: expand, json: wantsJSON(c.Request())}
}

// start commits the 200 response; called lazily at the first item or at close, so errors found
// before any output still become proper error responses.
func (l *listWriter) start() {
	if l.started {
		return
	}
	l.started = true
	r := l.c.Response()
	if l.json {
		r.Header().Set("Content-Type", "application/json")
	} else {
		r.Header().Set("Content-Type", "application/xml")
	}
	r.WriteHeader(http.StatusOK)
	l.w = bufio.NewWriterSize(r, 32<<10)
	if l.json {
		fmt.Fprintf(l.w, `{"expand":%q,%q:[`, l.expand, l.root)
		return
	}
	l.w.WriteString(xmlProlog)
	fmt.Fprintf(l.w, `<%s expand="%s">`, l.root, l.expand)
	l.xml = xml.NewEncoder(&l.buf)
}

func (l *listWriter) add(v any) error {
	l.start()
	if l.json {
		if l.n > 0 {
			l.w.WriteByte(',')
		}
		b, err := marshalJSON(v)
		if err != nil {
			return err
		}
		l.w.Write(b)
	} else {
		l.buf.Reset()
		if err := l.xml.Encode(v); err != nil {
			return err
		}
		l.w.Write(collapseEmpty(l.buf.Bytes()))
	}
	l.n++
	if l.n%512 == 0 {
		return l.w.Flush()
	}
	return nil
}

func (l *listWriter) close() error {
	l.start()
	switch {
	case l.json:
		l.w.WriteString("]}")
	case l.n == 0:
		// Crowd's empty list: <users expand="user"/>
		l.w.Reset(l.c.Response())
		l.w.WriteString(xmlProlog)
		fmt.Fprintf(l.w, `<%s expand="%s"/>`, l.root, l.expand)
	default:
		fmt.Fprintf(l.w, "</%s>", l.root)
	}
	return l.w.Flush()
}

// writeList streams what list yields as a <root> list of item, each rendered by out. An error
// after the first item cannot change the status any more; the error handler logs it.
func writeList[T, E any](c echo.Context, root, item string, list func(func(T) error) error, out func(T) (E, error)) error {
	lw := newListWriter(c, root, item)
	err := list(func(v T) error {
		e, err := out(v)
		if err != nil {
			return err
		}
		return lw.add(e)
	})
	if err != nil {
		return err
	}
	return lw.close()
}
