package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/store"
)

// reportSeats prints an application's seats as CSV, the same as the console's export. It reads the
// database, so sign-ins still held in a running server's memory (at most a minute) are not in it.
func (c *cli) reportSeats(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("report seats"))
	days := daysFlag(store.DefaultInactiveDays)
	fs.Var(&days, "inactive", "a seat is inactive without a sign-in for this long: `days`, as 90d or 90")
	only := fs.Bool("only-inactive", false, "print only the inactive seats")
	cf := config.AddFlags(fs, config.ScopeAll)
	pos, err := c.parse(fs, args, 1, 1)
	if err != nil {
		return helpOK(err)
	}
	ctx, st, _, err := c.openStore(ctx, cf, false)
	if err != nil {
		return err
	}
	defer st.Close()
	app, err := st.ApplicationByName(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("application %q: %w", pos[0], err)
	}
	rep, err := st.Seats(ctx, app, int(days))
	if err != nil {
		return err
	}
	return api.WriteSeatsCSV(c.stdout, rep, *only)
}

// daysFlag is a number of days, written "90d" or "90".
type daysFlag int

func (d *daysFlag) String() string { return strconv.Itoa(int(*d)) + "d" }

func (d *daysFlag) Set(v string) error {
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), "d"))
	if err != nil || n < 1 || n > 36500 {
		return fmt.Errorf("want a number of days from 1 to 36500, as 90d, not %q", v)
	}
	*d = daysFlag(n)
	return nil
}
