package crowdapi

import (
	"context"
	"net/http"
	"slices"

	"github.com/crowdgate/crowdgate/store"
)

// Crowd keeps a few attributes on its users itself (lastAuthenticated, invalidPasswordAttempts,
// requiresPasswordChange, passwordLastChanged, lastActive). crowdgate serves them from its own
// records and never from attributes an application stored: a stored attribute by one of these
// names (from before, or from an import) is not shown, and applications may not set or delete
// them (docs/crowd-wire-fidelity.md, Crowd's own user attributes).

// userAttributes is what GET /user?expand=attributes and GET /user/attribute show: the stored
// attributes, and Crowd's own in place of any stored ones by the same names.
func (s *server) userAttributes(ctx context.Context, userID int64) (map[string][]string, error) {
	attrs, err := s.st.UserAttributes(ctx, userID)
	if err != nil {
		return nil, err
	}
	own, err := s.st.CrowdAttributes(ctx, userID)
	if err != nil {
		return nil, err
	}
	for name := range attrs {
		if store.IsCrowdAttribute(name) {
			delete(attrs, name)
		}
	}
	if attrs == nil {
		attrs = map[string][]string{}
	}
	for name, v := range own {
		attrs[name] = v
	}
	return attrs, nil
}

// refuseCrowdAttributes answers 400 when a request tries to set one of Crowd's own attributes.
func refuseCrowdAttributes(attrs map[string][]string) error {
	names := make([]string, 0, len(attrs))
	for name := range attrs {
		names = append(names, name)
	}
	slices.Sort(names) // the first offending name, the same every time
	for _, name := range names {
		if err := refuseCrowdAttribute(name); err != nil {
			return err
		}
	}
	return nil
}

func refuseCrowdAttribute(name string) error {
	if !store.IsCrowdAttribute(name) {
		return nil
	}
	return newError(http.StatusBadRequest, IllegalArgument,
		"Attribute <"+name+"> is maintained by the server and is read-only", nil)
}
