package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/crowdgate/crowdgate/crowdimport"
	"github.com/crowdgate/crowdgate/internal/config"
)

// importBackup is `crowdgate import crowd-backup FILE`.
func (c *cli) importBackup(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("import crowd-backup"))
	dry := fs.Bool("dry-run", false, "report what would be created, updated and skipped, and change nothing")
	desKey := fs.String("des-key", "", "base64 `key` of Crowd's DES password encoder, to import DES-encrypted credentials")
	target := fs.String("target-directory", "", "import every directory into this one `directory` (created if missing)")
	others := fs.String("other-directories", "skip", "non-internal Crowd directories: `skip` or import as `internal`")
	skipApps := fs.String("skip-apps", "", "comma-separated application `names` not to import (default: Crowd's own)")
	batch := fs.Int("batch-size", 0, "objects per transaction (0: the importer's default)")
	cf, pos, err := c.parseConfig(fs, config.ScopeAll, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	opts := crowdimport.Options{DryRun: *dry, TargetDirectory: *target, OtherDirectories: *others, BatchSize: *batch, Actor: osUser(c.getenv)}
	if *desKey != "" {
		if opts.DESKey, err = crowdimport.ParseDESKey(*desKey); err != nil {
			return err
		}
	}
	if *skipApps != "" {
		opts.SkipApplications = strings.Split(*skipApps, ",")
	}
	ctx, st, log, err := c.openStore(ctx, cf, false)
	if err != nil {
		return err
	}
	defer st.Close()
	opts.Log = log
	return c.runImport(func(o crowdimport.Options) (*crowdimport.Report, error) {
		return crowdimport.BackupFile(ctx, pos[0], st, o)
	}, opts)
}

// importREST is `crowdgate import crowd-rest URL`.
func (c *cli) importREST(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("import crowd-rest"))
	app := fs.String("app", "", "`name` of a Crowd application allowed to read the directory (its password is read from standard input)")
	dry := fs.Bool("dry-run", false, "report what would be created, updated and skipped, and change nothing")
	target := fs.String("target-directory", "", "import into this internal `directory` (default: the internal directory)")
	page := fs.Int("page-size", 0, "users or groups per search request (0: the importer's default)")
	cf, pos, err := c.parseConfig(fs, config.ScopeAll, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	if *app == "" {
		return fmt.Errorf("--app is required: the name of a Crowd application that may read the directory")
	}
	pw, err := c.readPassword()
	if err != nil {
		return err
	}
	ctx, st, log, err := c.openStore(ctx, cf, false)
	if err != nil {
		return err
	}
	defer st.Close()
	opts := crowdimport.Options{DryRun: *dry, TargetDirectory: *target, PageSize: *page, Actor: osUser(c.getenv), Log: log}
	return c.runImport(func(o crowdimport.Options) (*crowdimport.Report, error) {
		return crowdimport.REST(ctx, nil, pos[0], *app, pw, st, o)
	}, opts)
}

// runImport shows a progress bar on a terminal and always prints the report.
func (c *cli) runImport(do func(crowdimport.Options) (*crowdimport.Report, error), opts crowdimport.Options) error {
	finish := func() {}
	if f, ok := c.stderr.(*os.File); ok && crowdimport.IsTerminal(f) {
		opts.Progress, finish = crowdimport.ProgressBar(f)
	}
	rep, err := do(opts)
	finish()
	if rep != nil {
		rep.WriteTo(c.stdout)
	}
	return err
}
