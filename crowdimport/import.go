package crowdimport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/crowdgate/crowdgate/store"
)

// BackupFile imports the Crowd XML backup at path into st. See Backup.
func BackupFile(ctx context.Context, path string, st Store, opts Options) (*Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("crowdimport: %w", err)
	}
	defer f.Close()
	return importBackup(ctx, f, "Crowd backup "+filepath.Base(path), st, opts)
}

// Backup imports a Crowd XML backup (Administration → Backup) read from r into st: directories,
// users with their stored credentials and attributes, groups with attributes, memberships of users
// and nested groups, applications with their directory mappings, allowed groups and remote
// addresses. r is read several times: when it is an io.ReadSeeker (a file) it is rewound, otherwise
// it is first copied to a temporary file in opts.TempDir.
//
// The whole input is validated before anything is written; a *ValidationError (errors.Is
// ErrInvalidInput) lists what is wrong, naming elements and lines, and leaves st untouched. The
// report is returned with any error, as far as the import got (it is nil only when opts are invalid).
func Backup(ctx context.Context, r io.Reader, st Store, opts Options) (*Report, error) {
	return importBackup(ctx, r, "Crowd backup", st, opts)
}

func importBackup(ctx context.Context, r io.Reader, name string, st Store, opts Options) (*Report, error) {
	if err := opts.normalize(); err != nil {
		return nil, err
	}
	rs, ok := r.(io.ReadSeeker)
	if !ok {
		f, err := os.CreateTemp(opts.TempDir, "crowdgate-backup-*.xml")
		if err != nil {
			return nil, fmt.Errorf("crowdimport: spool the backup: %w", err)
		}
		defer os.Remove(f.Name())
		defer f.Close()
		if _, err := io.Copy(f, r); err != nil {
			return nil, fmt.Errorf("crowdimport: spool the backup: %w", err)
		}
		rs = f
	}
	size, err := rs.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("crowdimport: %w", err)
	}
	src := &backupSource{name: name, r: rs, size: size}
	rep, err := run(ctx, src, st, &opts)
	if err == nil && rep.Users.Created+rep.Users.Updated > 0 && !opts.DryRun {
		rep.note("users keep the password Crowd stored for them; crowdgate upgrades each to argon2id at the user's next sign-in")
	}
	return rep, err
}

// backupSource reads a backup from a seekable reader.
type backupSource struct {
	name string
	r    io.ReadSeeker
	size int64
}

func (b *backupSource) describe() string { return b.name }

func (b *backupSource) each(ctx context.Context, want kinds, fn func(record) error, progress func(done, total int64)) error {
	if _, err := b.r.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("crowdimport: rewind %s: %w", b.name, err)
	}
	return parseBackup(ctx, b.r, b.size, want, fn, progress)
}

// run validates src, then imports it, and writes the audit line of the run.
func run(ctx context.Context, src source, st Store, opts *Options) (*Report, error) {
	ctx = store.WithActor(ctx, store.Actor{Kind: store.ActorCLI, Name: opts.Actor})
	started := opts.Now()
	rep := newReport(src.describe(), opts.DryRun, started)
	finish := func(err error) (*Report, error) {
		rep.Duration = opts.Now().Sub(started)
		if opts.DryRun || errors.Is(err, ErrInvalidInput) || errors.Is(err, context.Canceled) && rep.Changes() == 0 {
			return rep, err
		}
		outcome, details := "SUCCESS", auditDetails(rep)
		if err != nil {
			outcome = "FAILURE"
			details["error"] = err.Error()
		}
		// The run's own line: who imported what, with the counts; the store wrote one line per object.
		if aerr := st.Audit(context.WithoutCancel(ctx), outcome, "CROWD_IMPORT", "IMPORT", src.describe(), details); aerr != nil && err == nil {
			err = fmt.Errorf("crowdimport: %w", aerr)
		}
		return rep, err
	}
	opts.Log.Info("validating", "source", src.describe())
	p, err := validate(ctx, src, st, opts, rep)
	if err != nil {
		return finish(err)
	}
	for _, section := range slices.Sorted(maps.Keys(p.ignored)) {
		n := p.ignored[section]
		rep.note("%d %s of section <%s> not imported (%s)", n, plural("entry", n), section, ignoredWhy(section))
	}
	opts.Log.Info("importing", "source", src.describe(), "objects", p.total(), "dry_run", opts.DryRun)
	if err := runImport(ctx, src, st, p, opts, rep); err != nil {
		if !opts.DryRun {
			err = fmt.Errorf("%w (batches written before the failure stay; the import can be run again: it skips what is there)", err)
		}
		return finish(err)
	}
	opts.Log.Info("import finished", "source", src.describe(), "changes", rep.Changes())
	return finish(nil)
}

func ignoredWhy(section string) string {
	switch section {
	case "tokens":
		return "SSO sessions: users sign in again"
	case "aliases":
		return "crowdgate has no user aliases"
	case "properties", "options":
		return "Crowd's own settings"
	case "webhooks":
		return "webhooks are registered again by their clients"
	}
	return "not used by crowdgate"
}

func auditDetails(rep *Report) map[string]any {
	return map[string]any{
		"directories": rep.Directories, "users": rep.Users, "groups": rep.Groups,
		"user_memberships": rep.UserMemberships, "group_memberships": rep.GroupMemberships,
		"applications": rep.Applications, "passwords": rep.Passwords,
	}
}
