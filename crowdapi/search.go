package crowdapi

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/store"
)

func entityType(c echo.Context) (string, error) {
	t := c.QueryParam("entity-type")
	switch strings.ToLower(t) {
	case "":
		return "", illegalArgument("entity-type query parameter required.")
	case "user":
		return store.SearchUsers, nil
	case "group":
		return store.SearchGroups, nil
	}
	return "", illegalArgument("Unknown type: %s", t)
}

func (s *server) searchGET(c echo.Context) error {
	kind, err := entityType(c)
	if err != nil {
		return err
	}
	r, err := parseCQL(c.QueryParam("restriction"), kind)
	if err != nil {
		return illegalArgument("%v", err)
	}
	return s.search(c, kind, r)
}

func (s *server) searchPOST(c echo.Context) error {
	kind, err := entityType(c)
	if err != nil {
		return err
	}
	body, err := readBody(c.Request())
	if err != nil {
		return bind(c, nil, false) // reports the size limit
	}
	r, err := parseRestriction(body, c.Request().Header.Get("Content-Type"))
	if err != nil {
		return illegalArgument("%v", err)
	}
	return s.search(c, kind, r)
}

func (s *server) search(c echo.Context, kind string, r store.Restriction) error {
	p, err := pageOf(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	v := viewOf(c)
	// Validate before streaming so a bad restriction is a clean 400.
	probe := store.Page{Start: 0, Max: 1}
	var list func(store.Page) error
	if kind == store.SearchUsers {
		list = func(pg store.Page) error {
			return s.writeUsers(c, func(fn func(store.User) error) error { return v.SearchUsers(ctx, r, pg, fn) })
		}
		err = v.SearchUsers(ctx, r, probe, func(store.User) error { return nil })
	} else {
		list = func(pg store.Page) error {
			return s.writeGroups(c, func(fn func(store.Group) error) error { return v.SearchGroups(ctx, r, pg, fn) })
		}
		err = v.SearchGroups(ctx, r, probe, func(store.Group) error { return nil })
	}
	if errors.Is(err, store.ErrInvalid) {
		return illegalArgument("%s", message(err))
	}
	if err != nil {
		return err
	}
	return list(p)
}

// maxRestrictionNodes bounds the size of a restriction tree.
const maxRestrictionNodes = 1000

// xmlNode is a generic element, for the polymorphic restriction documents.
type xmlNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Nodes   []xmlNode  `xml:",any"`
	Text    string     `xml:",chardata"`
}

func (n *xmlNode) child(name string) *xmlNode {
	for i := range n.Nodes {
		if n.Nodes[i].XMLName.Local == name {
			return &n.Nodes[i]
		}
	}
	return nil
}

func (n *xmlNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// parseRestriction reads a POST /search body: XML (null-, property- or boolean-search-restriction) or
// the JSON equivalents. An empty body means everything.
func parseRestriction(body []byte, contentType string) (store.Restriction, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return store.Restriction{}, nil
	}
	ct, _ := mediaType(contentType)
	if ct == "application/json" || (ct == "" && body[0] == '{') {
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			return store.Restriction{}, fmt.Errorf("malformed JSON restriction: %v", err)
		}
		n := 0
		return restrictionFromJSON(v, 0, &n)
	}
	var root xmlNode
	if err := decodeXML(body, &root); err != nil {
		return store.Restriction{}, fmt.Errorf("malformed XML restriction: %v", err)
	}
	n := 0
	return restrictionFromXML(&root, 0, &n)
}

func restrictionFromXML(n *xmlNode, depth int, count *int) (store.Restriction, error) {
	if *count++; *count > maxRestrictionNodes || depth > store.MaxRestrictionDepth {
		return store.Restriction{}, fmt.Errorf("search restriction is too large or too deep")
	}
	switch n.XMLName.Local {
	case "null-search-restriction":
		return store.Restriction{}, nil
	case "property-search-restriction":
		prop := n.child("property")
		if prop == nil || prop.child("name") == nil {
			return store.Restriction{}, fmt.Errorf("property-search-restriction needs <property><name>")
		}
		r := store.Restriction{Property: strings.TrimSpace(prop.child("name").Text)}
		typ := ""
		if t := prop.child("type"); t != nil {
			typ = strings.TrimSpace(t.Text)
		}
		mm := n.child("match-mode")
		if mm == nil {
			return store.Restriction{}, fmt.Errorf("property-search-restriction needs <match-mode>")
		}
		r.Mode = store.MatchMode(strings.ToUpper(strings.TrimSpace(mm.Text)))
		if v := n.child("value"); v != nil {
			r.Value = v.Text
		}
		return r, checkType(typ)
	case "boolean-search-restriction":
		r := store.Restriction{Logic: store.Logic(strings.ToUpper(n.attr("boolean-logic")))}
		if r.Logic != store.And && r.Logic != store.Or {
			return store.Restriction{}, fmt.Errorf("boolean-logic %q is not AND or OR", n.attr("boolean-logic"))
		}
		if rs := n.child("restrictions"); rs != nil {
			for i := range rs.Nodes {
				ch, err := restrictionFromXML(&rs.Nodes[i], depth+1, count)
				if err != nil {
					return store.Restriction{}, err
				}
				r.Children = append(r.Children, ch)
			}
		}
		return r, nil
	}
	return store.Restriction{}, fmt.Errorf("unknown search restriction <%s>", n.XMLName.Local)
}

func checkType(t string) error {
	switch strings.ToUpper(t) {
	case "", "STRING", "BOOLEAN", "DATE":
		return nil
	}
	return fmt.Errorf("unknown property type %q (want STRING, BOOLEAN or DATE)", t)
}

func restrictionFromJSON(v map[string]any, depth int, count *int) (store.Restriction, error) {
	if *count++; *count > maxRestrictionNodes || depth > store.MaxRestrictionDepth {
		return store.Restriction{}, fmt.Errorf("search restriction is too large or too deep")
	}
	for _, wrap := range []string{"null-search-restriction", "property-search-restriction", "boolean-search-restriction"} {
		if inner, ok := v[wrap].(map[string]any); ok && len(v) == 1 {
			if wrap == "null-search-restriction" {
				return store.Restriction{}, nil
			}
			return restrictionFromJSON(inner, depth+1, count)
		}
	}
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	switch {
	case v["property"] != nil || v["match-mode"] != nil:
		prop, ok := v["property"].(map[string]any)
		if !ok || str(prop, "name") == "" {
			return store.Restriction{}, fmt.Errorf("property restriction needs property.name")
		}
		r := store.Restriction{Property: str(prop, "name"), Mode: store.MatchMode(strings.ToUpper(str(v, "match-mode"))), Value: fmt.Sprint(valueOr(v["value"]))}
		return r, checkType(str(prop, "type"))
	case v["boolean-logic"] != nil || v["restrictions"] != nil:
		r := store.Restriction{Logic: store.Logic(strings.ToUpper(str(v, "boolean-logic")))}
		if r.Logic != store.And && r.Logic != store.Or {
			return store.Restriction{}, fmt.Errorf("boolean-logic %q is not AND or OR", str(v, "boolean-logic"))
		}
		list, _ := v["restrictions"].([]any)
		for _, item := range list {
			m, ok := item.(map[string]any)
			if !ok {
				return store.Restriction{}, fmt.Errorf("restrictions must be objects")
			}
			ch, err := restrictionFromJSON(m, depth+1, count)
			if err != nil {
				return store.Restriction{}, err
			}
			r.Children = append(r.Children, ch)
		}
		return r, nil
	case len(v) == 0:
		return store.Restriction{}, nil
	}
	return store.Restriction{}, fmt.Errorf("unknown search restriction")
}

func valueOr(v any) any {
	if v == nil {
		return ""
	}
	return v
}
