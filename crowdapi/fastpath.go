package crowdapi

import (
	"bytes"
	"time"
	"unicode/utf8"
)

// The session validation (POST /session/{token}) is the request Seraph makes on every page view,
// so its XML is read and written by hand: encoding/xml's reflection costs several times the rest
// of a cached validation. Both functions cover only the plain shapes Crowd clients send and
// receive; anything else takes the general path, and tests hold the two paths equal.

// parseFactorsXML reads a <validation-factors> document of the simple form every Crowd client
// sends. ok is false when the document is anything else (attributes, entities, comments, CDATA,
// carriage returns, unknown or repeated elements, malformed input): the caller then decodes it
// with encoding/xml, which gives the same result or the proper error.
func parseFactorsXML(body []byte) (factors []validationFactor, ok bool) {
	p := factorParser{b: body}
	p.space()
	if bytes.HasPrefix(p.b[p.i:], []byte("<?xml")) {
		known := false
		for _, prolog := range knownProlog {
			if p.skipPrefix(prolog) {
				known = true
				break
			}
		}
		if !known {
			return nil, false
		}
		p.space()
	}
	if p.skipPrefix("<validation-factors/>") {
		p.space()
		return nil, p.i == len(p.b)
	}
	if !p.skipPrefix("<validation-factors>") {
		return nil, false
	}
	for {
		p.space()
		if p.skipPrefix("</validation-factors>") {
			p.space()
			return factors, p.i == len(p.b)
		}
		if !p.skipPrefix("<validation-factor>") {
			return nil, false
		}
		var f validationFactor
		var haveName, haveValue bool
		for {
			p.space()
			if p.skipPrefix("</validation-factor>") {
				break
			}
			switch {
			case !haveName && p.skipPrefix("<name>"):
				s, ok := p.text("</name>")
				if !ok {
					return nil, false
				}
				f.Name, haveName = s, true
			case !haveValue && p.skipPrefix("<value>"):
				s, ok := p.text("</value>")
				if !ok {
					return nil, false
				}
				f.Value, haveValue = s, true
			case !haveName && p.skipPrefix("<name/>"):
				haveName = true
			case !haveValue && p.skipPrefix("<value/>"):
				haveValue = true
			default:
				return nil, false
			}
		}
		factors = append(factors, f)
	}
}

func (v *validationFactorsEntity) decodeFastXML(body []byte) bool {
	f, ok := parseFactorsXML(body)
	if ok {
		v.Factors = f
	}
	return ok
}

// knownProlog are the XML declarations clients write; others (another encoding or version) go
// to encoding/xml, which checks them.
var knownProlog = []string{
	`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`,
	`<?xml version="1.0" encoding="UTF-8"?>`,
	`<?xml version="1.0" encoding="utf-8"?>`,
	`<?xml version="1.0"?>`,
}

type factorParser struct {
	b []byte
	i int
}

func (p *factorParser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n') {
		p.i++
	}
}

func (p *factorParser) skipPrefix(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// text reads character data up to the closing tag; it refuses what encoding/xml would transform
// or reject (entities, '\r', characters outside XML's range, invalid UTF-8).
func (p *factorParser) text(closing string) (string, bool) {
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '<':
			s := p.b[start:p.i]
			if !p.skipPrefix(closing) {
				return "", false
			}
			return string(s), true
		case c == '&', c == '\r', c < 0x20 && c != '\t' && c != '\n':
			return "", false
		case c == '>' && p.i >= start+2 && p.b[p.i-1] == ']' && p.b[p.i-2] == ']':
			return "", false // "]]>" outside CDATA is an error
		case c < utf8.RuneSelf:
			p.i++
		default:
			r, n := utf8.DecodeRune(p.b[p.i:])
			if r == utf8.RuneError || !xmlChar(r) {
				return "", false
			}
			p.i += n
		}
	}
	return "", false
}

// xmlChar reports whether r is a character XML 1.0 allows (for non-ASCII runes).
func xmlChar(r rune) bool {
	return r >= 0x80 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// appendSessionXML appends the document respond writes for a session with the minimal user
// (no expand=user): prolog, token, user name and link, self link, dates. It allocates nothing:
// the links are escaped piece by piece (escaping is per character, and no piece can join a
// neighbour's bytes into another character: each link's pieces meet at ASCII).
func appendSessionXML(b []byte, base, token, userName string, created, expiry time.Time) []byte {
	b = append(b, xmlProlog...)
	if token == "" {
		b = append(b, `<session expand="user"><token/><user name="`...)
	} else {
		b = append(b, `<session expand="user"><token>`...)
		b = appendEscaped(b, token)
		b = append(b, `</token><user name="`...)
	}
	b = appendEscaped(b, userName)
	b = append(b, `"><link rel="self" href="`...)
	b = appendEscaped(b, base)
	b = append(b, "/user?username="...)
	b = appendQEscaped(b, userName)
	b = append(b, `"/></user><link rel="self" href="`...)
	b = appendEscaped(b, base)
	b = append(b, "/session/"...)
	b = appendEscaped(b, token)
	b = append(b, `"/>`...)
	if !created.IsZero() {
		b = append(b, `<created-date>`...)
		b = appendXMLTime(b, created)
		b = append(b, `</created-date>`...)
	}
	if !expiry.IsZero() {
		b = append(b, `<expiry-date>`...)
		b = appendXMLTime(b, expiry)
		b = append(b, `</expiry-date>`...)
	}
	return append(b, `</session>`...)
}

// appendXMLTime appends t in UTC as AppendFormat(xmlTimeLayout) does, digit by digit: the layout's
// interpretation took a twentieth of a validation's CPU.
func appendXMLTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.AppendFormat(b, xmlTimeLayout)
	}
	h, mi, sec := t.Clock()
	b = appendDigits(b, y, 4)
	b = appendDigits(append(b, '-'), int(mo), 2)
	b = appendDigits(append(b, '-'), d, 2)
	b = appendDigits(append(b, 'T'), h, 2)
	b = appendDigits(append(b, ':'), mi, 2)
	b = appendDigits(append(b, ':'), sec, 2)
	b = appendDigits(append(b, '.'), t.Nanosecond()/1e6, 3)
	return append(b, 'Z')
}

// appendDigits appends the n last decimal digits of v (v >= 0), zero-padded.
func appendDigits(b []byte, v, n int) []byte {
	b = append(b, "0000"[:n]...)
	for i := len(b) - 1; n > 0; i, n = i-1, n-1 {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// appendEscaped appends s escaped exactly as xml.EscapeText escapes it, without its io.Writer
// and []byte conversion (which allocate).
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch c {
			case '"':
				b = append(b, "&#34;"...)
			case '\'':
				b = append(b, "&#39;"...)
			case '&':
				b = append(b, "&amp;"...)
			case '<':
				b = append(b, "&lt;"...)
			case '>':
				b = append(b, "&gt;"...)
			case '\t':
				b = append(b, "&#x9;"...)
			case '\n':
				b = append(b, "&#xA;"...)
			case '\r':
				b = append(b, "&#xD;"...)
			default:
				if c < 0x20 {
					b = append(b, "\uFFFD"...)
				} else {
					b = append(b, c)
				}
			}
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if !xmlChar(r) || r == utf8.RuneError && n == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return b
}

// appendQEscaped appends appendEscaped(q(s)) without building q(s): q's output is ASCII, and of
// its characters only the apostrophe needs escaping in XML.
func appendQEscaped(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			b = append(b, "&#39;"...)
		case queryLegal(c):
			b = append(b, c)
		default:
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return b
}
