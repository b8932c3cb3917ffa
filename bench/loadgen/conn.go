package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// Conn is one keep-alive HTTP/1.1 client connection. It writes pre-formatted requests and reads
// responses just far enough to find their end (Content-Length, chunked, or close). Not safe for
// concurrent use.
type Conn struct {
	addr    string
	c       net.Conn
	br      *bufio.Reader
	timeout time.Duration
}

// Dial opens a connection to addr (host:port). timeout bounds every request (0 means 30 s).
func Dial(addr string, timeout time.Duration) (*Conn, error) {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	return &Conn{addr: addr, c: c, br: bufio.NewReaderSize(c, 64<<10), timeout: timeout}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.c.Close() }

// ErrClosed means the server closed the connection after the response; redial.
var ErrClosed = errors.New("loadgen: connection closed by server")

// Response is what Do saw of a response.
type Response struct {
	Status int
	Bytes  int64 // body bytes
	Body   []byte
	Close  bool // the server asked to close the connection
}

// Do writes req (a complete HTTP/1.1 request) and reads the response. When body is non-nil the
// response body is appended to *body (else discarded).
func (c *Conn) Do(req []byte, body *[]byte) (Response, error) {
	c.c.SetDeadline(time.Now().Add(c.timeout))
	if _, err := c.c.Write(req); err != nil {
		return Response{}, err
	}
	return ReadResponse(c.br, body)
}

// ReadResponse reads one response from br. It is exported for the parser benchmark.
func ReadResponse(br *bufio.Reader, body *[]byte) (Response, error) {
	var r Response
	line, err := br.ReadSlice('\n')
	if err != nil {
		return r, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return r, fmt.Errorf("loadgen: malformed status line %q", trim(line))
	}
	st, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return r, fmt.Errorf("loadgen: malformed status line %q", trim(line))
	}
	r.Status = st
	length := int64(-1)
	chunked := false
	for {
		line, err = br.ReadSlice('\n')
		if err != nil {
			return r, err
		}
		h := trim(line)
		if len(h) == 0 {
			break
		}
		colon := bytes.IndexByte(h, ':')
		if colon < 0 {
			continue
		}
		name, val := h[:colon], bytes.TrimSpace(h[colon+1:])
		switch {
		case equalFold(name, "content-length"):
			if length, err = strconv.ParseInt(string(val), 10, 64); err != nil {
				return r, fmt.Errorf("loadgen: bad Content-Length %q", val)
			}
		case equalFold(name, "transfer-encoding"):
			chunked = bytes.Contains(bytes.ToLower(val), []byte("chunked"))
		case equalFold(name, "connection"):
			r.Close = equalFold(val, "close")
		}
	}
	switch {
	case st == 204 || st == 304 || (st >= 100 && st < 200):
		return r, nil
	case chunked:
		for {
			line, err = br.ReadSlice('\n')
			if err != nil {
				return r, err
			}
			sz := trim(line)
			if i := bytes.IndexByte(sz, ';'); i >= 0 {
				sz = sz[:i]
			}
			n, err := strconv.ParseInt(string(sz), 16, 64)
			if err != nil {
				return r, fmt.Errorf("loadgen: bad chunk size %q", sz)
			}
			if n == 0 {
				for { // trailers
					line, err = br.ReadSlice('\n')
					if err != nil {
						return r, err
					}
					if len(trim(line)) == 0 {
						return r, nil
					}
				}
			}
			if err := readBody(br, n, body); err != nil {
				return r, err
			}
			r.Bytes += n
			if _, err := br.Discard(2); err != nil {
				return r, err
			}
		}
	case length >= 0:
		r.Bytes = length
		return r, readBody(br, length, body)
	default:
		// Body until close.
		r.Close = true
		var n int64
		if body != nil {
			b, err := io.ReadAll(br)
			*body = append(*body, b...)
			n = int64(len(b))
			r.Bytes = n
			return r, err
		}
		n, err = io.Copy(io.Discard, br)
		r.Bytes = n
		return r, err
	}
}

func readBody(br *bufio.Reader, n int64, body *[]byte) error {
	if body == nil {
		_, err := br.Discard(int(n))
		return err
	}
	start := len(*body)
	*body = append(*body, make([]byte, n)...)
	_, err := io.ReadFull(br, (*body)[start:])
	return err
}

func trim(b []byte) []byte { return bytes.TrimRight(b, "\r\n") }

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// Request formats an HTTP/1.1 request. headers are "Name: value" lines without CRLF.
func Request(dst []byte, method, host, path string, headers []string, body []byte) []byte {
	dst = append(dst, method...)
	dst = append(dst, ' ')
	dst = append(dst, path...)
	dst = append(dst, " HTTP/1.1\r\nHost: "...)
	dst = append(dst, host...)
	dst = append(dst, "\r\n"...)
	for _, h := range headers {
		dst = append(dst, h...)
		dst = append(dst, "\r\n"...)
	}
	if body != nil || method == "POST" || method == "PUT" {
		dst = append(dst, "Content-Length: "...)
		dst = strconv.AppendInt(dst, int64(len(body)), 10)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "\r\n"...)
	return append(dst, body...)
}
