package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/store"
)

// The Entra ID commands: directory add entra, directory set, sync now, sync status, sync apply-held.
// They read the same settings as serve (the Graph endpoints and the secret key), and go through
// graphsync.Settings like the console, so the CLI accepts exactly what the console and the syncer do.

// secretFlags are the flags that supply a directory's secret values.
type secretFlags struct {
	secretStdin, certPwdStdin *bool
	certificate               *string
}

func addSecretFlags(fs *flag.FlagSet) secretFlags {
	return secretFlags{
		secretStdin:  fs.Bool("secret-stdin", false, "read the client secret from the first line of standard input"),
		certificate:  fs.String("certificate", "", "client certificate `file`: PEM (certificate and private key) or PFX; stored encrypted in the database"),
		certPwdStdin: fs.Bool("certificate-password-stdin", false, "read the certificate's password from the first line of standard input"),
	}
}

// read returns the secret values given, by settings key, and the credential they imply ("" if none).
func (f secretFlags) read(stdin io.Reader) (map[string]string, string, error) {
	if *f.secretStdin && *f.certPwdStdin {
		return nil, "", errors.New("--secret-stdin and --certificate-password-stdin both read standard input: give one")
	}
	if *f.secretStdin && *f.certificate != "" {
		return nil, "", errors.New("--secret-stdin and --certificate choose different credentials: give one")
	}
	out, kind := map[string]string{}, ""
	if *f.secretStdin || *f.certPwdStdin {
		line, err := bufio.NewReader(io.LimitReader(stdin, 64<<10)).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, "", fmt.Errorf("read standard input: %w", err)
		}
		v := strings.TrimRight(line, "\r\n")
		if v == "" {
			return nil, "", errors.New("standard input holds no value (one line expected)")
		}
		if *f.secretStdin {
			out[graphsync.KeyClientSecret], kind = v, graphsync.CredentialSecret
		} else {
			out[graphsync.KeyCertificatePassword] = v
		}
	}
	if *f.certificate != "" {
		b, err := os.ReadFile(*f.certificate)
		if err != nil {
			return nil, "", fmt.Errorf("--certificate: %w", err)
		}
		out[graphsync.KeyCertificate], kind = graphsync.CertificateText(b), graphsync.CredentialCertificate
	}
	return out, kind, nil
}

// saveSettings validates set, seals the given secrets into it and stores it as d's settings with an
// audit record naming the changed keys, in one transaction.
func saveSettings(ctx context.Context, st *store.Store, keys *secretKeys, d store.Directory, old, set graphsync.Settings, secrets map[string]string) error {
	for k, v := range secrets { // validated with the values present, sealed below
		*storedSecrets(&set)[k] = v
	}
	if err := set.Validate(); err != nil {
		return fmt.Errorf("directory %q: %w", d.Name, err)
	}
	return st.InTx(ctx, func(tx *store.Store) error {
		var err error
		if d.ID == 0 {
			if d, err = tx.CreateDirectory(ctx, d); err != nil {
				return err
			}
		}
		for k, v := range secrets { // sealing binds the value to the directory's id
			if *storedSecrets(&set)[k], err = keys.SealSecret(ctx, d.ID, k, v); err != nil {
				return fmt.Errorf("nothing was saved: the %s cannot be encrypted: %w", strings.ReplaceAll(k, "_", " "), err)
			}
		}
		if d.Config, err = set.Encode(); err != nil {
			return err
		}
		if _, err := tx.UpdateDirectory(ctx, d); err != nil {
			return err
		}
		return tx.Audit(ctx, "SUCCESS", "DIRECTORY_IDP_SETTINGS_CHANGED", "DIRECTORY", d.Name, map[string]any{"changed": old.Changed(set)})
	})
}

// openEntra opens the store with the serve settings (Graph endpoints, secret key).
func (c *cli) openEntra(ctx context.Context, cf *config.Flags) (context.Context, *store.Store, *secretKeys, *entra, error) {
	cfg, err := cf.Load(c.getenv)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	log := newLogger(cfg.Log, c.stderr)
	st, err := store.Open(ctx, cfg.Store, log)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	keys := newSecretKeys(cfg, log)
	ctx = store.WithActor(ctx, store.Actor{Kind: store.ActorCLI, Name: osUser(c.getenv)})
	e := newEntra(cfg.Graph, c.graphTokenClient, st, keys, log)
	e.sup.AdminGroup = cfg.AdminGroup
	return ctx, st, keys, e, nil
}

// entraDirectory finds the Entra ID directory named name.
func entraDirectory(ctx context.Context, st *store.Store, name string) (store.Directory, error) {
	d, err := st.DirectoryByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return d, fmt.Errorf("no directory %q", name)
	}
	if err == nil && d.Kind != store.DirectoryAzureAD {
		err = fmt.Errorf("directory %q is %s, not an Entra ID directory", name, d.Kind)
	}
	return d, err
}

func (c *cli) directoryAddEntra(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("directory add entra"))
	tenant := fs.String("tenant", "", "directory (tenant) `id` or domain")
	clientID := fs.String("client-id", "", "application (client) `id` of the app registration")
	managed := fs.Bool("managed-identity", false, "authenticate with the host's Azure managed identity (--client-id selects a user-assigned one)")
	workload := fs.Bool("workload-identity", false, "authenticate with Kubernetes workload identity federation")
	interval := fs.String("interval", "", "sync `interval`, 1m to 24h (default "+graphsync.DefaultInterval.String()+")")
	description := fs.String("description", "", "free text shown in listings")
	var groups listFlag
	fs.Var(&groups, "group", "group filter: replicate only this `group` (object id or name), its nested groups and members; repeatable")
	sf := addSecretFlags(fs)
	cf, pos, err := c.parseConfig(fs, config.ScopeServe, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	secrets, kind, err := sf.read(c.stdin)
	if err != nil {
		return err
	}
	switch {
	case *managed && *workload, (*managed || *workload) && kind != "":
		return errors.New("choose one credential: --secret-stdin, --certificate, --managed-identity or --workload-identity")
	case *managed:
		kind = graphsync.CredentialManagedIdentity
	case *workload:
		kind = graphsync.CredentialWorkloadIdentity
	}
	set := graphsync.Settings{TenantID: *tenant, ClientID: *clientID, Credential: kind, SyncInterval: *interval, Groups: groups}
	if err := set.Validate(); err != nil {
		return err
	}
	ctx, st, keys, _, err := c.openEntra(ctx, cf)
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.DirectoryByName(ctx, pos[0]); err == nil {
		return fmt.Errorf("directory %q already exists", pos[0])
	}
	d := store.Directory{Name: pos[0], Kind: store.DirectoryAzureAD, Description: *description, Active: true, NestedGroups: true}
	if err := saveSettings(ctx, st, keys, d, graphsync.Settings{}, set, secrets); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "created Entra ID directory %q", pos[0])
	if err := withSecrets(set, secrets).Ready(); err != nil {
		fmt.Fprintf(c.stderr, "; it is not synchronised until it is complete: %v", err)
	}
	fmt.Fprintln(c.stderr)
	return nil
}

// withSecrets is set with the secret values given (for Ready).
func withSecrets(set graphsync.Settings, secrets map[string]string) graphsync.Settings {
	for k, v := range secrets {
		*storedSecrets(&set)[k] = v
	}
	return set
}

func (c *cli) directorySet(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("directory set"))
	sf := addSecretFlags(fs)
	cf, pos, err := c.parseConfig(fs, config.ScopeServe, args, 1, 100)
	if err != nil {
		return helpOK(err)
	}
	secrets, kind, err := sf.read(c.stdin)
	if err != nil {
		return err
	}
	if len(pos) == 1 && len(secrets) == 0 {
		return fmt.Errorf("nothing to set: give key=value pairs (keys: %s) or a secret flag", strings.Join(graphsync.SettableKeys(), ", "))
	}
	ctx, st, keys, _, err := c.openEntra(ctx, cf)
	if err != nil {
		return err
	}
	defer st.Close()
	d, err := entraDirectory(ctx, st, pos[0])
	if err != nil {
		return err
	}
	old, err := graphsync.ParseSettings(d.Config)
	if err != nil {
		return fmt.Errorf("directory %q: %w", d.Name, err)
	}
	set := old
	if kind != "" {
		set.Credential = kind
	}
	for _, kv := range pos[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("%q is not key=value", kv)
		}
		if err := set.Set(k, v); err != nil {
			return err
		}
	}
	if err := saveSettings(ctx, st, keys, d, old, set, secrets); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "directory %q: changed %s\n", d.Name, strings.Join(old.Changed(withSecrets(set, secrets)), ", "))
	return nil
}

func (c *cli) syncNow(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("sync now"))
	full := fs.Bool("full", false, "a full round: re-read the whole tenant, not only the changes")
	return c.syncCommand(ctx, fs, args, func(ctx context.Context, sy *graphsync.Syncer, d store.Directory) (graphsync.Report, error) {
		rep, err := sy.SyncOnce(ctx, *full)
		if errors.Is(err, graphsync.ErrBusy) {
			return graphsync.Report{}, fmt.Errorf("directory %q is being synchronised by another run (a server instance): try again when it ends", d.Name)
		}
		return rep, err
	})
}

// syncCommand is what the sync commands that run a round share: fs's settings, one DIRECTORY
// argument, that directory's syncer built as the server would, run on it, and the run's report
// printed when a run was recorded.
func (c *cli) syncCommand(ctx context.Context, fs *flag.FlagSet, args []string, run func(context.Context, *graphsync.Syncer, store.Directory) (graphsync.Report, error)) error {
	cf, pos, err := c.parseConfig(fs, config.ScopeServe, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	ctx, st, _, e, err := c.openEntra(ctx, cf)
	if err != nil {
		return err
	}
	defer st.Close()
	sy, d, err := e.syncer(ctx, pos[0])
	if err != nil {
		return err
	}
	rep, err := run(ctx, sy, d)
	if rep.RunID != 0 {
		c.printReport(d.Name, rep)
	}
	return err
}

// syncer builds a syncer for the Entra ID directory named name, as the server would.
func (e *entra) syncer(ctx context.Context, name string) (*graphsync.Syncer, store.Directory, error) {
	d, err := entraDirectory(ctx, e.st, name)
	if err != nil {
		return nil, d, err
	}
	src, set, err := e.sup.Source(d)
	if err != nil {
		return nil, d, err
	}
	cfg := set.Config()
	cfg.AdminGroup = e.sup.AdminGroup
	sy, err := graphsync.New(cfg, src, e.st, d.ID, e.log)
	return sy, d, err
}

func (c *cli) printReport(dir string, r graphsync.Report) {
	n := r.Counts
	fmt.Fprintf(c.stdout, "%s: %s round (run %d) in %s: users +%d ~%d -%d, groups +%d ~%d -%d, memberships +%d -%d, %d problems\n",
		dir, strings.ToLower(r.Mode), r.RunID, r.Duration().Round(time.Millisecond), n.UsersAdded, n.UsersUpdated, n.UsersRemoved,
		n.GroupsAdded, n.GroupsUpdated, n.GroupsRemoved, n.MembershipsAdded, n.MembershipsRemoved, len(r.Problems))
	for _, p := range r.Problems {
		fmt.Fprintln(c.stdout, "  "+p)
	}
}

func (c *cli) syncStatus(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("sync status"))
	ctx, st, _, err := c.parseAndOpen(ctx, fs, args, 0, 0)
	if err != nil {
		return helpOK(err)
	}
	defer st.Close()
	ds, err := st.Directories(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DIRECTORY\tSTATE\tLAST RUN\tLAST SUCCESS\tLAST FULL\tPROBLEM")
	for _, d := range ds {
		if d.Kind != store.DirectoryAzureAD {
			continue
		}
		state, problem := "ok", ""
		set, err := graphsync.ParseSettings(d.Config)
		if err == nil {
			err = set.Validate()
		}
		if err == nil {
			err = set.Ready()
		}
		if err != nil {
			state, problem = "not synchronising", err.Error()
		}
		s, serr := st.SyncState(ctx, d.ID)
		if serr != nil && !errors.Is(serr, store.ErrNotFound) {
			return serr
		}
		runs, err := st.SyncRuns(ctx, d.ID, 1)
		if err != nil {
			return err
		}
		last := "-"
		if len(runs) > 0 {
			r := runs[0]
			last = fmt.Sprintf("%s %s %s", strings.ToLower(r.Mode), strings.ToLower(r.Status), r.StartedAt.UTC().Format(time.RFC3339))
			if state == "ok" && r.Status != store.SyncSucceeded && r.Status != store.SyncRunning {
				state, problem = "failing", firstLine(r.Errors)
			}
		}
		switch {
		case !d.Active:
			state = "inactive"
		case state == "ok" && s.LastSuccessAt == nil:
			state = "never synchronised"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, state, last, stamp(s.LastSuccessAt), stamp(s.LastFullAt), orDash(problem))
	}
	return tw.Flush()
}

func stamp(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func (c *cli) syncApplyHeld(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("sync apply-held"))
	return c.syncCommand(ctx, fs, args, func(ctx context.Context, sy *graphsync.Syncer, d store.Directory) (graphsync.Report, error) {
		rep, err := sy.ApplyHeld(ctx, 0, store.ActorFrom(ctx))
		if store.IsNotFound(err) {
			return rep, fmt.Errorf("directory %q has no run held by the mass-change guard: nothing to apply", d.Name)
		}
		return rep, err
	})
}
