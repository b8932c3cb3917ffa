package main

import (
	"context"

	"github.com/crowdgate/crowdgate/store"
)

// administratorRule is who administers crowdgate, for the store's password policy: the console's
// rule, a (nested) member of the admin group.
func administratorRule(adminGroup string) func(ctx context.Context, st *store.Store, u store.User) (bool, error) {
	return func(ctx context.Context, st *store.Store, u store.User) (bool, error) {
		return st.UserInGroup(ctx, u, adminGroup)
	}
}
