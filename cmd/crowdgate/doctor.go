package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/pressly/goose/v3"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/internal/config"
	"github.com/crowdgate/crowdgate/internal/doctor"
	"github.com/crowdgate/crowdgate/migrations"
	"github.com/crowdgate/crowdgate/store"
)

// errDoctorFailed makes `crowdgate doctor` exit non-zero when a check failed, for pipelines.
var errDoctorFailed = fmt.Errorf("crowdgate doctor: at least one check FAILED")

// doctor checks the configuration the server would run with, end to end, and prints one line per
// check. It changes nothing: the database is opened without migrating.
func (c *cli) doctor(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("doctor"))
	cf, _, err := c.parseConfig(fs, config.ScopeServe, args, 0, 0) // the configuration the server would run with
	if err != nil {
		return helpOK(err)
	}
	cfg, err := cf.Load(c.getenv)
	if err != nil {
		return err
	}
	ctx, st, log, err := c.openStore(ctx, cf, true)
	if err != nil {
		return err
	}
	defer st.Close()
	secrets := newSecretKeys(cfg, log.With("surface", "secrets"))
	syncs := newEntra(cfg.Graph, c.graphTokenClient, st, secrets, log.With("surface", "graphsync"))
	results := doctor.Run(ctx, doctorConfig(cfg, st, syncs), st)
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Status, r.Check, r.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if doctor.Failed(results) {
		return errDoctorFailed
	}
	return nil
}

// doctorConfig is the doctor's view of a configuration, shared by the command and the console.
func doctorConfig(cfg config.Config, st *store.Store, syncs api.SyncController) doctor.Config {
	return doctor.Config{
		BaseURL: cfg.BaseURL, TLS: cfg.TLSCert != "", TrustedProxies: cfg.TrustedProxies,
		IdPMetadataURL: cfg.SAML.MetadataURL, IdPMetadataFile: cfg.SAML.MetadataFile,
		PendingMigrations: func(ctx context.Context) (int, error) {
			db, err := st.DB()
			if err != nil {
				return 0, err
			}
			p, err := migrations.Provider(db, st.Dialect(), nil)
			if err != nil {
				return 0, err
			}
			sts, err := p.Status(ctx)
			if err != nil {
				return 0, err
			}
			n := 0
			for _, s := range sts {
				if s.State == goose.StatePending {
					n++
				}
			}
			return n, nil
		},
		Entra: func(ctx context.Context, d store.Directory) error { return syncs.TestConnection(ctx, d.ID) },
	}
}
