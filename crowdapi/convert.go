package crowdapi

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/store"
)

// expansion is what the client asked to expand (docs/crowd-wire.md, "Expand").
type expansion struct {
	user, group, attributes bool
}

func expandOf(c echo.Context) expansion {
	var e expansion
	if !strings.Contains(c.Request().URL.RawQuery, "expand") {
		return e // most requests: parsing the query would allocate a map for nothing
	}
	for _, v := range c.QueryParams()["expand"] {
		for p := range strings.SplitSeq(v, ",") {
			switch strings.ToLower(strings.TrimSpace(p)) {
			case "user":
				e.user = true
			case "group":
				e.group = true
			case "attributes":
				e.attributes = true
			case "user.attributes":
				e.user, e.attributes = true, true
			case "group.attributes":
				e.group, e.attributes = true, true
			}
		}
	}
	return e
}

// pageOf reads start-index and max-results: default 0 and 1000, -1 means all.
func pageOf(c echo.Context) (store.Page, error) {
	p := store.Page{Start: 0, Max: 1000}
	if v := c.QueryParam("start-index"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, illegalArgument("start-index must be a whole number of at least 0, not %q", v)
		}
		p.Start = n
	}
	if v := c.QueryParam("max-results"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n == 0 || n < -1 {
			return p, illegalArgument("max-results must be a positive whole number or -1 for all, not %q", v)
		}
		p.Max = n
	}
	return p, nil
}

// required returns a query parameter or Crowd's ILLEGAL_ARGUMENT when it is missing.
func required(c echo.Context, name string) (string, error) {
	v := c.QueryParam(name)
	if v == "" {
		return "", illegalArgument("%s query parameter must be given", name)
	}
	return v, nil
}

// namer applies the application's lower-case-output flag.
type namer bool

func (n namer) name(s string) string {
	if n {
		return strings.ToLower(s)
	}
	return s
}

func namerOf(c echo.Context) namer { return namer(viewOf(c).App.LowerCaseOutput) }

// q escapes a query value as Crowd's links do (JAX-RS UriBuilder): characters that are legal in a
// query stay as they are ("user@example.com"), the rest, '&', '=', '+', '#' and space included,
// are percent-encoded.
func q(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if queryLegal(c) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// queryLegal reports whether q leaves c as it is.
func queryLegal(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~!$'()*,;:@/?", c) >= 0
}

func userLink(base, name string) *link {
	return &link{Rel: "self", Href: base + "/user?username=" + q(name)}
}

func groupLink(base, name string) *link {
	return &link{Rel: "self", Href: base + "/group?groupname=" + q(name)}
}

func minimalUser(base string, n namer, name string) userEntity {
	name = n.name(name)
	return userEntity{Name: name, Link: userLink(base, name)}
}

func minimalGroup(base string, n namer, name string) groupEntity {
	name = n.name(name)
	return groupEntity{Name: name, Link: groupLink(base, name)}
}

func str(s string) *string { return &s }

// fullUser is the complete user; attrs nil means "not expanded" (only the attributes link).
func fullUser(base string, n namer, u store.User, attrs map[string][]string) userEntity {
	name := n.name(u.Name)
	e := userEntity{
		Expand: "attributes", ExpandXML: "attributes",
		Name: name, Link: userLink(base, name),
		FirstName: str(u.FirstName), LastName: str(u.LastName), DisplayName: str(u.DisplayName), Email: str(u.Email),
		Password:    &passwordEntity{Link: &link{Rel: "edit", Href: base + "/user/password?username=" + q(name)}},
		Key:         u.Key(),
		CreatedDate: newTime(u.CreatedAt), UpdatedDate: newTime(u.UpdatedAt),
		Active: boolPtr(u.Active),
	}
	e.Attributes = attributesOf(base+"/user/attribute?username="+q(name), attrs)
	return e
}

func fullGroup(base string, n namer, g store.Group, attrs map[string][]string) groupEntity {
	name := n.name(g.Name)
	e := groupEntity{
		Expand: "attributes", ExpandXML: "attributes",
		Name: name, Link: groupLink(base, name),
		Description: str(g.Description), Type: "GROUP", Active: boolPtr(g.Active),
	}
	e.Attributes = attributesOf(base+"/group/attribute?groupname="+q(name), attrs)
	return e
}

// attributesOf renders an attribute list sorted by name; self is the list's own link.
func attributesOf(self string, attrs map[string][]string) *attributesEntity {
	a := &attributesEntity{Link: &link{Rel: "self", Href: self}, Attributes: []attributeEntity{}}
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		a.Attributes = append(a.Attributes, attributeEntity{
			Link: &link{Rel: "self", Href: self + "&attributename=" + q(k)}, Name: k, Values: attrs[k],
		})
	}
	return a
}

// attributesIn converts a request's attribute list.
func attributesIn(a *attributesEntity) map[string][]string {
	if a == nil {
		return nil
	}
	out := map[string][]string{}
	for _, at := range a.Attributes {
		out[at.Name] = append(out[at.Name], at.Values...)
		if out[at.Name] == nil {
			out[at.Name] = []string{}
		}
	}
	return out
}
