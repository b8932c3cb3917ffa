package fakegraph

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Member kinds, as in graphsync and Graph's @odata.type (#microsoft.graph.<kind>).
const (
	KindUser  = "user"
	KindGroup = "group"
	// Directory objects other than users and groups that Entra ID lets into a group.
	KindServicePrincipal = "servicePrincipal"
	KindDevice           = "device"
	KindOrgContact       = "orgContact"
)

// User is a user of the fake tenant. Empty strings are served as JSON null.
type User struct {
	ID                       string
	UserPrincipalName        string
	Mail                     string
	OtherMails               []string
	GivenName                string
	Surname                  string
	DisplayName              string
	MailNickname             string
	OnPremisesSamAccountName string
	UserType                 string // "Member" (default when empty) or "Guest"
	ExternalUserState        string
	AccountEnabled           bool
}

// Group is a group of the fake tenant.
type Group struct {
	ID              string
	DisplayName     string
	Description     string
	MailNickname    string
	SecurityEnabled bool
	MailEnabled     bool
	GroupTypes      []string
}

// Member is a direct member of a group.
type Member struct {
	ID   string
	Kind string // KindUser or KindGroup
}

// ErrNotFound is returned by mutations naming an object the tenant does not hold (or holds deleted).
var ErrNotFound = errors.New("fakegraph: no such object")

// Tenant is an in-memory directory with change tracking for delta queries. Every mutation takes the
// next sequence number; a delta token remembers the sequence number its round started at, so the
// next round returns what changed after it. Deleted objects stay as tombstones so delta can report
// them with "@removed". A Tenant is safe for concurrent use; Server reads it while tests mutate it.
type Tenant struct {
	mu         sync.RWMutex
	seq        uint64
	epoch      uint64 // bumped by ExpireDeltaTokens: older tokens are refused
	lag        bool   // LagNewUsers: new users stay out of users delta until CatchUp
	users      map[string]*userRec
	userOrder  []string // all user ids, tombstones included, sorted: the paging order
	groups     map[string]*groupRec
	groupOrder []string
}

type userRec struct {
	User
	seq      uint64
	removed  string   // "", "changed" (soft delete) or "deleted" (permanent)
	memberOf []string // soft-deleted: the groups it left, rejoined on restore
	lagging  bool     // created while LagNewUsers was on: not yet in users delta
}

type groupRec struct {
	Group
	seq      uint64
	removed  string
	members  []member      // current direct members, sorted by id
	events   []memberEvent // membership changes in sequence order
	saved    []member      // soft-deleted: its members, restored with it
	memberOf []string      // soft-deleted: its parent groups, rejoined on restore
}

type member struct {
	id    string
	group bool
	typ   string // another directory object type (servicePrincipal, device, orgContact); "" for users and groups
}

type memberEvent struct {
	seq     uint64
	m       member
	removed bool
}

func (m member) kind() string {
	if m.typ != "" {
		return m.typ
	}
	if m.group {
		return KindGroup
	}
	return KindUser
}

// NewTenant returns an empty tenant.
func NewTenant() *Tenant {
	return &Tenant{seq: 1, users: map[string]*userRec{}, groups: map[string]*groupRec{}}
}

func (t *Tenant) next() uint64 { t.seq++; return t.seq }

func insertSorted(order []string, id string) []string {
	i, found := slices.BinarySearch(order, id)
	if found {
		return order
	}
	return slices.Insert(order, i, id)
}

// AddUser adds a user. Its ID must be new, or belong to a deleted user (the object comes back).
func (t *Tenant) AddUser(u User) error {
	if u.ID == "" {
		return errors.New("fakegraph: AddUser: empty ID")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if r, ok := t.users[u.ID]; ok && r.removed == "" {
		return fmt.Errorf("fakegraph: AddUser: user %s already exists", u.ID)
	}
	if _, ok := t.groups[u.ID]; ok {
		return fmt.Errorf("fakegraph: AddUser: %s is a group id", u.ID)
	}
	u.OtherMails = slices.Clone(u.OtherMails)
	t.users[u.ID] = &userRec{User: u, seq: t.next(), lagging: t.lag}
	t.userOrder = insertSorted(t.userOrder, u.ID)
	return nil
}

// UpdateUser changes a user through fn (which must not keep the pointer); the ID cannot change.
func (t *Tenant) UpdateUser(id string, fn func(*User)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.users[id]
	if !ok || r.removed != "" {
		return fmt.Errorf("fakegraph: UpdateUser %s: %w", id, ErrNotFound)
	}
	u := r.User
	u.OtherMails = slices.Clone(u.OtherMails)
	fn(&u)
	u.ID = id
	r.User, r.seq = u, t.next()
	return nil
}

// RenameUser changes a user's userPrincipalName (the id stays, as in Entra ID).
func (t *Tenant) RenameUser(id, upn string) error {
	return t.UpdateUser(id, func(u *User) { u.UserPrincipalName = upn })
}

// DeleteUser deletes a user: soft (delta reports "@removed" reason "changed") or permanent
// ("deleted"). The user leaves every group it was a direct member of; a soft-deleted user rejoins
// them when restored, as in Entra ID.
func (t *Tenant) DeleteUser(id string, permanent bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.users[id]
	if !ok || (r.removed != "" && !permanent) || r.removed == "deleted" {
		return fmt.Errorf("fakegraph: DeleteUser %s: %w", id, ErrNotFound)
	}
	left := t.dropMemberEverywhere(id)
	if r.removed == "" {
		r.memberOf = left
	}
	if permanent {
		r.memberOf = nil
	}
	r.removed, r.seq = removedReason(permanent), t.next()
	return nil
}

// RestoreUser brings back a soft-deleted user; delta reports it as a normal object again, and it
// rejoins the groups it was a direct member of that still exist (Entra ID restores memberships).
func (t *Tenant) RestoreUser(id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.users[id]
	if !ok || r.removed != "changed" {
		return fmt.Errorf("fakegraph: RestoreUser %s: %w", id, ErrNotFound)
	}
	r.removed, r.seq = "", t.next()
	t.rejoin(member{id: id}, r.memberOf)
	r.memberOf = nil
	return nil
}

func removedReason(permanent bool) string {
	if permanent {
		return "deleted"
	}
	return "changed"
}

// AddGroup adds a group. Its ID must be new, or belong to a deleted group.
func (t *Tenant) AddGroup(g Group) error {
	if g.ID == "" {
		return errors.New("fakegraph: AddGroup: empty ID")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if r, ok := t.groups[g.ID]; ok && r.removed == "" {
		return fmt.Errorf("fakegraph: AddGroup: group %s already exists", g.ID)
	}
	if _, ok := t.users[g.ID]; ok {
		return fmt.Errorf("fakegraph: AddGroup: %s is a user id", g.ID)
	}
	g.GroupTypes = slices.Clone(g.GroupTypes)
	t.groups[g.ID] = &groupRec{Group: g, seq: t.next()}
	t.groupOrder = insertSorted(t.groupOrder, g.ID)
	return nil
}

// UpdateGroup changes a group's properties through fn; the ID cannot change.
func (t *Tenant) UpdateGroup(id string, fn func(*Group)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.groups[id]
	if !ok || r.removed != "" {
		return fmt.Errorf("fakegraph: UpdateGroup %s: %w", id, ErrNotFound)
	}
	g := r.Group
	g.GroupTypes = slices.Clone(g.GroupTypes)
	fn(&g)
	g.ID = id
	r.Group, r.seq = g, t.next()
	return nil
}

// DeleteGroup deletes a group (soft or permanent, as DeleteUser); it loses its members and leaves
// its parent groups. A soft-deleted group gets both back when restored (RestoreGroup).
func (t *Tenant) DeleteGroup(id string, permanent bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.groups[id]
	if !ok || (r.removed != "" && !permanent) || r.removed == "deleted" {
		return fmt.Errorf("fakegraph: DeleteGroup %s: %w", id, ErrNotFound)
	}
	if r.removed == "" {
		r.saved = slices.Clone(r.members)
		for _, m := range r.saved {
			t.dropMember(r, m.id)
		}
		r.memberOf = t.dropMemberEverywhere(id)
	}
	if permanent {
		r.saved, r.memberOf = nil, nil
	}
	r.removed, r.seq = removedReason(permanent), t.next()
	return nil
}

// AddMember makes memberID (a live user or group) a direct member of group groupID.
func (t *Tenant) AddMember(groupID, memberID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.groups[groupID]
	if !ok || g.removed != "" {
		return fmt.Errorf("fakegraph: AddMember: group %s: %w", groupID, ErrNotFound)
	}
	var m member
	if u, ok := t.users[memberID]; ok && u.removed == "" {
		m = member{id: memberID}
	} else if sub, ok := t.groups[memberID]; ok && sub.removed == "" && memberID != groupID {
		m = member{id: memberID, group: true}
	} else {
		return fmt.Errorf("fakegraph: AddMember: member %s: %w", memberID, ErrNotFound)
	}
	t.addMember(g, m)
	return nil
}

func (t *Tenant) addMember(g *groupRec, m member) {
	i, found := slices.BinarySearchFunc(g.members, m.id, cmpMember)
	if found {
		return
	}
	g.members = slices.Insert(g.members, i, m)
	g.events = append(g.events, memberEvent{seq: t.next(), m: m})
}

// RemoveMember ends memberID's direct membership of groupID.
func (t *Tenant) RemoveMember(groupID, memberID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.groups[groupID]
	if !ok || g.removed != "" {
		return fmt.Errorf("fakegraph: RemoveMember: group %s: %w", groupID, ErrNotFound)
	}
	if !t.dropMember(g, memberID) {
		return fmt.Errorf("fakegraph: RemoveMember: %s in group %s: %w", memberID, groupID, ErrNotFound)
	}
	return nil
}

func cmpMember(m member, id string) int { return strings.Compare(m.id, id) }

func (t *Tenant) dropMember(g *groupRec, id string) bool {
	i, found := slices.BinarySearchFunc(g.members, id, cmpMember)
	if !found {
		return false
	}
	m := g.members[i]
	g.members = slices.Delete(g.members, i, i+1)
	g.events = append(g.events, memberEvent{seq: t.next(), m: m, removed: true})
	return true
}

// dropMemberEverywhere removes id from every live group and returns those groups' ids.
func (t *Tenant) dropMemberEverywhere(id string) []string {
	var left []string
	for _, gid := range t.groupOrder {
		if g := t.groups[gid]; g.removed == "" && t.dropMember(g, id) {
			left = append(left, gid)
		}
	}
	return left
}

// ExpireDeltaTokens makes every delta and skip token issued so far stale: following one gives
// 410 Gone with error code syncStateNotFound, as after Graph's 7-day token lifetime or a reset.
func (t *Tenant) ExpireDeltaTokens() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.epoch++
}

// User returns a live user.
func (t *Tenant) User(id string) (User, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r, ok := t.users[id]
	if !ok || r.removed != "" {
		return User{}, false
	}
	u := r.User
	u.OtherMails = slices.Clone(u.OtherMails)
	return u, true
}

// Group returns a live group.
func (t *Tenant) Group(id string) (Group, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r, ok := t.groups[id]
	if !ok || r.removed != "" {
		return Group{}, false
	}
	g := r.Group
	g.GroupTypes = slices.Clone(g.GroupTypes)
	return g, true
}

// Members returns a group's direct members, sorted by ID.
func (t *Tenant) Members(groupID string) []Member {
	t.mu.RLock()
	defer t.mu.RUnlock()
	r, ok := t.groups[groupID]
	if !ok {
		return nil
	}
	out := make([]Member, len(r.members))
	for i, m := range r.members {
		out[i] = Member{ID: m.id, Kind: m.kind()}
	}
	return out
}

// UserIDs returns the IDs of live users, sorted.
func (t *Tenant) UserIDs() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]string, 0, len(t.userOrder))
	for _, id := range t.userOrder {
		if t.users[id].removed == "" {
			out = append(out, id)
		}
	}
	return out
}

// GroupIDs returns the IDs of live groups, sorted.
func (t *Tenant) GroupIDs() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]string, 0, len(t.groupOrder))
	for _, id := range t.groupOrder {
		if t.groups[id].removed == "" {
			out = append(out, id)
		}
	}
	return out
}

// Counts returns the number of live users, live groups and direct memberships.
func (t *Tenant) Counts() (users, groups, memberships int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, r := range t.users {
		if r.removed == "" {
			users++
		}
	}
	for _, r := range t.groups {
		if r.removed == "" {
			groups++
			memberships += len(r.members)
		}
	}
	return users, groups, memberships
}
