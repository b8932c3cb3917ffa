package saml

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/crowdgate/crowdgate/store"
)

// refusal is a sign-in the SP turns down: the reason is logged and audited, the browser sees
// only the public message (or a generic one).
type refusal struct {
	status int
	reason string
	public string
	user   string // user name or NameID, when known
	action string // audit action; LOGIN_FAILED when empty
}

func (f *refusal) Error() string { return f.reason }

// isGuest recognises Entra B2B guests: their UPN carries #EXT#, or another identity provider
// authenticated them.
func isGuest(a *assertion) bool {
	if strings.Contains(strings.ToUpper(a.NameID), "#EXT#") || strings.Contains(strings.ToUpper(a.attr(ClaimName)), "#EXT#") {
		return true
	}
	idp := a.attr(ClaimIdentityProvider)
	return idp != "" && idp != a.Issuer
}

// identity returns how the assertion names its user under the configured mapping and guest rule.
func (sp *SP) identity(a *assertion) (by, value string, f *refusal) {
	mapping := sp.cfg.UserMapping
	if isGuest(a) {
		switch sp.cfg.GuestRule {
		case GuestDeny:
			return "", "", &refusal{status: http.StatusForbidden, user: a.NameID,
				reason: "guest accounts may not sign in (guest rule deny)", public: "Guest accounts cannot sign in here."}
		case GuestEmail:
			mapping = MapEmail
		}
	}
	switch mapping {
	case MapObjectID:
		by, value = store.SAMLByObjectID, a.attr(sp.cfg.ObjectIDClaim)
	case MapEmail:
		by, value = store.SAMLByEmail, a.attr(sp.cfg.EmailClaim)
	default:
		by, value = store.SAMLByName, a.NameID
	}
	if value == "" {
		return "", "", &refusal{status: http.StatusForbidden, user: a.NameID,
			reason: fmt.Sprintf("assertion has no value to map the user by (%s)", mapping)}
	}
	return by, value, nil
}

// findUser maps the assertion to the one directory user it names and checks that user may use
// the target.
func (sp *SP) findUser(ctx context.Context, a *assertion, tgt target) (store.User, *refusal) {
	by, value, f := sp.identity(a)
	if f != nil {
		return store.User{}, f
	}
	users, err := sp.st.UsersForAssertion(ctx, by, value, sp.cfg.MapInternalUsers)
	if err != nil {
		return store.User{}, &refusal{status: http.StatusServiceUnavailable, user: a.NameID, reason: "user lookup: " + err.Error()}
	}
	unknown := &refusal{status: http.StatusForbidden, user: a.NameID,
		reason: fmt.Sprintf("no active directory has a user with %s %q", by, value),
		public: "Your account " + a.NameID + " is not known here. Ask your administrator for access."}
	if len(users) == 0 {
		return store.User{}, unknown
	}
	var u store.User
	var view *store.View
	if tgt.Kind == targetApp {
		if view, err = sp.st.View(ctx, tgt.App); err != nil {
			return store.User{}, &refusal{status: http.StatusServiceUnavailable, user: a.NameID, reason: "application view: " + err.Error()}
		}
		// The first of the application's directories that has the user decides, as for Crowd.
		var found []store.User
		for _, d := range view.Directories() {
			for _, c := range users {
				if c.DirectoryID == d {
					found = append(found, c)
				}
			}
			if len(found) > 0 {
				break
			}
		}
		if len(found) == 0 {
			return store.User{}, &refusal{status: http.StatusForbidden, user: users[0].Name,
				reason: fmt.Sprintf("user %q is in no directory of application %q", users[0].Name, tgt.App.Name),
				public: notAllowed(users[0].Name, tgt.App.Name)}
		}
		users = found
	}
	if len(users) > 1 {
		return store.User{}, &refusal{status: http.StatusForbidden, user: a.NameID,
			reason: fmt.Sprintf("%d users have %s %q; refusing to guess", len(users), by, value)}
	}
	u = users[0]
	if !u.Active {
		return store.User{}, &refusal{status: http.StatusForbidden, user: u.Name, reason: fmt.Sprintf("user %q is inactive", u.Name),
			public: "Your account " + u.Name + " is disabled."}
	}
	if tgt.Kind == targetConsole {
		return u, sp.mayUseConsole(ctx, u)
	}
	// A user shadowed by a same-named user of an earlier directory is somebody else to the
	// application: a session would sign the browser in as that other user.
	if c, err := view.User(ctx, u.Name); err != nil || c.ID != u.ID {
		return store.User{}, &refusal{status: http.StatusForbidden, user: u.Name,
			reason: fmt.Sprintf("user %q is shadowed in application %q by a user of an earlier directory", u.Name, tgt.App.Name),
			public: notAllowed(u.Name, tgt.App.Name)}
	}
	if err := view.MayAuthenticate(ctx, u); err != nil {
		status := http.StatusForbidden
		if !store.IsNotAllowed(err) {
			status = http.StatusServiceUnavailable
		}
		return store.User{}, &refusal{status: status, user: u.Name, reason: err.Error(), public: notAllowed(u.Name, tgt.App.Name)}
	}
	return u, nil
}

func notAllowed(user, app string) string {
	return "You are signed in as " + user + ", but you do not have access to " + app + ". Ask your administrator for access."
}

// mayUseConsole applies ConsoleGroups.
func (sp *SP) mayUseConsole(ctx context.Context, u store.User) *refusal {
	if len(sp.cfg.ConsoleGroups) == 0 {
		return nil
	}
	for _, g := range sp.cfg.ConsoleGroups {
		ok, err := sp.st.UserInGroup(ctx, u, g)
		if err != nil {
			return &refusal{status: http.StatusServiceUnavailable, user: u.Name, reason: "console groups: " + err.Error()}
		}
		if ok {
			return nil
		}
	}
	return &refusal{status: http.StatusForbidden, user: u.Name,
		reason: fmt.Sprintf("user %q is in none of the console groups %s", u.Name, strings.Join(sp.cfg.ConsoleGroups, ", ")),
		public: notAllowed(u.Name, "the crowdgate console")}
}
