package fakegraph

import "fmt"

// ApplyHundredChanges makes the 100 changes of target P6's delta round in a tenant made by Generate
// (at least 3,100 users and 30 groups): 30 renames, 20 users enabled or disabled, 10 deletions (half
// of them permanent), 10 new users each in a group, and 30 membership changes (15 added, up to 15
// removed). The graphsync scale test and the benchmark tool time the same round.
func (t *Tenant) ApplyHundredChanges() error {
	ids, gids := t.UserIDs(), t.GroupIDs()
	if len(ids) < 3100 || len(gids) < 30 {
		return fmt.Errorf("fakegraph: ApplyHundredChanges needs 3,100 users and 30 groups, the tenant has %d and %d", len(ids), len(gids))
	}
	var errs []error
	try := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	for i := range 30 {
		try(t.RenameUser(ids[i*7], fmt.Sprintf("renamed%d@contoso.com", i)))
	}
	for i := range 20 {
		try(t.UpdateUser(ids[1000+i*11], func(u *User) { u.AccountEnabled = !u.AccountEnabled }))
	}
	for i := range 10 {
		try(t.DeleteUser(ids[2000+i*13], i%2 == 0))
	}
	for i := range 10 {
		id := fmt.Sprintf("50000000-0000-4000-8000-%012d", i)
		try(t.AddUser(User{ID: id, UserPrincipalName: fmt.Sprintf("new%d@contoso.com", i), AccountEnabled: true}))
		try(t.AddMember(gids[i], id))
	}
	for i := range 15 {
		try(t.AddMember(gids[len(gids)-1-i], ids[3000+i]))
		if m := t.Members(gids[10+i]); len(m) > 0 && m[0].Kind == KindUser {
			try(t.RemoveMember(gids[10+i], m[0].ID))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("fakegraph: applying the 100 changes: %w", errs[0])
	}
	return nil
}
