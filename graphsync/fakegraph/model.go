package fakegraph

import (
	"strings"

	"github.com/crowdgate/crowdgate/store"
)

// WantSyncUser is the replica record a sync must leave for u, written out apart from graphsync's
// own mapping so that tests can hold the syncer against it: every field trimmed of white space; the
// e-mail is the mail, else the first other mail, else the principal name; the display name falls
// back to the given name and surname, then to the name.
func (u User) WantSyncUser() store.SyncUser {
	su := store.SyncUser{ExternalID: u.ID, Name: strings.TrimSpace(u.UserPrincipalName), FirstName: strings.TrimSpace(u.GivenName),
		LastName: strings.TrimSpace(u.Surname), DisplayName: strings.TrimSpace(u.DisplayName), Email: strings.TrimSpace(u.Mail),
		Active: u.AccountEnabled}
	if su.Email == "" && len(u.OtherMails) > 0 {
		su.Email = strings.TrimSpace(u.OtherMails[0])
	}
	if su.Email == "" {
		su.Email = su.Name
	}
	if su.DisplayName == "" {
		su.DisplayName = strings.TrimSpace(su.FirstName + " " + su.LastName)
	}
	if su.DisplayName == "" {
		su.DisplayName = su.Name
	}
	return su
}
