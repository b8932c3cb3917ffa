package crowdimport_test

import (
	"context"
	"fmt"
	"os"

	"github.com/crowdgate/crowdgate/crowdimport"
	"github.com/crowdgate/crowdgate/store"
)

// Example is what `crowdgate import crowd-backup [--dry-run] FILE` does: a progress bar on a
// terminal, the summary on standard output, the error (naming the line at fault) on failure.
func Example() {
	ctx := store.WithActor(context.Background(), store.Actor{Kind: store.ActorCLI, Name: "admin@host"})
	st, err := store.Open(ctx, store.Config{URL: "data/crowdgate.db"}, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer st.Close()
	opts := crowdimport.Options{Actor: "admin@host", DryRun: false}
	if key := os.Getenv("CROWD_DES_KEY"); key != "" {
		if opts.DESKey, err = crowdimport.ParseDESKey(key); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return
		}
	}
	finish := func() {}
	if crowdimport.IsTerminal(os.Stderr) {
		opts.Progress, finish = crowdimport.ProgressBar(os.Stderr)
	}
	rep, err := crowdimport.BackupFile(ctx, "atlassian-crowd-backup.xml", st, opts)
	finish()
	if rep != nil {
		rep.WriteTo(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
}
