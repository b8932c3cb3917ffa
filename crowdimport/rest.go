package crowdimport

import (
	"bufio"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/store"
)

// REST imports what the application app (authenticated with password) sees of the live Crowd at
// baseURL — Crowd's context URL such as https://crowd.example.com/crowd, or its
// .../rest/usermanagement/1 resource root — into st: users with their attributes, groups with
// theirs, and direct memberships of users and groups. Users are searched page by page
// (Options.PageSize), memberships read from /group/membership, or group by group from
// /group/user/direct and /group/child-group/direct where that resource is missing (Crowd before
// 2.3). Everything is fetched into a temporary file (in Options.TempDir) and validated before the
// import writes anything, so a Crowd that changes meanwhile cannot leave half an import.
//
// No password hashes travel over Crowd's REST API: imported users have no password in crowdgate,
// and sign in through SAML or get a password set. Everything lands in one crowdgate directory
// (Options.TargetDirectory, default the first INTERNAL one). client nil means a client with a
// five-minute timeout per request. The report is nil when nothing could be fetched.
func REST(ctx context.Context, client *http.Client, baseURL, app, password string, st Store, opts Options) (*Report, error) {
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Minute}
	}
	base, err := restBase(baseURL)
	if err != nil {
		return nil, err
	}
	if opts.TargetDirectory == "" {
		dirs, err := st.Directories(ctx)
		if err != nil {
			return nil, fmt.Errorf("crowdimport: %w", err)
		}
		opts.TargetDirectory = "Internal"
		for _, d := range dirs {
			if d.Kind == store.DirectoryInternal {
				opts.TargetDirectory = d.Name
				break
			}
		}
	}
	spool, err := os.CreateTemp(opts.TempDir, "crowdgate-rest-*.jsonl")
	if err != nil {
		return nil, fmt.Errorf("crowdimport: spool: %w", err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()
	c := &restClient{http: client, base: base, app: app, password: password, page: opts.PageSize}
	src := &restSource{name: "Crowd REST " + base + " as application " + app, file: spool, target: opts.TargetDirectory}
	started := opts.Now()
	fetched := int64(0)
	w := bufio.NewWriterSize(spool, 1<<16)
	enc := json.NewEncoder(w)
	emit := func(l spoolLine) error {
		fetched++
		if opts.Progress != nil && fetched%256 == 0 {
			opts.Progress(Progress{Phase: "fetching", Done: fetched, Unit: "objects", Elapsed: opts.Now().Sub(started)})
		}
		return enc.Encode(l)
	}
	opts.Log.Info("fetching from Crowd", "url", base, "app", app)
	if err := c.fetch(ctx, emit, &src.fallback); err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("crowdimport: spool: %w", err)
	}
	rep, err := run(ctx, src, st, &opts)
	if rep != nil {
		rep.note("no password hashes travel over Crowd's REST API: imported users have no password in crowdgate; " +
			"they sign in through SAML, or an administrator sets a password for them")
		if src.fallback {
			rep.note("this Crowd has no /group/membership: memberships were read group by group")
		}
	}
	return rep, err
}

// restBase returns the usermanagement/1 resource root for a Crowd URL.
func restBase(raw string) (string, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(raw), "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("crowdimport: Crowd URL %q must be an absolute http(s) URL such as https://crowd.example.com/crowd", raw)
	}
	s := u.String()
	switch {
	case strings.HasSuffix(s, "/rest/usermanagement/1"), strings.HasSuffix(s, "/rest/usermanagement/latest"):
		return s, nil
	case strings.HasSuffix(s, "/rest/usermanagement"):
		return s + "/1", nil
	}
	return s + "/rest/usermanagement/1", nil
}

// spoolLine is one fetched record in the spool file (JSON lines).
type spoolLine struct {
	U *userRec   `json:"u,omitempty"`
	G *groupRec  `json:"g,omitempty"`
	M *memberRec `json:"m,omitempty"`
}

// restSource replays the spool: one synthetic directory, then what was fetched.
type restSource struct {
	name     string
	file     *os.File
	target   string
	fallback bool
}

// restDirID is the id of the one directory a REST import reads (the application's view).
const restDirID = 1

func (s *restSource) describe() string { return s.name }

// lenientMembers: a live Crowd may change between the requests, so a membership naming a user or
// group that was not listed is skipped, not refused.
func (s *restSource) lenientMembers() bool { return true }

func (s *restSource) each(ctx context.Context, want kinds, fn func(record) error, progress func(done, total int64)) error {
	if want&wantDirs != 0 {
		if err := fn(&dirRec{Pos: pos{Where: "REST"}, ID: restDirID, Name: s.target, Type: "INTERNAL", Active: true, Nested: true}); err != nil {
			return err
		}
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("crowdimport: spool: %w", err)
	}
	dec := json.NewDecoder(bufio.NewReaderSize(s.file, 1<<16))
	var n int64
	for {
		var l spoolLine
		if err := dec.Decode(&l); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("crowdimport: spool: %w", err)
		}
		var r record
		switch {
		case l.U != nil && want&wantUsers != 0:
			r = l.U
		case l.G != nil && want&wantGroups != 0:
			r = l.G
		case l.M != nil && want&wantMembers != 0:
			r = l.M
		default:
			continue
		}
		if err := fn(r); err != nil {
			return err
		}
		if n++; n%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
	}
}

// restClient speaks Crowd's usermanagement/1 REST API (XML) as an application.
type restClient struct {
	http           *http.Client
	base           string
	app, password  string
	page           int
	checkedVersion bool
}

type restAttr struct {
	Name   string   `xml:"name,attr"`
	Values []string `xml:"values>value"`
}

type restUser struct {
	Name        string     `xml:"name,attr"`
	FirstName   string     `xml:"first-name"`
	LastName    string     `xml:"last-name"`
	DisplayName string     `xml:"display-name"`
	Email       string     `xml:"email"`
	Key         string     `xml:"key"`
	Active      string     `xml:"active"`
	Attributes  []restAttr `xml:"attributes>attribute"`
}

type restGroup struct {
	Name        string     `xml:"name,attr"`
	Description string     `xml:"description"`
	Type        string     `xml:"type"`
	Active      string     `xml:"active"`
	Attributes  []restAttr `xml:"attributes>attribute"`
}

type restName struct {
	Name string `xml:"name,attr"`
}

type restMembership struct {
	Group  string     `xml:"group,attr"`
	Users  []restName `xml:"users>user"`
	Groups []restName `xml:"groups>group"`
}

func restAttrs(as []restAttr) map[string][]string {
	if len(as) == 0 {
		return nil
	}
	out := make(map[string][]string, len(as))
	for _, a := range as {
		out[a.Name] = append(out[a.Name], a.Values...)
	}
	return out
}

// fetch reads users, groups and memberships, handing each record to emit.
func (c *restClient) fetch(ctx context.Context, emit func(spoolLine) error, fallback *bool) error {
	users := 0
	err := c.pages(ctx, "users", "/search", url.Values{"entity-type": {"user"}, "expand": {"user,attributes"}}, "user",
		func(d *xml.Decoder, start xml.StartElement, where string) error {
			var u restUser
			if err := d.DecodeElement(&u, &start); err != nil {
				return err
			}
			ext := ""
			if _, e, ok := strings.Cut(u.Key, ":"); ok {
				ext = e
			}
			users++
			return emit(spoolLine{U: &userRec{Pos: pos{Where: where}, Dir: restDirID, Name: u.Name, FirstName: u.FirstName,
				LastName: u.LastName, DisplayName: u.DisplayName, Email: u.Email, Active: parseBool(u.Active, true),
				ExternalID: ext, Attrs: restAttrs(u.Attributes)}})
		})
	if err != nil {
		return err
	}
	var groups []string
	err = c.pages(ctx, "groups", "/search", url.Values{"entity-type": {"group"}, "expand": {"group,attributes"}}, "group",
		func(d *xml.Decoder, start xml.StartElement, where string) error {
			var g restGroup
			if err := d.DecodeElement(&g, &start); err != nil {
				return err
			}
			groups = append(groups, g.Name)
			return emit(spoolLine{G: &groupRec{Pos: pos{Where: where}, Dir: restDirID, Name: g.Name, Description: g.Description,
				Active: parseBool(g.Active, true), Type: strings.ToUpper(g.Type), Attrs: restAttrs(g.Attributes)}})
		})
	if err != nil {
		return err
	}
	err = c.memberships(ctx, emit)
	if !errors.Is(err, errNoMembershipResource) {
		return err
	}
	*fallback = true
	for _, g := range groups {
		for _, kind := range []struct {
			path, elem string
			nested     bool
		}{{"/group/user/direct", "user", false}, {"/group/child-group/direct", "group", true}} {
			err := c.pages(ctx, kind.elem+"s of group "+g, kind.path, url.Values{"groupname": {g}}, kind.elem,
				func(d *xml.Decoder, start xml.StartElement, where string) error {
					var n restName
					if err := d.DecodeElement(&n, &start); err != nil {
						return err
					}
					return emit(spoolLine{M: &memberRec{Pos: pos{Where: where}, Dir: restDirID, Group: kind.nested, Parent: g, Child: n.Name}})
				})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

var errNoMembershipResource = errors.New("no /group/membership resource")

// memberships streams /group/membership.
func (c *restClient) memberships(ctx context.Context, emit func(spoolLine) error) error {
	res, err := c.do(ctx, http.MethodGet, "/group/membership", nil, "")
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusMethodNotAllowed {
		return errNoMembershipResource
	}
	if err := c.check(res, "/group/membership"); err != nil {
		return err
	}
	where := "GET /group/membership"
	return eachElement(res.Body, "membership", where, func(d *xml.Decoder, start xml.StartElement, _ string) error {
		var m restMembership
		if err := d.DecodeElement(&m, &start); err != nil {
			return err
		}
		p := pos{Where: where + " group " + strconv.Quote(m.Group)}
		for _, u := range m.Users {
			if err := emit(spoolLine{M: &memberRec{Pos: p, Dir: restDirID, Parent: m.Group, Child: u.Name}}); err != nil {
				return err
			}
		}
		for _, g := range m.Groups {
			if err := emit(spoolLine{M: &memberRec{Pos: p, Dir: restDirID, Group: true, Parent: m.Group, Child: g.Name}}); err != nil {
				return err
			}
		}
		return nil
	})
}

// pages reads a paged list resource (start-index, max-results) until a short page, calling fn for
// each element named elem. Searches are POSTed with a null restriction, as the Java client does.
func (c *restClient) pages(ctx context.Context, what, path string, q url.Values, elem string,
	fn func(d *xml.Decoder, start xml.StartElement, where string) error) error {
	for start, page := 0, 1; ; page++ {
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		qq.Set("start-index", strconv.Itoa(start))
		qq.Set("max-results", strconv.Itoa(c.page))
		method, body := http.MethodGet, ""
		if path == "/search" {
			method, body = http.MethodPost, `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><null-search-restriction/>`
		}
		res, err := c.do(ctx, method, path, qq, body)
		if err != nil {
			return err
		}
		where := fmt.Sprintf("REST %s page %d", what, page)
		n := 0
		err = c.check(res, path)
		if err == nil {
			err = eachElement(res.Body, elem, where, func(d *xml.Decoder, s xml.StartElement, w string) error {
				n++
				return fn(d, s, w)
			})
		}
		res.Body.Close()
		if err != nil {
			return err
		}
		if n < c.page {
			return nil
		}
		start += n
	}
}

// eachElement calls fn for every element named elem directly inside the document's root.
func eachElement(r io.Reader, elem, where string, fn func(d *xml.Decoder, start xml.StartElement, where string) error) error {
	d := xml.NewDecoder(r)
	d.CharsetReader = charsetReader
	depth := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("crowdimport: %s: malformed response: %w", where, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 && t.Name.Local == elem {
				depth--
				if err := fn(d, t, where); err != nil {
					var se *xml.SyntaxError
					if errors.As(err, &se) {
						return fmt.Errorf("crowdimport: %s: malformed response: %w", where, err)
					}
					return err
				}
			}
		case xml.EndElement:
			depth--
		}
	}
}

func (c *restClient) do(ctx context.Context, method, path string, q url.Values, body string) (*http.Response, error) {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, fmt.Errorf("crowdimport: %w", err)
	}
	req.SetBasicAuth(c.app, c.password)
	req.Header.Set("Accept", "application/xml")
	req.Header.Set("X-Atlassian-Token", "no-check")
	if body != "" {
		req.Header.Set("Content-Type", "application/xml; charset=UTF-8")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("crowdimport: %s %s: %w", method, path, err)
	}
	if !c.checkedVersion {
		if res.Header.Get("X-Embedded-Crowd-Version") == "" {
			res.Body.Close()
			return nil, fmt.Errorf("crowdimport: %s does not answer as Crowd's REST API (no X-Embedded-Crowd-Version header, status %d): "+
				"give Crowd's URL, such as https://crowd.example.com/crowd", c.base, res.StatusCode)
		}
		c.checkedVersion = true
	}
	return res, nil
}

// check turns an unsuccessful response into an error that says what to do.
func (c *restClient) check(res *http.Response, path string) error {
	if res.StatusCode/100 == 2 {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	msg := strings.TrimSpace(string(b))
	var e struct {
		Reason  string `xml:"reason"`
		Message string `xml:"message"`
	}
	if xml.Unmarshal(b, &e) == nil && e.Reason != "" {
		msg = e.Reason + ": " + e.Message
	}
	switch res.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Errorf("crowdimport: Crowd refused application %q (401 %s): check the application name and password", c.app, msg)
	case http.StatusForbidden:
		return fmt.Errorf("crowdimport: Crowd forbids application %q (403 %s): is it active, and is this machine's address in its remote addresses?", c.app, msg)
	}
	return fmt.Errorf("crowdimport: %s: Crowd answered %d: %s", path, res.StatusCode, msg)
}
