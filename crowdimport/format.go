package crowdimport

import (
	"bufio"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Crowd's XML backup, as its exporter writes it (Crowd 2.x to 5.x; element names as in Crowd's
// backup files and the tools that read them):
//
//	<crowd>
//	  <directories><directory>
//	    <id/> <name/> <active/> <description/> <type>INTERNAL|CONNECTOR|DELEGATING|CROWD|AZURE_AD|CUSTOM</type>
//	    <implementationClass/> <allowedOperations><allowedOperation/>…</allowedOperations>
//	    <attributes><attribute><name>user_encryption_method</name><value>atlassian-security</value></attribute>…</attributes>
//	  </directory>…</directories>
//	  <users><user>
//	    <id/> <name/> <active/> <firstName/> <lastName/> <displayName/> <email/> <externalId/>
//	    <directoryId/> <credential/> <credentialHistory><credential/>…</credentialHistory>
//	    <attributes><attribute><name/><value/></attribute>…</attributes>
//	  </user>…</users>
//	  <groups><group>
//	    <id/> <name/> <active/> <description/> <type>GROUP|LEGACY_ROLE</type> <directoryId/> <attributes/>
//	  </group>…</groups>
//	  <memberships><membership>
//	    <parentName/> <childName/> <membershipType>GROUP_USER|GROUP_GROUP</membershipType> <directoryId/>
//	  </membership>…</memberships>
//	  <applications><application>
//	    <id/> <name/> <active/> <description/> <type>JIRA|CONFLUENCE|CROWD|GENERIC_APPLICATION|…</type>
//	    <credential/> <attributes/>
//	    <directoryMappings><directoryMapping>
//	      <directoryId/> <allowAllToAuthenticate/>
//	      <groupMappings><groupMapping><groupName/></groupMapping>…</groupMappings>
//	      <allowedOperations><allowedOperation/>…</allowedOperations>
//	    </directoryMapping>…</directoryMappings>
//	    <remoteAddresses><remoteAddress><address/></remoteAddress>…</remoteAddresses>
//	  </application>…</applications>
//	  <properties/> <tokens/> <aliases/> …   (not imported: see the report)
//	</crowd>
//
// Only one entity element is decoded at a time (Decoder.DecodeElement on its start tag), so memory
// does not grow with the file. Readers are lenient where Crowd versions differ: a <groupMapping>
// may hold its name as text, a <remoteAddress> its address as text, a missing <type> is inferred
// from <implementationClass>, and the root may also be <atlassian-crowd>.

type xmlAttr struct {
	NameAttr string   `xml:"name,attr"`
	Name     string   `xml:"name"`
	Value    []string `xml:"value"`
	Values   []string `xml:"values>value"`
}

// xmlEntity holds the elements directories, groups and applications share (embedded, so they read
// as the outer element's own).
type xmlEntity struct {
	ID          string    `xml:"id"`
	Name        string    `xml:"name"`
	Active      string    `xml:"active"`
	Description string    `xml:"description"`
	Type        string    `xml:"type"`
	Attributes  []xmlAttr `xml:"attributes>attribute"`
}

type xmlDirectory struct {
	xmlEntity
	ImplementationClass string `xml:"implementationClass"`
}

type xmlUser struct {
	ID          string    `xml:"id"`
	Name        string    `xml:"name"`
	Active      string    `xml:"active"`
	FirstName   string    `xml:"firstName"`
	LastName    string    `xml:"lastName"`
	DisplayName string    `xml:"displayName"`
	Email       string    `xml:"email"`
	ExternalID  string    `xml:"externalId"`
	DirectoryID string    `xml:"directoryId"`
	Credential  string    `xml:"credential"`
	History     []string  `xml:"credentialHistory>credential"`
	Attributes  []xmlAttr `xml:"attributes>attribute"`
}

type xmlGroup struct {
	xmlEntity
	DirectoryID string `xml:"directoryId"`
}

type xmlMembership struct {
	ParentName     string `xml:"parentName"`
	ChildName      string `xml:"childName"`
	MembershipType string `xml:"membershipType"`
	DirectoryID    string `xml:"directoryId"`
}

type xmlGroupMapping struct {
	GroupName string `xml:"groupName"`
	Text      string `xml:",chardata"`
}

type xmlMapping struct {
	DirectoryID string            `xml:"directoryId"`
	AllowAll    string            `xml:"allowAllToAuthenticate"`
	Groups      []xmlGroupMapping `xml:"groupMappings>groupMapping"`
	Operations  []string          `xml:"allowedOperations>allowedOperation"`
}

type xmlAddress struct {
	Address string `xml:"address"`
	Text    string `xml:",chardata"`
}

type xmlApplication struct {
	xmlEntity
	Credential string       `xml:"credential"`
	Mappings   []xmlMapping `xml:"directoryMappings>directoryMapping"`
	Addresses  []xmlAddress `xml:"remoteAddresses>remoteAddress"`
}

// ignoredRec is an entity of a section crowdgate does not import (tokens, aliases, ...).
type ignoredRec struct {
	Pos     pos
	Section string
}

// knownEntities maps a section to its entity element.
var knownEntities = map[string]string{
	"directories":  "directory",
	"users":        "user",
	"groups":       "group",
	"memberships":  "membership",
	"applications": "application",
}

// parseBackup streams the records of a Crowd backup from r. size is r's length for progress (0 if
// unknown). Malformed XML stops the stream with a *syntaxError; a record's field that cannot be
// read at all (a non-numeric directoryId) also does. Everything else is left to validation.
func parseBackup(ctx context.Context, r io.Reader, size int64, want kinds, fn func(record) error, progress func(done, total int64)) error {
	d := xml.NewDecoder(bufio.NewReaderSize(r, 1<<16))
	d.CharsetReader = charsetReader
	depth := 0
	section := ""
	rootSeen, rootClosed := false, false
	var n int64
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if !rootSeen {
				return &syntaxError{Problem{Line: 1, Message: "the input is empty: not a Crowd backup"}}
			}
			if !rootClosed {
				line, _ := d.InputPos()
				return &syntaxError{Problem{Line: line, Message: "unexpected end of file: the backup is truncated (the closing </crowd> is missing)"}}
			}
			break
		}
		if err != nil {
			return xmlProblem(d, err, "", 0)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			line, _ := d.InputPos()
			depth++
			switch depth {
			case 1:
				if t.Name.Local != "crowd" && t.Name.Local != "atlassian-crowd" {
					return &syntaxError{Problem{Line: line, Element: t.Name.Local, Message: "not a Crowd backup: the root element must be <crowd>"}}
				}
				rootSeen = true
				continue
			case 2:
				section = t.Name.Local
				continue
			}
			if depth != 3 {
				continue // depth > 3 only inside elements skipped below
			}
			depth-- // DecodeElement and Skip consume the end tag
			p := pos{Line: line}
			if want&kindOf(section) == 0 {
				if err := d.Skip(); err != nil {
					return xmlProblem(d, err, t.Name.Local, line)
				}
				continue
			}
			rec, err := decodeEntity(d, section, t, p)
			if err != nil {
				return err
			}
			if rec == nil {
				continue
			}
			if err := fn(rec); err != nil {
				return err
			}
			n++
			if n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
				if progress != nil {
					progress(d.InputOffset(), size)
				}
			}
		case xml.EndElement:
			depth--
			if depth == 0 {
				rootClosed = true
			}
		case xml.CharData:
			if depth == 0 && len(strings.TrimSpace(string(t))) > 0 {
				line, _ := d.InputPos()
				return &syntaxError{Problem{Line: line, Message: "text outside the root element: not a Crowd backup"}}
			}
		}
	}
	if progress != nil {
		progress(d.InputOffset(), size)
	}
	return nil
}

// decodeEntity reads one entity element (the decoder is at its start tag) into a record; nil when
// the element is not imported.
func decodeEntity(d *xml.Decoder, section string, start xml.StartElement, p pos) (record, error) {
	want, known := knownEntities[section]
	if !known || start.Name.Local != want {
		if err := d.Skip(); err != nil {
			return nil, xmlProblem(d, err, start.Name.Local, p.Line)
		}
		if known {
			return nil, nil // an unexpected element inside a known section: ignore it
		}
		return &ignoredRec{Pos: p, Section: section}, nil
	}
	decode := func(v any) error {
		if err := d.DecodeElement(v, &start); err != nil {
			return xmlProblem(d, err, start.Name.Local, p.Line)
		}
		return nil
	}
	bad := func(format string, args ...any) error {
		return &syntaxError{Problem{Line: p.Line, Element: start.Name.Local, Message: fmt.Sprintf(format, args...)}}
	}
	switch want {
	case "directory":
		var x xmlDirectory
		if err := decode(&x); err != nil {
			return nil, err
		}
		id, err := parseID(x.ID)
		if err != nil {
			return nil, bad("directory %q: <id> %v", x.Name, err)
		}
		rec := &dirRec{Pos: p, ID: id, Name: strings.TrimSpace(x.Name), Type: strings.ToUpper(strings.TrimSpace(x.Type)),
			Description: x.Description, Active: parseBool(x.Active, true)}
		if rec.Type == "" {
			rec.Type = typeFromClass(x.ImplementationClass)
		}
		attrs := attributes(x.Attributes)
		rec.Nested = parseBool(first(attrs["useNestedGroups"]), false)
		rec.Encoder = strings.ToLower(strings.TrimSpace(first(attrs["user_encryption_method"])))
		rec.MaxAttempts, _ = strconv.Atoi(strings.TrimSpace(first(attrs["password_max_attempts"])))
		rec.MinLength, _ = strconv.Atoi(strings.TrimSpace(first(attrs["password_minimum_length"])))
		return rec, nil
	case "user":
		var x xmlUser
		if err := decode(&x); err != nil {
			return nil, err
		}
		dir, err := parseID(x.DirectoryID)
		if err != nil {
			return nil, bad("user %q: <directoryId> %v", x.Name, err)
		}
		return &userRec{Pos: p, Dir: dir, Name: x.Name, FirstName: x.FirstName, LastName: x.LastName,
			DisplayName: x.DisplayName, Email: x.Email, Active: parseBool(x.Active, true), ExternalID: strings.TrimSpace(x.ExternalID),
			Credential: strings.TrimSpace(x.Credential), History: len(x.History), Attrs: attributes(x.Attributes)}, nil
	case "group":
		var x xmlGroup
		if err := decode(&x); err != nil {
			return nil, err
		}
		dir, err := parseID(x.DirectoryID)
		if err != nil {
			return nil, bad("group %q: <directoryId> %v", x.Name, err)
		}
		return &groupRec{Pos: p, Dir: dir, Name: x.Name, Description: x.Description, Active: parseBool(x.Active, true),
			Type: strings.ToUpper(strings.TrimSpace(x.Type)), Attrs: attributes(x.Attributes)}, nil
	case "membership":
		var x xmlMembership
		if err := decode(&x); err != nil {
			return nil, err
		}
		dir, err := parseID(x.DirectoryID)
		if err != nil {
			return nil, bad("membership of %q in %q: <directoryId> %v", x.ChildName, x.ParentName, err)
		}
		var nested bool
		switch strings.ToUpper(strings.TrimSpace(x.MembershipType)) {
		case "GROUP_USER", "":
		case "GROUP_GROUP":
			nested = true
		default:
			return nil, bad("membership of %q in %q: unknown <membershipType> %q (want GROUP_USER or GROUP_GROUP)",
				x.ChildName, x.ParentName, x.MembershipType)
		}
		return &memberRec{Pos: p, Dir: dir, Group: nested, Parent: x.ParentName, Child: x.ChildName}, nil
	case "application":
		var x xmlApplication
		if err := decode(&x); err != nil {
			return nil, err
		}
		attrs := attributes(x.Attributes)
		rec := &appRec{Pos: p, Name: strings.TrimSpace(x.Name), Type: strings.ToUpper(strings.TrimSpace(x.Type)),
			Description: x.Description, Active: parseBool(x.Active, true), Credential: strings.TrimSpace(x.Credential),
			LowerCase: parseBool(first(attrs["lowerCaseOutput"]), false), Aliasing: parseBool(first(attrs["aliasingEnabled"]), false)}
		for _, m := range x.Mappings {
			dir, err := parseID(m.DirectoryID)
			if err != nil {
				return nil, bad("application %q: <directoryMapping> <directoryId> %v", x.Name, err)
			}
			mr := mappingRec{Dir: dir, AllowAll: parseBool(m.AllowAll, false)}
			for _, g := range m.Groups {
				if name := orText(g.GroupName, g.Text); name != "" {
					mr.Groups = append(mr.Groups, name)
				}
			}
			for _, op := range m.Operations {
				mr.Operations = append(mr.Operations, strings.ToUpper(strings.TrimSpace(op)))
			}
			rec.Mappings = append(rec.Mappings, mr)
		}
		for _, a := range x.Addresses {
			if addr := orText(strings.TrimSpace(a.Address), a.Text); addr != "" {
				rec.Addresses = append(rec.Addresses, addr)
			}
		}
		return rec, nil
	}
	return nil, nil
}

// xmlProblem turns a decoder error into a *syntaxError naming the line (and the element whose
// reading failed, with the line it started on).
func xmlProblem(d *xml.Decoder, err error, element string, startLine int) error {
	line, _ := d.InputPos()
	msg := err.Error()
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		line, msg = se.Line, "malformed XML: "+se.Msg
		if strings.Contains(se.Msg, "unexpected EOF") {
			msg = "unexpected end of file: the backup is truncated"
			if element == "" {
				msg += " (elements are left open; the closing </crowd> is missing)"
			}
		}
	} else if errors.Is(err, io.ErrUnexpectedEOF) {
		msg = "unexpected end of file: the backup is truncated"
	}
	if element != "" && startLine > 0 && startLine != line {
		msg += fmt.Sprintf(" (in the <%s> that starts at line %d)", element, startLine)
	}
	return &syntaxError{Problem{Line: line, Element: element, Message: msg}}
}

// attributes collects Crowd's attribute list (one element per value) into a multi-valued map.
func attributes(xs []xmlAttr) map[string][]string {
	if len(xs) == 0 {
		return nil
	}
	out := make(map[string][]string, len(xs))
	for _, a := range xs {
		name := a.Name
		if name == "" {
			name = a.NameAttr
		}
		out[name] = append(out[name], a.Value...)
		out[name] = append(out[name], a.Values...)
	}
	return out
}

// orText is an element's value from its child element, or, in backups that hold it as the
// element's text instead, from that text.
func orText(child, text string) string {
	if child != "" {
		return child
	}
	return strings.TrimSpace(text)
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

// parseID reads a Crowd id; empty is 0 (a missing directoryId is reported by validation).
func parseID(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return id, nil
}

func parseBool(s string, def bool) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes":
		return true
	case "false", "0", "no":
		return false
	}
	return def
}

// typeFromClass infers a directory type from Crowd's implementation class (old backups).
func typeFromClass(class string) string {
	c := strings.ToLower(class)
	switch {
	case strings.HasSuffix(c, ".internaldirectory"), strings.Contains(c, "cachinginternaldirectory"):
		return "INTERNAL"
	case strings.Contains(c, "delegatedauthentication"):
		return "DELEGATING"
	case strings.Contains(c, "remotecrowd"):
		return "CROWD"
	case strings.Contains(c, "azure"):
		return "AZURE_AD"
	case c == "":
		return ""
	}
	return "CONNECTOR"
}

// charsetReader accepts the encodings a Crowd backup may declare besides UTF-8.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "utf-8", "utf8", "us-ascii", "ascii":
		return input, nil
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1":
		return &latin1Reader{r: bufio.NewReader(input)}, nil
	}
	return nil, fmt.Errorf("unsupported encoding %q (convert the backup to UTF-8)", charset)
}

// latin1Reader converts ISO-8859-1 to UTF-8.
type latin1Reader struct {
	r   *bufio.Reader
	buf []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	for len(l.buf) < len(p) {
		b, err := l.r.ReadByte()
		if err != nil {
			if len(l.buf) > 0 {
				break
			}
			return 0, err
		}
		l.buf = utf8.AppendRune(l.buf, rune(b))
	}
	n := copy(p, l.buf)
	l.buf = l.buf[n:]
	return n, nil
}
