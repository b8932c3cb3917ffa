package msgraph_test

import (
	"fmt"
	"slices"
	"strings"

	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
)

// The chaos tenant: users (some guests, some disabled), security and Microsoft 365 groups whose
// names often clash, nesting without cycles, and members that are neither users nor groups.

// groupNames are the names groups are created with or renamed to half of the time, so that names
// clash (also in case only) and privileged names turn up.
var groupNames = []string{"jira-users", "Jira-Users", "confluence-users", "jira-software-users", "Engineering",
	"engineering", "Sales", "jira-administrators", "confluence-administrators", "Équipe ünïcode", "team"}

// newID returns a fresh object id; random, so the paging order is too.
func (c *chaos) newID() string {
	c.n++
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", c.rng.Uint32(), c.n, c.rng.IntN(0x1000), c.rng.IntN(0x1000), c.rng.Uint64()&0xffffffffffff)
}

func (c *chaos) pick(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return ids[c.rng.IntN(len(ids))]
}

func (c *chaos) check(op string, err error) {
	c.t.Helper()
	if err != nil {
		c.t.Fatalf("chaos seed %d: %s: %v", c.seed, op, err)
	}
	c.note("%s", op)
}

func (c *chaos) newUser() fakegraph.User {
	id := c.newID()
	u := fakegraph.User{ID: id, AccountEnabled: c.rng.IntN(10) != 0}
	switch {
	case c.rng.IntN(6) == 0:
		u.UserPrincipalName = fmt.Sprintf("guest%d_fabrikam.com#EXT#@contoso.onmicrosoft.com", c.n)
		u.Mail, u.UserType, u.DisplayName = fmt.Sprintf("guest%d@fabrikam.com", c.n), "Guest", fmt.Sprintf("Guest %d (Fabrikam)", c.n)
		u.ExternalUserState = "Accepted"
	case len(c.freeUPNs) > 0 && c.rng.IntN(3) == 0: // a UPN of a user deleted for good goes to a new user
		i := c.rng.IntN(len(c.freeUPNs))
		u.UserPrincipalName = c.freeUPNs[i]
		c.freeUPNs = slices.Delete(c.freeUPNs, i, i+1)
	default:
		u.UserPrincipalName = fmt.Sprintf("user%d@contoso.com", c.n)
		u.GivenName, u.Surname = "User", fmt.Sprint(c.n)
		if c.rng.IntN(2) == 0 {
			u.Mail = u.UserPrincipalName
		}
		if c.rng.IntN(3) == 0 {
			u.DisplayName = fmt.Sprintf("User %d", c.n)
		}
	}
	return u
}

// groupName is a name from groupNames, or a unique one when names must not clash.
func (c *chaos) groupName() string {
	name := c.pick(groupNames)
	if c.filtered && !filterWithClashingNames {
		c.n++
		name = fmt.Sprintf("%s-%d", name, c.n)
	}
	return name
}

func (c *chaos) newGroup() fakegraph.Group {
	id := c.newID()
	g := fakegraph.Group{ID: id, DisplayName: fmt.Sprintf("group-%d", c.n), SecurityEnabled: true}
	if c.rng.IntN(2) == 0 {
		g.DisplayName = c.groupName()
	}
	if c.rng.IntN(4) == 0 { // a Microsoft 365 group
		g.SecurityEnabled, g.MailEnabled, g.GroupTypes = false, true, []string{"Unified"}
	}
	if c.rng.IntN(3) == 0 {
		g.Description = "about " + g.DisplayName
	}
	return g
}

// populate builds the first tenant: 30 users, 10 groups, 60 memberships, some nesting.
func (c *chaos) populate() {
	for range 30 {
		u := c.newUser()
		c.check("add user "+u.ID, c.tn.AddUser(u))
	}
	for range 10 {
		g := c.newGroup()
		c.check("add group "+g.ID, c.tn.AddGroup(g))
	}
	for range 60 {
		c.addMember()
	}
}

// reaches reports whether group from contains group to, directly or through nesting.
func (c *chaos) reaches(from, to string) bool {
	seen, queue := map[string]bool{from: true}, []string{from}
	for len(queue) > 0 {
		g := queue[0]
		queue = queue[1:]
		if g == to {
			return true
		}
		for _, m := range c.tn.Members(g) {
			if m.Kind == fakegraph.KindGroup && !seen[m.ID] {
				seen[m.ID], queue = true, append(queue, m.ID)
			}
		}
	}
	return false
}

func (c *chaos) addMember() {
	g := c.pick(c.tn.GroupIDs())
	if g == "" {
		return
	}
	switch r := c.rng.IntN(10); {
	case r < 7:
		if u := c.pick(c.tn.UserIDs()); u != "" {
			c.check("add member "+u+" to "+g, c.tn.AddMember(g, u))
		}
	case r < 9: // nesting, never a cycle (Entra ID refuses those)
		if sub := c.pick(c.tn.GroupIDs()); sub != "" && sub != g && !c.reaches(sub, g) {
			c.check("nest "+sub+" in "+g, c.tn.AddMember(g, sub))
		}
	default:
		kind := c.pick([]string{fakegraph.KindServicePrincipal, fakegraph.KindDevice, fakegraph.KindOrgContact})
		c.check("add "+kind+" to "+g, c.tn.AddDirectoryObject(g, c.newID(), kind))
	}
}

// mutate applies n random changes to the tenant.
func (c *chaos) mutate(n int) {
	for range n {
		users, groups := c.tn.UserIDs(), c.tn.GroupIDs()
		u, g := c.pick(users), c.pick(groups)
		switch r := c.rng.IntN(100); {
		case r < 12 || u == "":
			nu := c.newUser()
			c.check("add user "+nu.ID+" "+nu.UserPrincipalName, c.tn.AddUser(nu))
			for range c.rng.IntN(3) {
				if g := c.pick(groups); g != "" {
					c.check("add member "+nu.ID+" to "+g, c.tn.AddMember(g, nu.ID))
				}
			}
		case r < 17: // rename: a new UPN, or the same in another case
			old, _ := c.tn.User(u)
			upn := fmt.Sprintf("renamed%d@contoso.com", c.n)
			c.n++
			if c.rng.IntN(2) == 0 {
				upn = strings.ToUpper(old.UserPrincipalName[:1]) + old.UserPrincipalName[1:]
			}
			c.check("rename user "+u+" to "+upn, c.tn.RenameUser(u, upn))
		case r < 24:
			c.check("toggle enabled "+u, c.tn.UpdateUser(u, func(x *fakegraph.User) { x.AccountEnabled = !x.AccountEnabled }))
		case r < 27:
			c.check("update names "+u, c.tn.UpdateUser(u, func(x *fakegraph.User) {
				x.DisplayName, x.Mail = fmt.Sprintf("Changed %d", c.n), ""
			}))
		case r < 32:
			c.softUsers = append(c.softUsers, u)
			c.check("soft-delete user "+u, c.tn.DeleteUser(u, false))
		case r < 34:
			old, _ := c.tn.User(u)
			c.freeUPNs = append(c.freeUPNs, old.UserPrincipalName)
			c.check("delete user for good "+u, c.tn.DeleteUser(u, true))
		case r < 38 && len(c.softUsers) > 0:
			i := c.rng.IntN(len(c.softUsers))
			id := c.softUsers[i]
			c.softUsers = slices.Delete(c.softUsers, i, i+1)
			if c.rng.IntN(4) == 0 { // purged from the recycle bin
				c.check("purge user "+id, c.tn.DeleteUser(id, true))
			} else {
				c.check("restore user "+id, c.tn.RestoreUser(id))
			}
		case r < 43:
			ng := c.newGroup()
			c.check(fmt.Sprintf("add group %s %q", ng.ID, ng.DisplayName), c.tn.AddGroup(ng))
		case r < 45 && u != "":
			name := c.pick(privilegedNames)
			if c.filtered && !filterWithClashingNames {
				name = c.groupName()
			}
			id, err := c.tn.CreateGroupAsUser(u, name)
			c.byUsers = append(c.byUsers, id)
			c.check(fmt.Sprintf("user %s creates group %s %q", u, id, name), err)
		case r < 50 && g != "":
			name := c.groupName()
			c.check(fmt.Sprintf("rename group %s to %q", g, name), c.tn.UpdateGroup(g, func(x *fakegraph.Group) { x.DisplayName = name }))
		case r < 53 && g != "":
			c.softGroups = append(c.softGroups, g)
			c.check("soft-delete group "+g, c.tn.DeleteGroup(g, false))
		case r < 54 && g != "":
			c.check("delete group for good "+g, c.tn.DeleteGroup(g, true))
		case r < 58 && len(c.softGroups) > 0:
			i := c.rng.IntN(len(c.softGroups))
			id := c.softGroups[i]
			c.softGroups = slices.Delete(c.softGroups, i, i+1)
			if err := c.tn.RestoreGroup(id); err == nil {
				c.note("restore group %s", id)
			}
		case r < 80:
			c.addMember()
		case g != "":
			if ms := c.tn.Members(g); len(ms) > 0 {
				m := ms[c.rng.IntN(len(ms))]
				c.check("remove member "+m.ID+" from "+g, c.tn.RemoveMember(g, m.ID))
			}
		}
	}
}
