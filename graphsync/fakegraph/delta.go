package fakegraph

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// prop is one selectable property: its name and how to write it.
type prop[T any] struct {
	name string
	put  func(b []byte, v *T) []byte
}

// The tables below are read-only after package initialisation.
var userProps = []prop[User]{
	{"id", func(b []byte, u *User) []byte { return appendString(b, u.ID) }},
	{"userPrincipalName", func(b []byte, u *User) []byte { return appendNullable(b, u.UserPrincipalName) }},
	{"mail", func(b []byte, u *User) []byte { return appendNullable(b, u.Mail) }},
	{"otherMails", func(b []byte, u *User) []byte { return appendStrings(b, u.OtherMails) }},
	{"givenName", func(b []byte, u *User) []byte { return appendNullable(b, u.GivenName) }},
	{"surname", func(b []byte, u *User) []byte { return appendNullable(b, u.Surname) }},
	{"displayName", func(b []byte, u *User) []byte { return appendNullable(b, u.DisplayName) }},
	{"mailNickname", func(b []byte, u *User) []byte { return appendNullable(b, u.MailNickname) }},
	{"onPremisesSamAccountName", func(b []byte, u *User) []byte { return appendNullable(b, u.OnPremisesSamAccountName) }},
	{"userType", func(b []byte, u *User) []byte {
		if u.UserType == "" {
			return appendString(b, "Member")
		}
		return appendString(b, u.UserType)
	}},
	{"externalUserState", func(b []byte, u *User) []byte { return appendNullable(b, u.ExternalUserState) }},
	{"accountEnabled", func(b []byte, u *User) []byte { return appendBool(b, u.AccountEnabled) }},
}

var groupProps = []prop[Group]{
	{"id", func(b []byte, g *Group) []byte { return appendString(b, g.ID) }},
	{"displayName", func(b []byte, g *Group) []byte { return appendNullable(b, g.DisplayName) }},
	{"description", func(b []byte, g *Group) []byte { return appendNullable(b, g.Description) }},
	{"mailNickname", func(b []byte, g *Group) []byte { return appendNullable(b, g.MailNickname) }},
	{"securityEnabled", func(b []byte, g *Group) []byte { return appendBool(b, g.SecurityEnabled) }},
	{"mailEnabled", func(b []byte, g *Group) []byte { return appendBool(b, g.MailEnabled) }},
	{"groupTypes", func(b []byte, g *Group) []byte { return appendStrings(b, g.GroupTypes) }},
	{"members", nil}, // not a property of its own: selects members@delta
}

const (
	membersBit = uint32(1) << 7 // index of "members" in groupProps
	// Graph's default property set for users (of those the fake models) and for groups (all, with members).
	defaultUserMask  = 1<<0 | 1<<1 | 1<<2 | 1<<4 | 1<<5 | 1<<6
	defaultGroupMask = uint32(1)<<8 - 1
)

// parseSelect turns $select into a property mask; "id" is always included. An unknown name is an
// error, as in Graph ("Could not find a property named ...").
func parseSelect[T any](raw string, props []prop[T], def uint32, typ string) (uint32, error) {
	if raw == "" {
		return def, nil
	}
	mask := uint32(1)
	for name := range strings.SplitSeq(raw, ",") {
		name = strings.TrimSpace(name)
		i := slices.IndexFunc(props, func(p prop[T]) bool { return strings.EqualFold(p.name, name) })
		if i < 0 {
			//lint:ignore ST1005 Graph's own wording, sent to the client as is
			return 0, fmt.Errorf("Could not find a property named '%s' on type 'microsoft.graph.%s'.", name, typ)
		}
		mask |= 1 << i
	}
	return mask, nil
}

// cursor is the state carried in $skiptoken and $deltatoken.
type cursor struct {
	kind  byte   // 'u' users, 'g' groups
	epoch uint64 // Tenant.epoch when issued
	full  bool   // a full round (everything live) rather than changes since `since`
	since uint64 // delta rounds: report changes with a sequence number above this
	start uint64 // sequence number when the round started: the next round's since
	mask  uint32 // selected properties
	pass  int    // groups with SpreadChunks: 0 first chunks, 1 the rest of big groups' members
	off   int    // >0: resume object `at` at this member offset; 0: resume after `at`
	at    string
}

func (c cursor) encode() string {
	s := fmt.Sprintf("%c.%d.%t.%d.%d.%d.%d.%d.%s", c.kind, c.epoch, c.full, c.since, c.start, c.mask, c.pass, c.off, c.at)
	return base64.RawURLEncoding.EncodeToString([]byte(s))
}

var errBadToken = errors.New("invalid token")

func decodeCursor(tok string, kind byte) (cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return cursor{}, errBadToken
	}
	f := strings.SplitN(string(raw), ".", 9)
	if len(f) != 9 || len(f[0]) != 1 || f[0][0] != kind {
		return cursor{}, errBadToken
	}
	c := cursor{kind: kind, at: f[8]}
	var errs [7]error
	c.epoch, errs[0] = strconv.ParseUint(f[1], 10, 64)
	c.full, errs[1] = strconv.ParseBool(f[2])
	c.since, errs[2] = strconv.ParseUint(f[3], 10, 64)
	c.start, errs[3] = strconv.ParseUint(f[4], 10, 64)
	var m uint64
	m, errs[4] = strconv.ParseUint(f[5], 10, 32)
	c.mask = uint32(m)
	c.pass, errs[5] = strconv.Atoi(f[6])
	c.off, errs[6] = strconv.Atoi(f[7])
	if errors.Join(errs[:]...) != nil || c.off < 0 || c.pass < 0 || c.pass > 1 {
		return cursor{}, errBadToken
	}
	return c, nil
}

// resume is the index in order of the first object c has not finished.
func resume(order []string, c cursor) int {
	i, found := slices.BinarySearch(order, c.at)
	if found && c.off == 0 {
		i++
	}
	return i
}

// pageOpts are the Options that shape a round's pages.
type pageOpts struct {
	chunk         int
	repeat        bool // RepeatObjects
	spread        bool // SpreadChunks
	removedInFull bool // RemovedInFullRounds
}

// inRound reports whether an object with this state belongs in round c.
func inRound(c cursor, o pageOpts, seq uint64, removed string, changed bool) bool {
	if c.full {
		return removed == "" || o.removedInFull
	}
	return seq > c.since || changed
}

// usersPage appends up to n user objects of round c to b and returns the cursor that continues the
// round, or nil when the round is complete. The caller holds t.mu for reading.
func (t *Tenant) usersPage(b []byte, c cursor, n int, o pageOpts) ([]byte, *cursor) {
	count, i := 0, resume(t.userOrder, c)
	put := func(r *userRec) {
		if len(b) > 0 {
			b = append(b, ',')
		}
		if r.removed != "" {
			b = appendRemoved(b, r.ID, r.removed)
			return
		}
		b = appendObject(b, &r.User, userProps, c.mask)
		b = append(b, '}')
	}
	if o.repeat && c.at != "" && i > 0 { // Graph may return an object again on the next page
		if r := t.users[t.userOrder[i-1]]; !r.lagging && inRound(c, o, r.seq, r.removed, false) {
			put(r)
		}
	}
	for ; i < len(t.userOrder) && count < n; i++ {
		r := t.users[t.userOrder[i]]
		if r.lagging || !inRound(c, o, r.seq, r.removed, false) {
			continue
		}
		put(r)
		count++
	}
	if i >= len(t.userOrder) {
		return b, nil
	}
	next := c
	next.at, next.off = t.userOrder[i-1], 0
	return b, &next
}

// groupsPage is usersPage for groups. A group with more than o.chunk members in this round is
// written several times, each time with the next chunk of members@delta, as Graph does for big
// groups: on consecutive objects, or with o.spread the first chunk in the group's place and the
// others in a second pass after every group (spread across the round).
func (t *Tenant) groupsPage(b []byte, c cursor, n int, o pageOpts) ([]byte, *cursor) {
	count, i, off, pass := 0, resume(t.groupOrder, c), c.off, c.pass
	withMembers := c.mask&membersBit != 0
	sep := func() {
		if len(b) > 0 {
			b = append(b, ',')
		}
	}
	if o.repeat && pass == 0 && off == 0 && c.at != "" && i > 0 { // the previous page's last group again, without members
		if r := t.groups[t.groupOrder[i-1]]; inRound(c, o, r.seq, r.removed, false) {
			sep()
			if r.removed != "" {
				b = appendRemoved(b, r.ID, r.removed)
			} else {
				b = append(appendObject(b, &r.Group, groupProps, c.mask), '}')
			}
		}
	}
	for count < n {
		if i >= len(t.groupOrder) {
			if pass == 0 && o.spread {
				pass, i, off = 1, 0, 0
				continue
			}
			break
		}
		r := t.groups[t.groupOrder[i]]
		var changes []memberEvent
		if !c.full && withMembers && r.removed == "" {
			changes = r.changesSince(c.since)
		}
		total := len(changes)
		if c.full && withMembers && r.removed == "" {
			total = len(r.members)
		}
		if !inRound(c, o, r.seq, r.removed, len(changes) > 0) || (pass == 1 && total <= o.chunk) {
			i, off = i+1, 0
			continue
		}
		if pass == 1 && off == 0 {
			off = o.chunk
		}
		sep()
		count++
		if r.removed != "" {
			b = appendRemoved(b, r.ID, r.removed)
			i, off = i+1, 0
			continue
		}
		b = appendObject(b, &r.Group, groupProps, c.mask)
		end := min(off+o.chunk, total)
		if end > off {
			b = append(b, `,"members@delta":[`...)
			for j := off; j < end; j++ {
				if j > off {
					b = append(b, ',')
				}
				if c.full {
					b = appendMember(b, memberEvent{m: r.members[j]})
				} else {
					b = appendMember(b, changes[j])
				}
			}
			b = append(b, ']')
		}
		b = append(b, '}')
		if end < total && (pass == 1 || !o.spread) {
			off = end
		} else {
			i, off = i+1, 0
		}
	}
	if i >= len(t.groupOrder) && (pass == 1 || !o.spread) {
		return b, nil
	}
	next := c
	next.pass = pass
	switch {
	case i >= len(t.groupOrder): // the first pass ended exactly here
		next.pass, next.at, next.off = 1, "", 0
	case off > 0:
		next.at, next.off = t.groupOrder[i], off
	case i == 0:
		next.at, next.off = "", 0
	default:
		next.at, next.off = t.groupOrder[i-1], 0
	}
	return b, &next
}

// changesSince returns the net membership changes after seq, one per member (the latest), by id.
func (r *groupRec) changesSince(seq uint64) []memberEvent {
	var out []memberEvent
	seen := map[string]bool{}
	for k := len(r.events) - 1; k >= 0 && r.events[k].seq > seq; k-- {
		e := r.events[k]
		if !seen[e.m.id] {
			seen[e.m.id] = true
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b memberEvent) int { return strings.Compare(a.m.id, b.m.id) })
	return out
}

// appendObject writes "{" and the selected properties, leaving the object open.
func appendObject[T any](b []byte, v *T, props []prop[T], mask uint32) []byte {
	b = append(b, '{')
	first := true
	for i, p := range props {
		if mask&(1<<i) != 0 && p.put != nil {
			b = field(b, &first, p.name)
			b = p.put(b, v)
		}
	}
	return b
}

func appendMember(b []byte, e memberEvent) []byte {
	b = append(b, `{"@odata.type":"#microsoft.graph.`...)
	b = append(b, e.m.kind()...)
	b = append(b, `","id":`...)
	b = appendString(b, e.m.id)
	if e.removed {
		b = append(b, `,"@removed":{"reason":"deleted"}`...)
	}
	return append(b, '}')
}
