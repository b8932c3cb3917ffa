package crowdapi

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// xmlProlog is JAXB's declaration; the root element follows it on the same line, as in Crowd's
// answers (docs/crowd-wire-fidelity.md, XML bytes).
const xmlProlog = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`

// wantsJSON applies Crowd's negotiation: XML unless the client asked for JSON (no Accept, */* or
// anything listing XML first means XML).
func wantsJSON(r *http.Request) bool {
	for part := range strings.SplitSeq(r.Header.Get("Accept"), ",") {
		mt, _ := mediaType(part)
		switch mt {
		case "application/json":
			return true
		case "application/xml", "text/xml", "*/*", "application/*":
			return false
		}
	}
	return false
}

// acceptable reports whether the Accept header allows XML or JSON at all (else 406).
func acceptable(r *http.Request) bool {
	h := r.Header.Get("Accept")
	switch h {
	case "", "application/xml", "application/json": // what Crowd's clients send: no parsing
		return true
	}
	for part := range strings.SplitSeq(h, ",") {
		mt, err := mediaType(part)
		if err != nil {
			continue
		}
		switch mt {
		case "application/json", "application/xml", "text/xml", "*/*", "application/*", "text/*":
			return true
		}
	}
	return false
}

// respond writes v with status in the negotiated format. It is the only writer of entities.
func respond(c echo.Context, status int, v any) error {
	if wantsJSON(c.Request()) {
		b, err := marshalJSON(v)
		if err != nil {
			return fmt.Errorf("encode json: %w", err)
		}
		return c.Blob(status, "application/json", b)
	}
	b, err := encodeXML(v)
	if err != nil {
		return err
	}
	return c.Blob(status, "application/xml", b)
}

// encodeXML is the XML document of an entity, in the form JAXB writes.
func encodeXML(v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(xmlProlog)
	if err := xml.NewEncoder(&buf).Encode(v); err != nil {
		return nil, fmt.Errorf("encode xml: %w", err)
	}
	return collapseEmpty(buf.Bytes()), nil
}

// created answers 201 without a body, labelled with the negotiated type as Jersey labels Crowd's:
// JSON clients reject a non-204 answer without one.
func created(c echo.Context, location string) error {
	h := c.Response().Header()
	h.Set("Location", location)
	if wantsJSON(c.Request()) {
		h.Set("Content-Type", "application/json")
	} else {
		h.Set("Content-Type", "application/xml")
	}
	c.Response().WriteHeader(http.StatusCreated)
	return nil
}

// noContent answers 204.
func noContent(c echo.Context) error { return c.NoContent(http.StatusNoContent) }

// bind decodes the request body into v by Content-Type (XML unless JSON). An empty body leaves v
// untouched when allowEmpty. DTDs are refused: encoding/xml never expands entities, but refusing
// makes the intent explicit and the message clear.
func bind(c echo.Context, v any, allowEmpty bool) error {
	body, err := readBody(c.Request())
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return newError(http.StatusRequestEntityTooLarge, IllegalArgument,
				fmt.Sprintf("request body is larger than %d bytes", mbe.Limit), err)
		}
		return illegalArgument("cannot read the request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if allowEmpty {
			return nil
		}
		return illegalArgument("the request needs a body")
	}
	ct, _ := mediaType(c.Request().Header.Get("Content-Type"))
	isJSON := ct == "application/json" || (ct == "" && bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")))
	if ct != "" && ct != "application/json" && ct != "application/xml" && ct != "text/xml" {
		return newError(http.StatusUnsupportedMediaType, IllegalArgument,
			fmt.Sprintf("unsupported Content-Type %q: send application/xml or application/json", ct), nil)
	}
	if isJSON {
		if err := json.Unmarshal(body, v); err != nil {
			return illegalArgument("malformed JSON body: %s", jsonProblem(err))
		}
		return nil
	}
	if f, ok := v.(fastXMLDecoder); ok && f.decodeFastXML(body) {
		return nil
	}
	if err := decodeXML(body, v); err != nil {
		return illegalArgument("malformed XML body: %v", err)
	}
	return nil
}

// readBody reads a request's body; a small one whose length is announced (every request of Crowd's
// clients) in one allocation of that length, not io.ReadAll's growing buffer.
func readBody(r *http.Request) ([]byte, error) {
	if n := r.ContentLength; n >= 0 && n <= 64<<10 {
		b := make([]byte, n)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		return b, nil // net/http reads no further than the announced length
	}
	return io.ReadAll(r.Body)
}

// fastXMLDecoder is an entity with a hand-written reader for its common XML form; decodeFastXML
// reports false, leaving the entity untouched, for anything else.
type fastXMLDecoder interface {
	decodeFastXML(body []byte) bool
}

// decodeXML decodes one document strictly enough: no DTD, no trailing second root.
func decodeXML(body []byte, v any) error {
	if bytes.Contains(body, []byte("<!DOCTYPE")) || bytes.Contains(body, []byte("<!ENTITY")) {
		return errors.New("document type declarations and entities are not allowed")
	}
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = true
	return d.Decode(v)
}

// collapseEmpty rewrites empty elements "<a x="1"></a>" as "<a x="1"/>", the form JAXB writes
// (encoding/xml never self-closes). Attribute values and text are escaped, so '<' and '>' inside
// a tag or between an empty element's tags cannot occur.
func collapseEmpty(b []byte) []byte {
	out := make([]byte, 0, len(b))
	i := 0
	for {
		j := bytes.Index(b[i:], []byte("></"))
		if j < 0 {
			return append(out, b[i:]...)
		}
		j += i
		// The opening tag starts at the last '<' before j.
		open := bytes.LastIndexByte(b[:j], '<')
		end := bytes.IndexByte(b[j+3:], '>')
		if open < 0 || end < 0 {
			return append(out, b[i:]...)
		}
		end += j + 3
		name := b[open+1 : j]
		if k := bytes.IndexAny(name, " \t\n"); k >= 0 {
			name = name[:k]
		}
		if open >= i && len(name) > 0 && name[0] != '/' && name[0] != '?' && bytes.Equal(name, b[j+3:end]) {
			out = append(out, b[i:j]...)
			out = append(out, '/', '>')
			i = end + 1
			continue
		}
		out = append(out, b[i:j+3]...)
		i = j + 3
	}
}

// marshalJSON encodes like Jackson: '&', '<' and '>' stay as they are.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
