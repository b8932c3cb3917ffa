package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"text/tabwriter"

	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/migrations"
)

// migrate applies, rolls back or lists schema migrations. "serve" applies pending migrations by
// itself; this command is for operators who want to do it as a separate step, or to look.
func (c *cli) migrate(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("migrate"))
	cf := config.AddFlags(fs, config.ScopeAll)
	pos, err := c.parse(fs, args, 0, 1)
	if err != nil {
		return helpOK(err)
	}
	action := "up"
	if len(pos) == 1 {
		action = pos[0]
	}
	switch action {
	case "up", "down", "status":
	default:
		fmt.Fprintf(c.stderr, "crowdgate migrate: %q is not up, down or status\n", action)
		fs.Usage()
		return errUsage
	}
	ctx, st, log, err := c.openStore(ctx, cf, true)
	if err != nil {
		return err
	}
	defer st.Close()
	db, err := st.DB()
	if err != nil {
		return err
	}
	p, err := migrations.Provider(db, st.Dialect(), log)
	if err != nil {
		return err
	}
	switch action {
	case "up":
		res, err := p.Up(ctx)
		for _, r := range res {
			fmt.Fprintln(c.stdout, r)
		}
		if err != nil {
			return fmt.Errorf("migrate up: %w", err)
		}
		v, err := p.GetDBVersion(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "%s database is at version %d\n", st.Dialect(), v)
	case "down":
		r, err := p.Down(ctx)
		if r != nil {
			fmt.Fprintln(c.stdout, r)
		}
		if err != nil {
			return fmt.Errorf("migrate down: %w", err)
		}
	case "status":
		sts, err := p.Status(ctx)
		if err != nil {
			return fmt.Errorf("migrate status: %w", err)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tFILE")
		for _, s := range sts {
			at := "-"
			if !s.AppliedAt.IsZero() {
				at = s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s/%s\n", s.Source.Version, s.State, at, st.Dialect(), s.Source.Path)
		}
		return tw.Flush()
	}
	return nil
}

// Set at build time: go build -ldflags "-X main.version=1.2.3 -X main.commit=abc123".
var (
	version string
	commit  string
)

// buildVersion returns the version and commit: from the linker flags, else from the module and
// VCS information Go records in the binary.
func buildVersion() (ver, rev string) {
	ver, rev = version, commit
	if bi, ok := debug.ReadBuildInfo(); ok {
		if ver == "" && bi.Main.Version != "" {
			ver = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if rev != "" && modified && commit == "" {
			rev += "-dirty"
		}
	}
	if ver == "" {
		ver = "(devel)"
	}
	if rev == "" {
		rev = "unknown"
	}
	return ver, rev
}

func (c *cli) version(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("version"))
	if _, err := c.parse(fs, args, 0, 0); err != nil {
		return helpOK(err)
	}
	v, rev := buildVersion()
	fmt.Fprintf(c.stdout, "crowdgate %s\ncommit %s\n%s %s/%s\n", v, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
