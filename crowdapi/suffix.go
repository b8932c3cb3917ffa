package crowdapi

import (
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// formatSuffixes are the extensions Crowd's REST layer (Jersey's URI content negotiation) accepts
// on a resource path in place of an Accept header (docs/crowd-wire-fidelity.md, Format suffixes).
var formatSuffixes = []struct{ ext, mediaType string }{
	{".json", "application/json"},
	{".xml", "application/xml"},
}

// handler is the API's echo instance behind the format-suffix rewrite. The rewrite is a plain
// wrapper rather than echo pre-middleware, which costs every request (validations included) a few
// allocations.
type handler struct {
	*echo.Echo
	prefix string
}

// ServeHTTP routes a path under the API ending in .json or .xml without the suffix, and lets the
// suffix replace the Accept header, so it wins over whatever the client sent.
func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	stripFormatSuffix(h.prefix, r)
	h.Echo.ServeHTTP(w, r)
}

func stripFormatSuffix(prefix string, r *http.Request) {
	for _, f := range formatSuffixes {
		p, ok := strings.CutSuffix(r.URL.Path, f.ext)
		if !ok || !underAPI(prefix, p) {
			continue
		}
		r.URL.Path = p
		if raw, ok := strings.CutSuffix(r.URL.RawPath, f.ext); ok {
			r.URL.RawPath = raw
		} else {
			r.URL.RawPath = ""
		}
		r.Header.Set("Accept", f.mediaType)
		return
	}
}

// underAPI reports whether p names a resource below <prefix>/1/ or <prefix>/latest/ (not the
// version root itself, nor an empty last segment such as "/user/.json").
func underAPI(prefix, p string) bool {
	rest, ok := strings.CutPrefix(p, prefix+"/")
	if !ok {
		return false
	}
	ver, res, ok := strings.Cut(rest, "/")
	return ok && (ver == "1" || ver == "latest") && res != "" && !strings.HasSuffix(res, "/")
}
