package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/store"
)

// errUsage reports a command line that could not be parsed; the problem and the usage have already
// been printed.
var errUsage = errors.New("usage")

// exitCode maps run's error to the process exit status: 2 for usage errors, 1 for the rest.
func exitCode(err error) int {
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// cli is one invocation's environment.
type cli struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	// listening, when set, is called once the server's listeners are bound, with their addresses
	// (tests listen on port 0 and learn the port here).
	listening func(listeners)
	// graphTokenClient, when set, carries Entra ID token requests (tests: it trusts a fake token
	// service's certificate).
	graphTokenClient *http.Client
}

// command is one entry of crowdgate's command table.
type command struct {
	name    string // as typed: "serve", "app add"
	args    string // positional arguments, for the usage line
	summary string
	run     func(c *cli, ctx context.Context, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "", "run the server (the default command)", (*cli).serve},
		{"migrate", "[up|down|status]", "apply (up, the default), roll back one (down) or list (status) schema migrations", (*cli).migrate},
		{"backup", "FILE", "write a consistent copy of the SQLite database to FILE while the server runs (PostgreSQL: use pg_dump)", (*cli).backup},
		{"doctor", "", "check the setup end to end (database, URLs, cookie domain, applications, identity provider, Entra ID credentials); exits 1 on a FAIL", (*cli).doctor},
		{"healthcheck", "[URL]", "exit 0 when the server's /readyz answers 200 (for container health checks)", (*cli).healthcheck},
		{"version", "", "print the version and exit", (*cli).version},
		{"app add", "NAME", "add an application (a Crowd REST client such as Jira), read-only unless --write or --operations, and print its password once", (*cli).appAdd},
		{"app list", "", "list applications", (*cli).appList},
		{"user add", "NAME", "add a user to an internal directory and print its generated password once (unless --password-stdin or --no-password)", (*cli).userAdd},
		{"user list", "", "list users", (*cli).userList},
		{"group add", "NAME", "add a group to an internal directory", (*cli).groupAdd},
		{"group list", "", "list groups", (*cli).groupList},
		{"import crowd-backup", "FILE", "import an Atlassian Crowd XML backup: directories, users with their password hashes, groups, memberships, applications", (*cli).importBackup},
		{"import crowd-rest", "URL", "import users, groups and memberships from a live Crowd over its REST API (application password on standard input)", (*cli).importREST},
		{"report seats", "APP", "print an application's seats as CSV: each licensed user, the group the seat is held through, the last sign-in and whether it is inactive (--inactive 90d)", (*cli).reportSeats},
		{"directory add entra", "NAME", "add a Microsoft Entra ID directory (--tenant, --client-id, and --secret-stdin, --certificate FILE, --managed-identity or --workload-identity)", (*cli).directoryAddEntra},
		{"directory set", "NAME KEY=VALUE...", "change an Entra ID directory's settings (and secrets with --secret-stdin or --certificate FILE); see docs/entra.md", (*cli).directorySet},
		{"sync now", "DIRECTORY", "synchronise an Entra ID directory now, in this process, and print the run's report (--full: a full round)", (*cli).syncNow},
		{"sync status", "", "show each Entra ID directory's synchronisation: state, last run, last success, what is wrong", (*cli).syncStatus},
		{"sync apply-held", "DIRECTORY", "apply the run the mass-change guard held for the directory", (*cli).syncApplyHeld},
	}
}

func (c *cli) run(ctx context.Context, args []string) error {
	if len(args) > 0 && (args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		c.usage(c.stdout)
		return nil
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return c.serve(ctx, args)
	}
	for _, cmd := range commands() {
		words := strings.Fields(cmd.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == cmd.name {
			return cmd.run(c, ctx, args[len(words):])
		}
	}
	var subs []string
	for _, cmd := range commands() {
		if strings.HasPrefix(cmd.name, args[0]+" ") {
			subs = append(subs, strings.TrimSpace(cmd.name+" "+cmd.args))
		}
	}
	if len(subs) > 0 {
		fmt.Fprintf(c.stderr, "crowdgate: %q needs one of:\n  crowdgate %s\n", args[0], strings.Join(subs, "\n  crowdgate "))
		return errUsage
	}
	fmt.Fprintf(c.stderr, "crowdgate: unknown command %q\n\n", args[0])
	c.usage(c.stderr)
	return errUsage
}

func (c *cli) usage(w io.Writer) {
	fmt.Fprintln(w, "crowdgate serves the Atlassian Crowd REST API to Jira and Confluence.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "usage: crowdgate [command] [flags] [arguments]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  %-26s %s\n", strings.TrimSpace(cmd.name+" "+cmd.args), cmd.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run \"crowdgate COMMAND -h\" for a command's flags. Every setting is also read from a")
	fmt.Fprintln(w, "CROWDGATE_* environment variable; a flag wins over its variable.")
}

// flagSet returns a flag set for cmd that prints errors and usage on stderr.
func (c *cli) flagSet(cmd command) *flag.FlagSet {
	fs := flag.NewFlagSet("crowdgate "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "usage: crowdgate %s [flags]\n\n%s\n", strings.TrimSpace(cmd.name+" "+cmd.args), cmd.summary)
		// The command's own flags first, then the settings it reads, which are documented together.
		own := flag.NewFlagSet("", flag.ContinueOnError)
		conf := flag.NewFlagSet("", flag.ContinueOnError)
		isSetting := map[string]bool{}
		for _, s := range config.Settings() {
			isSetting[s.Flag] = true
		}
		fs.VisitAll(func(f *flag.Flag) {
			if isSetting[f.Name] {
				conf.Var(f.Value, f.Name, f.Usage)
			} else {
				own.Var(f.Value, f.Name, f.Usage)
			}
		})
		for _, part := range []struct {
			title string
			fs    *flag.FlagSet
		}{{"flags", own}, {"settings (flag or CROWDGATE_* environment variable; the flag wins)", conf}} {
			n := 0
			part.fs.VisitAll(func(*flag.Flag) { n++ })
			if n > 0 {
				fmt.Fprintf(w, "\n%s:\n", part.title)
				part.fs.SetOutput(w)
				part.fs.PrintDefaults()
			}
		}
	}
	return fs
}

// lookup returns the command named name.
func lookup(name string) command {
	for _, cmd := range commands() {
		if cmd.name == name {
			return cmd
		}
	}
	panic("crowdgate: no command " + name)
}

// parse parses args with flags and positional arguments in any order ("app add jira --kind jira"),
// and checks the number of positional arguments is between minArgs and maxArgs.
func (c *cli) parse(fs *flag.FlagSet, args []string, minArgs, maxArgs int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, errHelp
			}
			return nil, errUsage
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	if len(pos) < minArgs || len(pos) > maxArgs {
		switch {
		case len(pos) < minArgs:
			fmt.Fprintf(fs.Output(), "%s: missing argument\n", fs.Name())
		default:
			fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), pos[maxArgs])
		}
		fs.Usage()
		return nil, errUsage
	}
	return pos, nil
}

// errHelp reports that -h was given; the command prints its usage and succeeds.
var errHelp = errors.New("help requested")

// helpOK turns errHelp into success.
func helpOK(err error) error {
	if errors.Is(err, errHelp) {
		return nil
	}
	return err
}

// parseConfig adds the configuration flags of scope to fs and parses args (minArgs to maxArgs
// positional ones): the start of every command that reads the configuration.
func (c *cli) parseConfig(fs *flag.FlagSet, scope config.Scope, args []string, minArgs, maxArgs int) (*config.Flags, []string, error) {
	cf := config.AddFlags(fs, scope)
	pos, err := c.parse(fs, args, minArgs, maxArgs)
	return cf, pos, err
}

// parseAndOpen is the preamble of a command that only reads its arguments and then works on the
// database: it adds the configuration flags, parses args (minArgs to maxArgs positional ones) and
// opens the store. The caller closes the store; on --help the error is errHelp (see helpOK).
func (c *cli) parseAndOpen(ctx context.Context, fs *flag.FlagSet, args []string, minArgs, maxArgs int) (context.Context, *store.Store, []string, error) {
	cf, pos, err := c.parseConfig(fs, config.ScopeAll, args, minArgs, maxArgs)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, st, _, err := c.openStore(ctx, cf, false)
	if err != nil {
		return nil, nil, nil, err
	}
	return ctx, st, pos, nil
}

// multiFlag collects a repeatable flag: --group a --group b.
type multiFlag []string

func (m *multiFlag) String() string { return strings.Join(*m, ", ") }
func (m *multiFlag) Set(v string) error {
	*m = append(*m, v)
	return nil
}

// listFlag collects a repeatable flag that also takes comma-separated lists: --url a,b --url c.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, e := range strings.Split(v, ",") {
		if e = strings.TrimSpace(e); e != "" {
			*l = append(*l, e)
		}
	}
	return nil
}
