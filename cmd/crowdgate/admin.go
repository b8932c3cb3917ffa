package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"slices"
	"strings"

	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/store"
)

// openStore loads the configuration of a command that works on the database and opens it, with
// the operating-system user as the audited actor of every change.
func (c *cli) openStore(ctx context.Context, cf *config.Flags, skipMigrations bool) (context.Context, *store.Store, *slog.Logger, error) {
	cfg, err := cf.Load(c.getenv)
	if err != nil {
		return nil, nil, nil, err
	}
	log := newLogger(cfg.Log, c.stderr)
	cfg.Store.SkipMigrations = skipMigrations
	st, err := store.Open(ctx, cfg.Store, log)
	if err != nil {
		return nil, nil, nil, err
	}
	return store.WithActor(ctx, store.Actor{Kind: store.ActorCLI, Name: osUser(c.getenv)}), st, log, nil
}

// osUser names the person running the command, for the audit log.
func osUser(getenv func(string) string) string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	if u := getenv("USER"); u != "" {
		return u
	}
	return fmt.Sprintf("uid %d", os.Getuid())
}

// readPassword reads one line from stdin for --password-stdin.
func (c *cli) readPassword() (string, error) {
	line, err := bufio.NewReader(io.LimitReader(c.stdin, store.MaxPasswordLen*4+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("--password-stdin: standard input holds no password (one line expected)")
	}
	return pw, nil
}

// newPassword reads a new account's password from standard input (--password-stdin) or generates
// one.
func (c *cli) newPassword(fromStdin bool) (string, error) {
	if fromStdin {
		return c.readPassword()
	}
	return randomPassword(), nil
}

// reportCreated prints msg, what a command created, on standard error, and the password of the new
// account on standard output, where a script can capture it alone, unless it came from standard
// input (the caller has it) or there is none. It is shown this once: only its hash is kept.
func (c *cli) reportCreated(msg, password string, fromStdin bool) {
	shown := password != "" && !fromStdin
	if shown {
		fmt.Fprintln(c.stdout, password)
	}
	fmt.Fprintln(c.stderr, msg)
	if shown {
		fmt.Fprintln(c.stderr, "Its password is printed above, once: crowdgate keeps only a hash of it.")
	}
}

// resolveDirectories resolves --directory names, in order (default: the internal directory, created
// if missing).
func resolveDirectories(ctx context.Context, st *store.Store, names []string) ([]store.Directory, error) {
	if len(names) == 0 {
		d, err := st.EnsureInternalDirectory(ctx)
		if err != nil {
			return nil, err
		}
		return []store.Directory{d}, nil
	}
	var out []store.Directory
	for _, n := range names {
		d, err := st.DirectoryByName(ctx, n)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("directory %q does not exist", n)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func (c *cli) appAdd(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("app add"))
	kind := fs.String("kind", "generic", "`kind` of application: jira, confluence or generic")
	description := fs.String("description", "", "free text shown in listings")
	var groups, dirs multiFlag
	var ops, addrs, urls listFlag
	fs.Var(&groups, "group", "only members (also nested) of this `group` may authenticate; repeat for several. Default: every user may")
	fs.Var(&dirs, "directory", "map this `directory` (by name; repeat, in lookup order). Default: the internal directory")
	fs.Var(&ops, "operations", "comma-separated directory `operations` the application may perform (default: none, read-only): "+strings.Join(store.AllOperations, ","))
	write := fs.Bool("write", false, "grant every directory operation (what a Read/Write Crowd directory in Jira or Confluence needs; see docs/crowd-permissions.md)")
	readOnly := fs.Bool("read-only", false, "grant no directory operations (the default): the application may only read and authenticate")
	fs.Var(&addrs, "remote-address", "allow calls only from this IP `address`, CIDR range or host name; repeatable. Default: any address")
	fs.Var(&urls, "url", "base `URL` of the application (e.g. https://jira.example.com), where sign-in may return to; repeatable")
	filter := fs.Bool("filter-by-access", false, "the application sees only the users allowed to authenticate to it")
	inactive := fs.Bool("inactive", false, "create the application disabled")
	pwStdin := fs.Bool("password-stdin", false, "read the application password from the first line of standard input instead of generating one")
	cf, pos, err := c.parseConfig(fs, config.ScopeAll, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	name := pos[0]

	var k string
	switch strings.ToLower(*kind) {
	case "jira":
		k = store.AppJira
	case "confluence":
		k = store.AppConfluence
	case "generic":
		k = store.AppGeneric
	default:
		return fmt.Errorf("--kind %q is not jira, confluence or generic", *kind)
	}
	// Read-only unless granted: a write permission lets the application create users and
	// memberships, so it is asked for explicitly (Crowd grants every operation by default).
	var operations []string
	switch {
	case *readOnly && (len(ops) > 0 || *write):
		return errors.New("--read-only excludes --operations and --write")
	case *write && len(ops) > 0:
		return errors.New("--write and --operations exclude each other")
	case *write:
		operations = slices.Clone(store.AllOperations)
	case len(ops) > 0:
		for _, op := range ops {
			op = strings.ToUpper(op)
			if !slices.Contains(store.AllOperations, op) {
				return fmt.Errorf("--operations: %q is not one of %s", op, strings.Join(store.AllOperations, ", "))
			}
			if !slices.Contains(operations, op) {
				operations = append(operations, op)
			}
		}
	}
	password, err := c.newPassword(*pwStdin)
	if err != nil {
		return err
	}

	ctx, st, _, err := c.openStore(ctx, cf, false)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.ApplicationByName(ctx, name); err == nil {
		return fmt.Errorf("application %q already exists", name)
	}
	ds, err := resolveDirectories(ctx, st, dirs)
	if err != nil {
		return err
	}
	var mappings []store.Mapping
	for _, d := range ds {
		mappings = append(mappings, store.Mapping{DirectoryID: d.ID, AllowAll: len(groups) == 0, Groups: groups, Operations: operations})
		for _, g := range groups {
			if _, err := st.GroupByName(ctx, d.ID, g); errors.Is(err, store.ErrNotFound) {
				fmt.Fprintf(c.stderr, "warning: group %q does not exist (yet) in directory %q\n", g, d.Name)
			}
		}
	}
	app, err := st.CreateApplication(ctx, store.NewApplication{
		Name: name, Description: *description, Kind: k, Password: password, Active: !*inactive,
		FilterByAccess: *filter, BaseURLs: urls, RemoteAddresses: addrs, Mappings: mappings,
	})
	if err != nil {
		return err
	}
	c.reportCreated(fmt.Sprintf("created application %q (%s): %s; %s", app.Name, app.Kind, describeAccess(app, ds), describeOps(operations)),
		password, *pwStdin)
	return nil
}

func describeAccess(app store.Application, ds []store.Directory) string {
	var names []string
	for _, d := range ds {
		names = append(names, fmt.Sprintf("%q", d.Name))
	}
	s := "directories " + strings.Join(names, ", ")
	if len(app.Mappings) > 0 && !app.Mappings[0].AllowAll {
		return s + "; members of " + strings.Join(app.Mappings[0].Groups, ", ") + " may authenticate"
	}
	return s + "; every user may authenticate"
}

func describeOps(ops []string) string {
	switch {
	case len(ops) == 0:
		return "read-only"
	case len(ops) == len(store.AllOperations):
		return "every directory operation permitted"
	}
	return "operations " + strings.Join(ops, ",")
}

func (c *cli) userAdd(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("user add"))
	email := fs.String("email", "", "e-mail `address`")
	first := fs.String("first", "", "first `name`")
	last := fs.String("last", "", "last `name`")
	display := fs.String("display", "", "display `name` (default: first and last name)")
	var groups multiFlag
	fs.Var(&groups, "group", "add the user to this `group`; repeatable. The group must exist unless --create-groups")
	createGroups := fs.Bool("create-groups", false, "create the --group groups that do not exist")
	inactive := fs.Bool("inactive", false, "create the account disabled")
	dir := fs.String("directory", "", "internal `directory` to add the user to (default: the first internal directory)")
	pwStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	noPassword := fs.Bool("no-password", false, "create the user without a password (it cannot sign in with one until it is set)")
	cf, pos, err := c.parseConfig(fs, config.ScopeAll, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	name := pos[0]
	if *pwStdin && *noPassword {
		return errors.New("--password-stdin and --no-password exclude each other")
	}
	password := ""
	if !*noPassword {
		if password, err = c.newPassword(*pwStdin); err != nil {
			return err
		}
	}

	ctx, st, _, err := c.openStore(ctx, cf, false)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := internalDirectory(ctx, st, *dir)
	if err != nil {
		return err
	}
	if _, err := st.UserByName(ctx, d.ID, name); err == nil {
		return fmt.Errorf("user %q already exists in directory %q", name, d.Name)
	}
	var missing []string
	for _, g := range groups {
		if _, err := st.GroupByName(ctx, d.ID, g); errors.Is(err, store.ErrNotFound) {
			missing = append(missing, g)
		} else if err != nil {
			return err
		}
	}
	if len(missing) > 0 && !*createGroups {
		return fmt.Errorf("group %q does not exist in directory %q (create it with \"crowdgate group add\", or pass --create-groups)", missing[0], d.Name)
	}
	var u store.User
	err = st.InTx(ctx, func(tx *store.Store) error {
		for _, g := range missing {
			if _, err := tx.CreateGroup(ctx, store.NewGroup{DirectoryID: d.ID, Name: g, Active: true}); err != nil {
				return err
			}
		}
		var err error
		u, err = tx.CreateUser(ctx, store.NewUser{DirectoryID: d.ID, Name: name, FirstName: *first, LastName: *last,
			DisplayName: *display, Email: *email, Active: !*inactive, Password: password})
		if err != nil {
			return err
		}
		for _, gn := range groups {
			g, err := tx.GroupByName(ctx, d.ID, gn)
			if err != nil {
				return err
			}
			if err := tx.AddUserToGroup(ctx, u.ID, g.ID); err != nil {
				return err
			}
		}
		// Straight into the admin group: the administrators' password policy applies.
		if admin, err := tx.IsAdministrator(ctx, u); err != nil || !admin || password == "" {
			return err
		}
		return store.CheckAdministratorPassword(u.Name, password)
	})
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("created user %q in directory %q", u.Name, d.Name)
	if len(groups) > 0 {
		msg += ", member of " + strings.Join(groups, ", ")
	}
	if !u.Active {
		msg += " (inactive)"
	}
	c.reportCreated(msg, password, *pwStdin)
	return nil
}

// internalDirectory resolves --directory for user and group commands: crowdgate writes only to
// its internal directories; Entra ID directories are replicas.
func internalDirectory(ctx context.Context, st *store.Store, name string) (store.Directory, error) {
	var names []string
	if name != "" {
		names = []string{name}
	}
	ds, err := resolveDirectories(ctx, st, names)
	if err != nil {
		return store.Directory{}, err
	}
	if ds[0].Kind != store.DirectoryInternal {
		return store.Directory{}, fmt.Errorf("directory %q is a %s replica, not an internal directory: change it at its source", ds[0].Name, ds[0].Kind)
	}
	return ds[0], nil
}

func (c *cli) groupAdd(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("group add"))
	description := fs.String("description", "", "free-text `description`")
	dir := fs.String("directory", "", "internal `directory` to add the group to (default: the first internal directory)")
	ctx, st, pos, err := c.parseAndOpen(ctx, fs, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	defer st.Close()
	d, err := internalDirectory(ctx, st, *dir)
	if err != nil {
		return err
	}
	if _, err := st.GroupByName(ctx, d.ID, pos[0]); err == nil {
		return fmt.Errorf("group %q already exists in directory %q", pos[0], d.Name)
	}
	g, err := st.CreateGroup(ctx, store.NewGroup{DirectoryID: d.ID, Name: pos[0], Description: *description, Active: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "created group %q in directory %q\n", g.Name, d.Name)
	return nil
}
