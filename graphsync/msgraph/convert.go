package msgraph

import (
	"errors"
	"fmt"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/crowdgate/crowdgate/graphsync"
)

// This file is the one place where SDK models become crowdgate's types. "@removed" and
// "members@delta" are not typed SDK properties: kiota leaves them in GetAdditionalData() as
// map[string]any / []any with *string leaves, so every step is a checked type assertion and a shape
// Graph did not promise is an error naming the offending key, never a panic.

func userFromModel(m models.Userable) (graphsync.User, error) {
	if m == nil {
		return graphsync.User{}, errors.New("null user")
	}
	u := graphsync.User{
		ID:                       deref(m.GetId()),
		UserPrincipalName:        deref(m.GetUserPrincipalName()),
		Mail:                     deref(m.GetMail()),
		OtherMails:               append([]string(nil), m.GetOtherMails()...),
		GivenName:                deref(m.GetGivenName()),
		Surname:                  deref(m.GetSurname()),
		DisplayName:              deref(m.GetDisplayName()),
		MailNickname:             deref(m.GetMailNickname()),
		OnPremisesSamAccountName: deref(m.GetOnPremisesSamAccountName()),
		UserType:                 deref(m.GetUserType()),
		ExternalUserState:        deref(m.GetExternalUserState()),
	}
	if v := m.GetAccountEnabled(); v != nil {
		enabled := *v
		u.AccountEnabled = &enabled
	}
	if u.ID == "" {
		return graphsync.User{}, errors.New("user without id")
	}
	var err error
	if u.Removed, u.RemovedReason, err = removal(m.GetAdditionalData()); err != nil {
		return graphsync.User{}, fmt.Errorf("user %s: %w", u.ID, err)
	}
	return u, nil
}

func groupFromModel(m models.Groupable) (graphsync.Group, error) {
	if m == nil {
		return graphsync.Group{}, errors.New("null group")
	}
	g := graphsync.Group{
		ID:              deref(m.GetId()),
		DisplayName:     deref(m.GetDisplayName()),
		Description:     deref(m.GetDescription()),
		MailNickname:    deref(m.GetMailNickname()),
		SecurityEnabled: deref(m.GetSecurityEnabled()),
		GroupTypes:      append([]string(nil), m.GetGroupTypes()...),
	}
	if g.ID == "" {
		return graphsync.Group{}, errors.New("group without id")
	}
	ad := m.GetAdditionalData()
	var err error
	if g.Removed, g.RemovedReason, err = removal(ad); err != nil {
		return graphsync.Group{}, fmt.Errorf("group %s: %w", g.ID, err)
	}
	if g.Members, err = memberChanges(ad); err != nil {
		return graphsync.Group{}, fmt.Errorf("group %s: %w", g.ID, err)
	}
	return g, nil
}

// removal reads {"@removed": {"reason": "changed"|"deleted"}}. A missing or null "@removed" means
// the object is present; a removal without a reason is still a removal.
func removal(ad map[string]any) (removed bool, reason string, err error) {
	raw, ok := ad["@removed"]
	if !ok || raw == nil {
		return false, "", nil
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return false, "", fmt.Errorf(`"@removed" is %T, want an object`, raw)
	}
	reason, err = stringField(obj, "reason")
	if err != nil {
		return false, "", fmt.Errorf(`"@removed": %w`, err)
	}
	return true, reason, nil
}

// memberChanges reads "members@delta": [{"@odata.type": "#microsoft.graph.user", "id": …,
// "@removed": {…}?}, …]. Absent means no member changes on this page.
func memberChanges(ad map[string]any) ([]graphsync.MemberChange, error) {
	raw, ok := ad["members@delta"]
	if !ok || raw == nil {
		return nil, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, fmt.Errorf(`"members@delta" is %T, want an array`, raw)
	}
	out := make([]graphsync.MemberChange, 0, len(list))
	for i, e := range list {
		obj, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf(`"members@delta"[%d] is %T, want an object`, i, e)
		}
		id, err := stringField(obj, "id")
		if err == nil && id == "" {
			err = errors.New(`"id" is missing`)
		}
		if err != nil {
			return nil, fmt.Errorf(`"members@delta"[%d]: %w`, i, err)
		}
		typ, err := stringField(obj, "@odata.type")
		if err != nil {
			return nil, fmt.Errorf(`"members@delta"[%d]: %w`, i, err)
		}
		removed, _, err := removal(obj)
		if err != nil {
			return nil, fmt.Errorf(`"members@delta"[%d]: %w`, i, err)
		}
		out = append(out, graphsync.MemberChange{ID: id, Kind: kindOf(typ), Removed: removed})
	}
	return out, nil
}

// stringField returns obj[key] as a string; absent and null are "".
func stringField(obj map[string]any, key string) (string, error) {
	switch v := obj[key].(type) {
	case nil:
		return "", nil
	case *string:
		if v == nil {
			return "", nil
		}
		return *v, nil
	case string:
		return v, nil
	default:
		return "", fmt.Errorf("%q is %T, want a string", key, v)
	}
}

// kindOf turns "#microsoft.graph.user" into "user".
func kindOf(odataType string) string {
	t := strings.TrimPrefix(odataType, "#")
	return strings.TrimPrefix(t, "microsoft.graph.")
}
