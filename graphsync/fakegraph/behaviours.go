package fakegraph

import "fmt"

// Behaviours of a real tenant that make a sync harder: replication lag between the users and the
// groups endpoints, restores that bring memberships back, members that are neither users nor
// groups, and ordinary users creating groups.

// LagNewUsers switches replication lag on or off. While on, a user created is a member of groups
// at once (groups delta reports it in members@delta) but users delta does not return it until
// CatchUp: Graph's users and groups endpoints are not consistent with each other.
func (t *Tenant) LagNewUsers(on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lag = on
}

// CatchUp ends the lag of every user created under LagNewUsers: the next users delta round
// returns them (as a change after the current state).
func (t *Tenant) CatchUp() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range t.userOrder {
		if r := t.users[id]; r.lagging {
			r.lagging, r.seq = false, t.next()
		}
	}
}

// Lagging returns the ids of users that groups delta may show but users delta does not yet return.
func (t *Tenant) Lagging() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []string
	for _, id := range t.userOrder {
		if r := t.users[id]; r.lagging && r.removed == "" {
			out = append(out, id)
		}
	}
	return out
}

// AddDirectoryObject makes a service principal, device or organisational contact (kind
// KindServicePrincipal, KindDevice or KindOrgContact) a direct member of groupID. The fake keeps
// no other record of such objects; groups delta reports them with their @odata.type.
func (t *Tenant) AddDirectoryObject(groupID, id, kind string) error {
	switch kind {
	case KindServicePrincipal, KindDevice, KindOrgContact:
	default:
		return fmt.Errorf("fakegraph: AddDirectoryObject: kind %q is not a service principal, device or contact", kind)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	g, ok := t.groups[groupID]
	if !ok || g.removed != "" {
		return fmt.Errorf("fakegraph: AddDirectoryObject: group %s: %w", groupID, ErrNotFound)
	}
	if _, ok := t.users[id]; ok || t.groups[id] != nil || id == "" {
		return fmt.Errorf("fakegraph: AddDirectoryObject: %q is not a new object id", id)
	}
	t.addMember(g, member{id: id, typ: kind})
	return nil
}

// rejoin makes m a member again of those of groups that are still live.
func (t *Tenant) rejoin(m member, groups []string) {
	for _, gid := range groups {
		if g := t.groups[gid]; g != nil && g.removed == "" {
			t.addMember(g, m)
		}
	}
}

// RestoreGroup brings back a soft-deleted group with its members and its place in its parent
// groups, as far as those still exist (as Entra ID restores a deleted group).
func (t *Tenant) RestoreGroup(id string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.groups[id]
	if !ok || r.removed != "changed" {
		return fmt.Errorf("fakegraph: RestoreGroup %s: %w", id, ErrNotFound)
	}
	r.removed, r.seq = "", t.next()
	for _, m := range r.saved {
		if m.typ != "" || t.live(m) {
			t.addMember(r, m)
		}
	}
	t.rejoin(member{id: id, group: true}, r.memberOf)
	r.saved, r.memberOf = nil, nil
	return nil
}

func (t *Tenant) live(m member) bool {
	if m.group {
		g := t.groups[m.id]
		return g != nil && g.removed == ""
	}
	u := t.users[m.id]
	return u != nil && u.removed == ""
}

// CreateGroupAsUser is what any user of a default Entra ID tenant may do: create a Microsoft 365
// group (or a Team) of any display name, privileged-sounding ones included, as its first member.
// It returns the new group's id.
func (t *Tenant) CreateGroupAsUser(ownerID, displayName string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u, ok := t.users[ownerID]
	if !ok || u.removed != "" {
		return "", fmt.Errorf("fakegraph: CreateGroupAsUser: user %s: %w", ownerID, ErrNotFound)
	}
	id := fmt.Sprintf("%08x-0000-4000-8000-%012x", 0xf0000000|t.seq, t.seq)
	for t.groups[id] != nil || t.users[id] != nil {
		id = fmt.Sprintf("%08x-0000-4000-8000-%012x", 0xf0000000|t.next(), t.seq)
	}
	r := &groupRec{Group: Group{ID: id, DisplayName: displayName, MailNickname: "group" + id[:8], MailEnabled: true,
		GroupTypes: []string{"Unified"}}, seq: t.next()}
	t.groups[id] = r
	t.groupOrder = insertSorted(t.groupOrder, id)
	t.addMember(r, member{id: ownerID})
	return id, nil
}
