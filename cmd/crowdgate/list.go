package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/store"
)

func (c *cli) appList(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("app list"))
	ctx, st, _, err := c.parseAndOpen(ctx, fs, args, 0, 0)
	if err != nil {
		return helpOK(err)
	}
	defer st.Close()
	apps, err := st.Applications(ctx)
	if err != nil {
		return err
	}
	dirNames, err := directoryNames(ctx, st)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tACTIVE\tDIRECTORIES\tWHO MAY AUTHENTICATE\tOPERATIONS\tREMOTE ADDRESSES")
	for _, a := range apps {
		var ds []string
		who, ops := "everyone", "-"
		for i, m := range a.Mappings {
			ds = append(ds, dirNames[m.DirectoryID])
			if i == 0 {
				if !m.AllowAll {
					who = strings.Join(m.Groups, ",")
				}
				if len(m.Operations) == len(store.AllOperations) {
					ops = "all"
				} else if len(m.Operations) > 0 {
					ops = strings.Join(m.Operations, ",")
				}
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%t\t%s\t%s\t%s\t%s\n", a.Name, a.Kind, a.Active, orDash(strings.Join(ds, ",")), who, ops,
			orDash(strings.Join(a.RemoteAddresses, ",")))
	}
	return tw.Flush()
}

func directoryNames(ctx context.Context, st *store.Store) (map[int64]string, error) {
	ds, err := st.Directories(ctx)
	if err != nil {
		return nil, err
	}
	m := map[int64]string{}
	for _, d := range ds {
		m[d.ID] = d.Name
	}
	return m, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// listDirectories resolves the --directory filter of the list commands (default: all directories).
func listDirectories(ctx context.Context, st *store.Store, name string) ([]store.Directory, error) {
	if name == "" {
		return st.Directories(ctx)
	}
	d, err := st.DirectoryByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("directory %q does not exist", name)
	}
	return []store.Directory{d}, err
}

// directoryView is the view of one directory through a transient application that maps only it,
// so the listings use the same queries as the Crowd REST API. An inactive directory shows nothing.
func directoryView(ctx context.Context, st *store.Store, d store.Directory) (*store.View, error) {
	return st.View(ctx, store.Application{Name: "crowdgate-cli", Active: true,
		Mappings: []store.Mapping{{DirectoryID: d.ID, AllowAll: true}}})
}

func (c *cli) userList(ctx context.Context, args []string) error {
	return c.listByDirectory(ctx, args, "user list", "DIRECTORY\tNAME\tDISPLAY NAME\tEMAIL\tACTIVE",
		func(ctx context.Context, v *store.View, d store.Directory, w io.Writer) error {
			return v.SearchUsers(ctx, store.Restriction{}, store.All, func(u store.User) error {
				_, err := fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%t\n", d.Name, u.Name, orDash(u.DisplayName), orDash(u.Email), u.Active)
				return err
			})
		})
}

func (c *cli) groupList(ctx context.Context, args []string) error {
	return c.listByDirectory(ctx, args, "group list", "DIRECTORY\tNAME\tDESCRIPTION\tACTIVE",
		func(ctx context.Context, v *store.View, d store.Directory, w io.Writer) error {
			return v.SearchGroups(ctx, store.Restriction{}, store.All, func(g store.Group) error {
				_, err := fmt.Fprintf(w, "%s\t%s\t%s\t%t\n", d.Name, g.Name, orDash(g.Description), g.Active)
				return err
			})
		})
}

// listByDirectory runs a list command that walks directories (all, or the one --directory names):
// it prints the table's header, then the rows rows writes for each directory, through its view.
func (c *cli) listByDirectory(ctx context.Context, args []string, name, header string,
	rows func(ctx context.Context, v *store.View, d store.Directory, w io.Writer) error) error {
	fs := c.flagSet(lookup(name))
	dir := fs.String("directory", "", "list only this `directory` (default: all)")
	ctx, st, _, err := c.parseAndOpen(ctx, fs, args, 0, 0)
	if err != nil {
		return helpOK(err)
	}
	defer st.Close()
	ds, err := listDirectories(ctx, st, *dir)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, d := range ds {
		v, err := directoryView(ctx, st, d)
		if err != nil {
			return err
		}
		if err := rows(ctx, v, d, tw); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// reportSeats prints an application's seats as CSV, the same as the console's export. It reads the
// database, so sign-ins still held in a running server's memory (at most a minute) are not in it.
func (c *cli) reportSeats(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("report seats"))
	days := daysFlag(store.DefaultInactiveDays)
	fs.Var(&days, "inactive", "a seat is inactive without a sign-in for this long: `days`, as 90d or 90")
	only := fs.Bool("only-inactive", false, "print only the inactive seats")
	ctx, st, pos, err := c.parseAndOpen(ctx, fs, args, 1, 1)
	if err != nil {
		return helpOK(err)
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
