package saml

import (
	"context"
	"encoding/json"
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
	if isGuest(a) && sp.cfg.GuestRule == GuestDeny {
		return "", "", &refusal{status: http.StatusForbidden, user: a.NameID,
			reason: "guest accounts may not sign in (guest rule deny)", public: "Guest accounts cannot sign in here."}
	}
	switch mapping {
	case MapObjectID:
		by = store.SAMLByObjectID
		value, f = claim(a, sp.cfg.ObjectIDClaims)
	case MapEmail:
		by = store.SAMLByEmail
		value, f = claim(a, sp.cfg.EmailClaims)
	default:
		by, value = store.SAMLByName, a.NameID
	}
	if f != nil {
		return "", "", f
	}
	if value == "" {
		return "", "", &refusal{status: http.StatusForbidden, user: a.NameID,
			reason: fmt.Sprintf("assertion has no value to map the user by (%s)", mapping)}
	}
	return by, value, nil
}

// claim returns the value of the first of names the assertion carries. Two of them with
// different values make the identity ambiguous: refused rather than guessed.
func claim(a *assertion, names []string) (string, *refusal) {
	first, value := "", ""
	for _, n := range names {
		v := a.attr(n)
		switch {
		case v == "":
		case value == "":
			first, value = n, v
		case !strings.EqualFold(v, value):
			return "", &refusal{status: http.StatusForbidden, user: a.NameID,
				reason: fmt.Sprintf("claims %s (%q) and %s (%q) disagree", first, value, n, v)}
		}
	}
	return value, nil
}

// findUser maps the assertion to the one directory user it names and checks that user may use
// the target.
func (sp *SP) findUser(ctx context.Context, a *assertion, tgt target) (store.User, *refusal) {
	by, value, f := sp.identity(a)
	if f != nil {
		return store.User{}, f
	}
	dirs, err := sp.mappedDirectories(ctx)
	if err != nil {
		return store.User{}, &refusal{status: http.StatusServiceUnavailable, user: a.NameID, reason: "user lookup: " + err.Error()}
	}
	internal := false
	for _, d := range dirs {
		internal = internal || d.Kind == store.DirectoryInternal
	}
	users, err := sp.st.UsersForAssertion(ctx, by, value, internal)
	if err != nil {
		return store.User{}, &refusal{status: http.StatusServiceUnavailable, user: a.NameID, reason: "user lookup: " + err.Error()}
	}
	if users, f = sp.eligible(a, by, users, dirs); f != nil {
		return store.User{}, f
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

// mappedDirectories returns the directories the mapping may match users in, by id: the
// configured ones, or every active Entra ID directory.
func (sp *SP) mappedDirectories(ctx context.Context) (map[int64]store.Directory, error) {
	all, err := sp.st.Directories(ctx)
	if err != nil {
		return nil, err
	}
	out := map[int64]store.Directory{}
	for _, d := range all {
		if !d.Active {
			continue
		}
		if len(sp.cfg.Directories) == 0 && d.Kind == store.DirectoryAzureAD {
			out[d.ID] = d
		}
		for _, n := range sp.cfg.Directories {
			if strings.EqualFold(n, d.Name) {
				out[d.ID] = d
			}
		}
	}
	return out, nil
}

// eligible keeps the users the mapping may sign in as: in a mapped directory and, for the
// e-mail mapping, synchronised (an external id), not a guest, and in a directory bound to this
// IdP. An e-mail address is only as trustworthy as whoever can set it: a guest's comes from its
// home tenant, and another tenant or IdP may assert any address it likes. When none is left the
// refusal says why the first candidate was dropped.
func (sp *SP) eligible(a *assertion, by string, users []store.User, dirs map[int64]store.Directory) ([]store.User, *refusal) {
	var out []store.User
	why := ""
	for _, u := range users {
		d, ok := dirs[u.DirectoryID]
		reason := ""
		switch {
		case !ok:
			reason = fmt.Sprintf("user %q is in directory %d, which SAML sign-in does not map to", u.Name, u.DirectoryID)
		case by != store.SAMLByEmail || d.Kind == store.DirectoryInternal:
			// Internal users are reached only by naming their directory: an explicit opt-in.
		case u.ExternalID == "":
			reason = fmt.Sprintf("e-mail mapping: user %q of directory %q is not synchronised from Entra ID", u.Name, d.Name)
		case strings.Contains(strings.ToUpper(u.Name), "#EXT#"):
			reason = fmt.Sprintf("e-mail mapping: user %q of directory %q is a guest", u.Name, d.Name)
		case !sp.boundTo(d, a.Issuer):
			reason = fmt.Sprintf("e-mail mapping: directory %q is not bound to IdP %q (its tenant differs and it is not named in the SAML directories)", d.Name, a.Issuer)
		}
		if reason == "" {
			out = append(out, u)
		} else if why == "" {
			why = reason
		}
	}
	if len(out) == 0 && why != "" {
		return nil, &refusal{status: http.StatusForbidden, user: a.NameID, reason: why,
			public: "Your account " + a.NameID + " is not known here. Ask your administrator for access."}
	}
	return out, nil
}

// boundTo reports whether the Entra ID directory d belongs to the IdP issuer: it is named in
// Directories, or its tenant is the tenant of an Entra issuer (https://sts.windows.net/{tenant}/).
func (sp *SP) boundTo(d store.Directory, issuer string) bool {
	for _, n := range sp.cfg.Directories {
		if strings.EqualFold(n, d.Name) {
			return true
		}
	}
	var c struct {
		TenantID string `json:"tenant_id"`
	}
	if json.Unmarshal([]byte(d.Config), &c) != nil || c.TenantID == "" {
		return false
	}
	tenant, ok := strings.CutPrefix(issuer, "https://sts.windows.net/")
	return ok && strings.EqualFold(strings.TrimSuffix(tenant, "/"), c.TenantID)
}
