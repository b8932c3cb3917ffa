package graphsync

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/crowdgate/crowdgate/store"
)

// Mapping of Entra ID objects to crowdgate users and groups. Everything here is a pure function of
// the Graph object and the configuration, so full and delta rounds map alike.
//
// Users:
//   - name: the attribute Config.UsernameSource names (userPrincipalName by default, or mail,
//     onPremisesSamAccountName, mailNickname), white space trimmed; when that attribute is empty
//     (cloud-only users have no onPremisesSamAccountName, rooms and some guests no mail) the
//     userPrincipalName. With Config.StripDomain the part from the last "@" on is cut
//     ("alice@contoso.com" → "alice"). The name may change in Entra ID: the user's row, and so its
//     key, stay (the key is "<directory id>:<object id>").
//   - first name ← givenName, last name ← surname, display name ← displayName (or "first last", or
//     the name when all are empty; cut to 255 characters: Entra allows 256).
//   - email ← mail, else the first of otherMails, else userPrincipalName.
//   - active ← accountEnabled (true when Graph did not send it).
//   - external id ← the object id.
//
// Groups: name ← displayName (trimmed), description ← description, external id ← the object id.
// The name is what the group wants: the store gives it another one when the name is held by an
// incumbent or protected (store.ApplySync).
//
// Scope: guests (userType "Guest") are replicated unless Config.ExcludeGuests. Groups are replicated
// when security-enabled and not Microsoft 365 groups, and Microsoft 365 groups only with
// Config.UnifiedGroups (others are listed outside with reason TYPE). With Config.Groups (object ids,
// or display names that exactly one group of the tenant has, case-insensitively) only those groups,
// the groups nested in them (transitively) and their members are replicated; nested groups are
// followed whatever the directory's nested-groups setting, which only decides whether nesting is
// stored.

// Username sources for Config.UsernameSource.
const (
	UsernameUPN          = "userPrincipalName"
	UsernameMail         = "mail"
	UsernameSAM          = "onPremisesSamAccountName"
	UsernameMailNickname = "mailNickname"
)

// mapper holds the mapping part of a Config.
type mapper struct {
	source        string
	stripDomain   bool
	excludeGuests bool
	unified       bool            // Microsoft 365 groups are replicated too
	filter        []string        // the group filter as configured
	filterIDs     map[string]bool // lower-cased object ids
	filterNames   map[string]bool // lower-cased display names
}

// unmatched returns the group filter entries that name none of groups (id → display name).
func (m mapper) unmatched(groups map[string]string) []string {
	seen := map[string]bool{}
	for id, name := range groups {
		seen[strings.ToLower(id)] = true
		seen[store.Lower(strings.TrimSpace(name))] = true
	}
	var out []string
	for _, f := range m.filter {
		f = strings.TrimSpace(f)
		if !seen[strings.ToLower(f)] && !seen[store.Lower(f)] {
			out = append(out, f)
		}
	}
	return out
}

func newMapper(c Config) mapper {
	m := mapper{source: c.UsernameSource, stripDomain: c.StripDomain, excludeGuests: c.ExcludeGuests, unified: c.UnifiedGroups,
		filter: c.Groups}
	if m.source == "" {
		m.source = UsernameUPN
	}
	if len(c.Groups) > 0 {
		m.filterIDs, m.filterNames = map[string]bool{}, map[string]bool{}
		for _, g := range c.Groups {
			g = strings.TrimSpace(g)
			m.filterIDs[strings.ToLower(g)] = true
			m.filterNames[store.Lower(g)] = true
		}
	}
	return m
}

// filtered reports whether a group filter is configured.
func (m mapper) filtered() bool { return m.filterIDs != nil }

// chosen reports whether a group is one the filter names, by object id or display name.
func (m mapper) chosen(id, name string) bool {
	return m.filterIDs[strings.ToLower(id)] || m.filterNames[store.Lower(strings.TrimSpace(name))]
}

// typed reports whether a group is of a replicated type: security-enabled and not a Microsoft 365
// group, or a Microsoft 365 group when those are replicated.
func (m mapper) typed(g Group) bool {
	if slices.ContainsFunc(g.GroupTypes, func(t string) bool { return strings.EqualFold(t, "Unified") }) {
		return m.unified
	}
	return g.SecurityEnabled
}

// ambiguous returns an error naming the group filter entries that are no group's object id and the
// display name of more than one group (id → display name): the filter must not pick one at random.
func (m mapper) ambiguous(groups map[string]string) error {
	ids := map[string]bool{}
	byName := map[string][]string{}
	for id, name := range groups {
		ids[strings.ToLower(id)] = true
		l := store.Lower(strings.TrimSpace(name))
		byName[l] = append(byName[l], id)
	}
	var bad []string
	for _, f := range m.filter {
		f = strings.TrimSpace(f)
		if ids[strings.ToLower(f)] {
			continue
		}
		if same := byName[store.Lower(f)]; len(same) > 1 {
			slices.Sort(same)
			bad = append(bad, fmt.Sprintf("%q is the name of %d groups (%s): use the object id", f, len(same), strings.Join(same, ", ")))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("group filter is ambiguous: %s", strings.Join(bad, "; "))
	}
	return nil
}

// chosenByName reports whether a group is chosen by the filter through its display name only.
func (m mapper) chosenByName(id, name string) bool {
	return !m.filterIDs[strings.ToLower(id)] && m.filterNames[store.Lower(strings.TrimSpace(name))]
}

// guest reports whether the user is a guest.
func guest(u User) bool { return strings.EqualFold(u.UserType, "Guest") }

// excluded reports whether the user is out of scope whatever its groups (an excluded guest).
func (m mapper) excluded(u User) bool { return m.excludeGuests && guest(u) }

// username returns the crowd name of a user (see the mapping above).
func (m mapper) username(u User) string {
	var v string
	switch m.source {
	case UsernameMail:
		v = u.Mail
	case UsernameSAM:
		v = u.OnPremisesSamAccountName
	case UsernameMailNickname:
		v = u.MailNickname
	default:
		v = u.UserPrincipalName
	}
	v = strings.TrimSpace(v)
	if v == "" {
		v = strings.TrimSpace(u.UserPrincipalName)
	}
	if m.stripDomain {
		if i := strings.LastIndexByte(v, '@'); i > 0 {
			v = strings.TrimSpace(v[:i])
		}
	}
	return v
}

// user maps a (present) Graph user to the replica's form, normalized as the store keeps it.
func (m mapper) user(u User) store.SyncUser {
	su := store.SyncUser{
		ExternalID:  u.ID,
		Name:        m.username(u),
		FirstName:   strings.TrimSpace(u.GivenName),
		LastName:    strings.TrimSpace(u.Surname),
		DisplayName: strings.TrimSpace(u.DisplayName),
		Email:       strings.TrimSpace(u.Mail),
		Active:      u.AccountEnabled == nil || *u.AccountEnabled,
	}
	if su.Email == "" {
		for _, o := range u.OtherMails {
			if o = strings.TrimSpace(o); o != "" {
				su.Email = o
				break
			}
		}
	}
	if su.Email == "" {
		su.Email = strings.TrimSpace(u.UserPrincipalName)
	}
	su = su.Normalize()
	if su.DisplayName == "" {
		su.DisplayName = su.Name
	}
	su.DisplayName = cut(su.DisplayName, store.MaxNameLen)
	return su
}

// group maps a (present) Graph group to the replica's form.
func (m mapper) group(g Group) store.SyncGroup {
	return store.SyncGroup{ExternalID: g.ID, Name: strings.TrimSpace(g.DisplayName), Description: cut(g.Description, 4000)}
}

// cut shortens s to at most n characters.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// graph is the membership graph of a tenant, by object id: what scope and desired memberships are
// computed from.
type graph struct {
	users  map[string]bool     // present users in scope of the user-level rules
	groups map[string]string   // present groups → display name
	uMem   map[string][]string // group → direct user members
	gMem   map[string][]string // group → direct group members
}

// scope returns the groups and users in scope: everything without a group filter; with one, the
// chosen groups, the groups nested in them and the users who are direct members of any of those.
// Excluded guests are dropped by the caller.
func (m mapper) scope(g graph) (groups, users map[string]bool) {
	groups, users = map[string]bool{}, map[string]bool{}
	if !m.filtered() {
		for id := range g.groups {
			groups[id] = true
		}
		for id := range g.users {
			users[id] = true
		}
		return groups, users
	}
	var queue []string
	for id, name := range g.groups {
		if m.chosen(id, name) {
			groups[id] = true
			queue = append(queue, id)
		}
	}
	slices.Sort(queue)
	for len(queue) > 0 { // cycle-safe: a group is queued once
		id := queue[0]
		queue = queue[1:]
		for _, c := range g.gMem[id] {
			if _, ok := g.groups[c]; ok && !groups[c] {
				groups[c] = true
				queue = append(queue, c)
			}
		}
	}
	for id := range groups {
		for _, u := range g.uMem[id] {
			if g.users[u] {
				users[u] = true
			}
		}
	}
	return groups, users
}
