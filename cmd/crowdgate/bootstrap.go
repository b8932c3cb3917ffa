package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/crowdgate/crowdgate/store"
)

// The first administrator, created on an empty database.
const (
	adminUser  = "admin"
	adminGroup = "crowdgate-admins"
)

// bootstrap creates the internal directory and the first administrator when the database has no
// users and no applications. The password is password, or a random one printed once on out. There
// is never a default password.
func bootstrap(ctx context.Context, st *store.Store, password, adminGroupName string, log *slog.Logger, out io.Writer) error {
	empty, err := isEmpty(ctx, st)
	if err != nil {
		return err
	}
	if !empty {
		if password != "" {
			log.Info("CROWDGATE_ADMIN_PASSWORD is ignored: the database already has users or applications")
		}
		// A database from before administrator bindings: bind its admin group by id, once.
		bound, err := st.EnsureAdminBinding(store.WithActor(ctx, store.Actor{Kind: store.ActorSystem, Name: "bootstrap"}), adminGroupName)
		if bound {
			log.Warn("bound the internal directory's administrator group by id: from now on only its members and the groups in CROWDGATE_ADMIN_ENTRA_GROUPS administer crowdgate", "group", adminGroupName)
		}
		return err
	}
	if adminGroupName == "" {
		adminGroupName = adminGroup
	}
	generated := password == ""
	if generated {
		password = randomPassword()
	}
	ctx = store.WithActor(ctx, store.Actor{Kind: store.ActorSystem, Name: "bootstrap"})
	err = st.InTx(ctx, func(tx *store.Store) error {
		dir, err := tx.EnsureInternalDirectory(ctx)
		if err != nil {
			return err
		}
		g, err := tx.GroupByName(ctx, dir.ID, adminGroupName) // made earlier with "crowdgate group add"?
		if errors.Is(err, store.ErrNotFound) {
			g, err = tx.CreateGroup(ctx, store.NewGroup{DirectoryID: dir.ID, Name: adminGroupName, Active: true,
				Description: "crowdgate administrators"})
		}
		if err != nil {
			return err
		}
		u, err := tx.CreateUser(ctx, store.NewUser{DirectoryID: dir.ID, Name: adminUser, Active: true,
			DisplayName: "crowdgate administrator", Password: password})
		if err != nil {
			return err
		}
		if err := tx.AddUserToGroup(ctx, u.ID, g.ID); err != nil {
			return err
		}
		return tx.BindAdminGroup(ctx, g.ID)
	})
	if errors.Is(err, store.ErrExists) {
		// Another instance, started at the same moment on the same database, got there first.
		log.Info("the first administrator was created by another instance")
		return nil
	}
	if err != nil {
		return fmt.Errorf("create the first administrator: %w", err)
	}
	if !generated {
		log.Info("created the first administrator with the password from CROWDGATE_ADMIN_PASSWORD", "user", adminUser, "group", adminGroupName)
		return nil
	}
	log.Warn("created the first administrator; its generated password is printed once on standard output", "user", adminUser, "group", adminGroupName)
	fmt.Fprintf(out, "\n"+
		"  ┌─ crowdgate: first administrator created ────────────────────────\n"+
		"  │ user:     %s (group %s)\n"+
		"  │ password: %s\n"+
		"  │ This password is shown only this once. Store it now.\n"+
		"  └──────────────────────────────────────────────────────────────────\n\n",
		adminUser, adminGroupName, password)
	return nil
}

// isEmpty reports whether the database has neither applications nor users.
func isEmpty(ctx context.Context, st *store.Store) (bool, error) {
	apps, err := st.Applications(ctx)
	if err != nil {
		return false, err
	}
	if len(apps) > 0 {
		return false, nil
	}
	dirs, err := st.Directories(ctx)
	if err != nil {
		return false, err
	}
	for _, d := range dirs {
		n, err := st.UserCount(ctx, d.ID)
		if err != nil {
			return false, err
		}
		if n > 0 {
			return false, nil
		}
	}
	return true, nil
}

// randomPassword returns 144 random bits as 24 URL-safe characters.
func randomPassword() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
