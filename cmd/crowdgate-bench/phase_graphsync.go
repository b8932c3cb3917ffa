package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/crowdgate/crowdgate/graphsync"
	"github.com/crowdgate/crowdgate/graphsync/fakegraph"
	"github.com/crowdgate/crowdgate/graphsync/msgraph"
	"github.com/crowdgate/crowdgate/store"
)

// p6Report is target P6: a full Graph sync of a tenant of the dataset's size, then a delta round
// of 100 changes, through the real SDK source against the fake Graph on loopback.
type p6Report struct {
	Users       int     `json:"users"`
	Groups      int     `json:"groups"`
	Memberships int     `json:"memberships"`
	FullS       float64 `json:"full_s"`
	FullPages   int     `json:"full_pages"`
	// FullPhasesS splits the full round by the syncer's phases (reading, apply users, apply
	// groups, apply memberships, ...), as its progress reported them.
	FullPhases  []syncPhase `json:"full_phases"`
	DeltaS      float64     `json:"delta_s"`
	DeltaPhases []syncPhase `json:"delta_phases"`
	DeltaWrites int         `json:"delta_changes_written"`
}

// syncPhase is how long a round spent in one phase of the syncer's progress.
type syncPhase struct {
	Name string  `json:"name"`
	S    float64 `json:"s"`
}

// graphSync measures P6 in a database of its own (the dataset's stays as the other steps left it).
// The fake Graph serves 999 objects a page, as crowdgate asks of the real one.
func (e *env) graphSync(ctx context.Context) error {
	dbURL, cleanup, err := e.freshDatabase(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	st, err := store.Open(ctx, store.Config{URL: dbURL}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer st.Close()
	dir, err := st.CreateDirectory(ctx, store.Directory{Name: "Entra ID", Kind: store.DirectoryAzureAD, Active: true, NestedGroups: true})
	if err != nil {
		return err
	}

	sp := e.spec
	fmt.Printf("P6: generating a tenant of %d users, %d groups, %d memberships\n", sp.Users, sp.Groups, sp.Memberships)
	tn := fakegraph.Generate(int64(sp.Seed), sp.Users, sp.Groups, sp.Memberships, 4)
	fake := fakegraph.New(tn, fakegraph.Options{PageSize: 999, MemberChunk: 999})
	defer fake.Close()
	src, err := msgraph.New(msgraph.Config{BaseURL: fake.BaseURL(), Credential: msgraph.StaticToken(fake.Token()), PageSize: 999},
		slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	syncer, err := graphsync.New(graphsync.Config{UnifiedGroups: true}, src, st, dir.ID, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	u, g, m := tn.Counts()
	r := &p6Report{Users: u, Groups: g, Memberships: m}

	full, phases, err := timedRound(ctx, syncer, true)
	if err != nil {
		return fmt.Errorf("full round: %w", err)
	}
	if full.Counts.UsersAdded != u || full.Counts.GroupsAdded != g || full.Counts.MembershipsAdded != m {
		return fmt.Errorf("full round wrote %d users, %d groups, %d memberships; the tenant has %d, %d, %d",
			full.Counts.UsersAdded, full.Counts.GroupsAdded, full.Counts.MembershipsAdded, u, g, m)
	}
	r.FullS, r.FullPages, r.FullPhases = full.Duration().Seconds(), full.Pages, phases

	if err := tn.ApplyHundredChanges(); err != nil {
		return err
	}
	delta, phases, err := timedRound(ctx, syncer, false)
	if err != nil {
		return fmt.Errorf("delta round: %w", err)
	}
	if delta.Mode != store.SyncModeDelta || len(delta.Problems) > 0 {
		return fmt.Errorf("delta round: mode %s, problems %v", delta.Mode, delta.Problems)
	}
	r.DeltaS, r.DeltaPhases, r.DeltaWrites = delta.Duration().Seconds(), phases, delta.Counts.Total()
	e.dr.P6 = r
	fmt.Printf("P6: full sync %.1f s (%d pages; %s), delta of 100 changes %.0f ms (%d written)\n",
		r.FullS, r.FullPages, phaseSplit(r.FullPhases), 1000*r.DeltaS, r.DeltaWrites)
	return nil
}

// timedRound runs one round and, by polling the syncer's progress, how long each phase took, in
// the order the phases came.
func timedRound(ctx context.Context, s *graphsync.Syncer, full bool) (graphsync.Report, []syncPhase, error) {
	var phases []syncPhase
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		since := time.Now()
		end := func(now time.Time) {
			if n := len(phases); n > 0 {
				phases[n-1].S += now.Sub(since).Seconds()
			}
			since = now
		}
		for {
			select {
			case <-done:
				end(time.Now())
				return
			case <-t.C:
				p := s.Progress()
				name := p.Phase
				if name == "" {
					name = "starting" // taking the directory's sync lock, reading its state
				}
				if !p.Running || len(phases) > 0 && phases[len(phases)-1].Name == name {
					continue
				}
				end(time.Now())
				phases = append(phases, syncPhase{Name: name})
			}
		}
	})
	rep, err := s.SyncOnce(ctx, full)
	close(done)
	wg.Wait()
	return rep, phases, err
}

// phaseSplit renders phase durations: "reading 12.3 s, apply users 4.5 s, ...".
func phaseSplit(p []syncPhase) string {
	out := ""
	for i, ph := range p {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%s %.1f s", ph.Name, ph.S)
	}
	return out
}

// freshDatabase makes an empty database of the run's dialect and a function that removes it.
func (e *env) freshDatabase(ctx context.Context) (string, func(), error) {
	if e.pg != nil {
		pg, err := newPGAdmin(ctx, e.o.pgURL)
		if err != nil {
			return "", nil, err
		}
		return pg.dbURL, func() {
			if err := pg.drop(context.Background()); err != nil {
				fmt.Println("P6: drop database:", err)
			}
		}, nil
	}
	path, cleanup, err := tempSQLite(e.o)
	return path, cleanup, err
}
