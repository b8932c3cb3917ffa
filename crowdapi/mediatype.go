package crowdapi

import (
	"mime"
	"strings"
)

// mediaType is mime.ParseMediaType's media type and error for a Content-Type or one part of an
// Accept header, without building a parameter map for the forms clients send on every request
// ("application/xml", "application/xml; charset=UTF-8"); anything else goes to mime.
func mediaType(v string) (string, error) {
	v = strings.TrimSpace(v)
	typ, params, _ := strings.Cut(v, ";")
	typ = strings.TrimRight(typ, " \t")
	if !simpleType(typ) || !simpleParams(params) {
		mt, _, err := mime.ParseMediaType(v)
		return mt, err
	}
	return strings.ToLower(typ), nil
}

// simpleType: token "/" token, nothing else.
func simpleType(s string) bool {
	major, minor, ok := strings.Cut(s, "/")
	return ok && isToken(major) && isToken(minor)
}

// simpleParams: none, or one charset whose value is a plain token.
func simpleParams(s string) bool {
	if s == "" {
		return true
	}
	name, value, ok := strings.Cut(strings.TrimSpace(s), "=")
	return ok && strings.EqualFold(name, "charset") && isToken(value)
}

// isToken is RFC 2045's token, as mime checks it.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}
