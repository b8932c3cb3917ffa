package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/crowdgate/crowdgate/bench/dataset"
	"github.com/crowdgate/crowdgate/store"
)

const restBase = "/crowd/rest/usermanagement/1"

// env is one dialect's run.
type env struct {
	o       options
	rep     *report
	dr      *dialectReport
	spec    dataset.Spec
	dbURL   string
	pg      *pgAdmin
	child   *child
	addr    string
	auth    string // Authorization header of the jira application
	tokens  []string
	ips     []string
	pkcs    []int // {PKCS5S2} users that have not logged in, in order
	nextPK  atomic.Int64
	smokePK int // the {PKCS5S2} user the smoke test signs in
	http    *http.Client
	profDir string
}

func runDialect(ctx context.Context, o options, rep *report, dr *dialectReport) (err error) {
	e := &env{o: o, rep: rep, dr: dr, spec: o.spec, http: &http.Client{Timeout: 5 * time.Minute,
		Transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}}}
	jira := dataset.Apps[0]
	e.auth = "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(jira.Name+":"+jira.Password))

	// Database.
	switch dr.Dialect {
	case "postgres":
		pg, err := newPGAdmin(ctx, o.pgURL)
		if err != nil {
			return err
		}
		e.pg, e.dbURL = pg, pg.dbURL
		defer func() {
			if o.keep {
				fmt.Println("kept PostgreSQL database", pg.dbName)
				pg.conn.Close(context.Background())
				return
			}
			if derr := pg.drop(context.Background()); derr != nil {
				err = fmt.Errorf("drop database %s: %w", pg.dbName, derr)
			}
		}()
	default:
		path, cleanup, err := tempSQLite(o)
		if err != nil {
			return err
		}
		defer cleanup()
		e.dbURL = path
		if o.keep {
			fmt.Println("SQLite database:", path)
		}
	}

	// Dataset.
	fmt.Printf("generating %s into %s\n", e.spec.Name(), dr.Dialect)
	st, err := store.Open(ctx, store.Config{URL: e.dbURL}, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	info, err := dataset.Generate(ctx, st, e.spec, func(s string) { fmt.Println(s) })
	st.Close()
	if err != nil {
		return err
	}
	dr.Generate = genReport{TotalS: info.Total.Seconds(), Rows: info.Rows, StepsS: map[string]float64{}}
	for k, v := range info.Took {
		dr.Generate.StepsS[k] = v.Seconds()
	}
	fmt.Printf("generated in %.1fs\n", info.Total.Seconds())
	if o.generateOnly {
		return nil
	}
	e.tokens = make([]string, e.spec.Sessions)
	e.ips = make([]string, e.spec.Sessions)
	for i := range e.tokens {
		e.tokens[i] = e.spec.Token(i)
		e.ips[i] = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	}
	e.pkcs = e.spec.PKCS5S2Users()
	if len(e.pkcs) < 2 {
		return fmt.Errorf("the dataset has %d {PKCS5S2} users; P3 needs more (raise -pkcs5s2-share)", len(e.pkcs))
	}
	e.smokePK = e.pkcs[len(e.pkcs)-1]
	e.pkcs = e.pkcs[:len(e.pkcs)-1]

	// Server (P7: readiness on an up-to-date schema).
	c, err := startChild(ctx, e.dbURL, o)
	if err != nil {
		return err
	}
	e.child, e.addr = c, c.ready.Addr
	defer func() {
		if serr := c.stop(); serr != nil && err == nil {
			err = fmt.Errorf("bench server exit: %w", serr)
		}
	}()
	dr.Ready = readyReport{OpenMS: c.ready.OpenMS, ReadyMS: c.ready.ReadyMS, SpawnToReadyMS: ms(c.spawnToReady)}
	fmt.Printf("server pid %d on %s: store opened in %.0f ms, ready %.0f ms after process start (%.0f ms from exec to /readyz 200)\n",
		c.pid(), c.ready.Addr, c.ready.OpenMS, c.ready.ReadyMS, ms(c.spawnToReady))
	if o.pprof {
		e.profDir = filepath.Join(rep.dir(o), "profiles-"+dr.Dialect)
		if err := os.MkdirAll(e.profDir, 0o755); err != nil {
			return err
		}
	}

	if err := e.smoke(ctx); err != nil {
		return fmt.Errorf("smoke test: %w", err)
	}
	if e.pg != nil {
		cp0 := e.pg.forcedCheckpoints(ctx)
		defer func() {
			// One of them is this run's own DROP DATABASE at the end, not counted here.
			if n := e.pg.forcedCheckpoints(context.WithoutCancel(ctx)) - cp0; n > 0 {
				dr.Notes = append(dr.Notes, fmt.Sprintf("PostgreSQL ran %d forced checkpoints during the measurements (other clients' CREATE/DROP DATABASE): "+
					"each stalls I/O for every database of the cluster, which shows as statements over 500 ms and as outliers in p99 and max", n))
			}
		}()
	}
	steps := []struct {
		key, name string
		fn        func(context.Context) error
	}{
		{"p1", "P1/P2 session validation", e.validationThroughput},
		{"sweep", "latency sweep", e.sweep},
		{"p3", "P3 password authentication", e.passwordThroughput},
		{"p4", "P4 membership document", e.membershipDocument},
		{"p5", "P5 Jira full sync", e.jiraFullSync},
		{"profiles", "profiles", e.profiles},
		{"explain", "EXPLAIN", e.explain},
		{"p6", "P6 Graph sync", e.graphSync},
		{"p8", "P8 soak", e.soakValidations},
	}
	for _, s := range steps {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if o.only != nil && !o.only[s.key] {
			continue
		}
		if err := s.fn(ctx); err != nil {
			rep.toolError("%s: %s: %v", dr.Dialect, s.name, err)
		}
	}
	e.targets()
	return nil
}
