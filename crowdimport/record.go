package crowdimport

import (
	"context"
	"fmt"
)

// The importers read their source as a stream of records in Crowd's terms; the validation and
// import passes (validate.go, apply.go) work on records only, whichever source they came from.

// pos says where a record came from, for messages: a line of a backup or a REST request.
type pos struct {
	Line  int    `json:"l,omitempty"` // 1-based line of the element's start tag in a backup
	Where string `json:"w,omitempty"` // otherwise: the REST resource it came from
}

func (p pos) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("line %d", p.Line)
	}
	return p.Where
}

// dirRec is a Crowd directory.
type dirRec struct {
	Pos         pos
	ID          int64  // Crowd's directory id, what users, groups and memberships refer to
	Name        string // Crowd's name
	Type        string // INTERNAL, CONNECTOR, DELEGATING, CROWD, AZURE_AD, CUSTOM
	Description string
	Active      bool
	Nested      bool   // attribute useNestedGroups
	Encoder     string // attribute user_encryption_method: atlassian-security, atlassian-sha1, des, ...
	MaxAttempts int    // attribute password_max_attempts; 0 when unset
	MinLength   int    // attribute password_minimum_length; 0 when unset
}

// userRec is a Crowd user with its credential and attributes.
type userRec struct {
	Pos         pos                 `json:"p"`
	Dir         int64               `json:"d"`
	Name        string              `json:"n"`
	FirstName   string              `json:"f,omitempty"`
	LastName    string              `json:"la,omitempty"`
	DisplayName string              `json:"dn,omitempty"`
	Email       string              `json:"e,omitempty"`
	Active      bool                `json:"a"`
	ExternalID  string              `json:"x,omitempty"`
	Credential  string              `json:"c,omitempty"`
	History     int                 `json:"h,omitempty"` // credentials in Crowd's password history
	Attrs       map[string][]string `json:"at,omitempty"`
}

// groupRec is a Crowd group.
type groupRec struct {
	Pos         pos                 `json:"p"`
	Dir         int64               `json:"d"`
	Name        string              `json:"n"`
	Description string              `json:"ds,omitempty"`
	Active      bool                `json:"a"`
	Type        string              `json:"t,omitempty"` // GROUP or LEGACY_ROLE
	Attrs       map[string][]string `json:"at,omitempty"`
}

// memberRec is one direct membership: a user (Group false) or a group (Group true) in a group.
type memberRec struct {
	Pos    pos    `json:"p"`
	Dir    int64  `json:"d"`
	Group  bool   `json:"g,omitempty"`
	Parent string `json:"pa"`
	Child  string `json:"c"`
}

// mappingRec is one directory mapping of a Crowd application.
type mappingRec struct {
	Dir        int64
	AllowAll   bool
	Groups     []string
	Operations []string
}

// appRec is a Crowd application.
type appRec struct {
	Pos         pos
	Name        string
	Type        string // JIRA, CONFLUENCE, CROWD, GENERIC_APPLICATION, ...
	Description string
	Active      bool
	Credential  string
	LowerCase   bool // attribute lowerCaseOutput
	Aliasing    bool // attribute aliasingEnabled: crowdgate has no aliases
	Mappings    []mappingRec
	Addresses   []string
}

// record is one of the record types above (as a pointer).
type record any

// kinds selects the records a pass wants; the others are skipped without being decoded.
type kinds uint8

const (
	wantDirs kinds = 1 << iota
	wantUsers
	wantGroups
	wantMembers
	wantApps
	wantIgnored
	wantAll = wantDirs | wantUsers | wantGroups | wantMembers | wantApps | wantIgnored
)

// kindOf returns the kind of a backup section's entities.
func kindOf(section string) kinds {
	switch section {
	case "directories":
		return wantDirs
	case "users":
		return wantUsers
	case "groups":
		return wantGroups
	case "memberships":
		return wantMembers
	case "applications":
		return wantApps
	}
	return wantIgnored
}

// source streams the records of an input; each call to each reads the input from its start.
type source interface {
	// each calls fn for every record of the wanted kinds in input order; progress reports input
	// consumed.
	each(ctx context.Context, want kinds, fn func(record) error, progress func(done, total int64)) error
	// describe names the source in the report ("crowd backup backup.xml").
	describe() string
}

// lenient is implemented by sources whose memberships may name users or groups they did not list
// (a live Crowd changing between requests): those memberships are skipped instead of refused.
type lenient interface{ lenientMembers() bool }
