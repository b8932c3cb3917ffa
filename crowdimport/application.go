package crowdimport

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/password"
)

// Applications are imported last, one transaction each: created with a generated password that is
// at once replaced by Crowd's own credential when crowdgate can verify it (so Jira and Confluence
// keep their application password), or else shown once in the report.

// appKind maps Crowd's application type to crowdgate's.
func appKind(typ string) string {
	switch typ {
	case "JIRA":
		return store.AppJira
	case "CONFLUENCE":
		return store.AppConfluence
	}
	return store.AppGeneric
}

// usableCredential reports whether Crowd's application credential can be kept as is.
func usableCredential(cred string) bool {
	f := password.Format(cred)
	return f != "" && f != password.FormatPlaintext
}

func (im *importer) application(ctx context.Context, a *appRec) error {
	if im.opts.skipsApplication(a.Name, a.Type) {
		im.rep.Applications.Skipped++
		reason := "Crowd's own application (not used by Jira or Confluence)"
		if !strings.EqualFold(a.Type, "CROWD") {
			reason = "listed in the applications to skip"
		}
		im.rep.skip("application", reason, a.Name)
		return nil
	}
	if a.Aliasing {
		im.rep.warn("application %q uses Crowd's user aliases; crowdgate has none: its users are known by their directory names", a.Name)
	}
	var addrs []string
	for _, ad := range a.Addresses {
		if err := store.ValidateAddress(ad); err != nil {
			im.rep.warn("application %q: remote address %q dropped: %v", a.Name, ad, err)
			continue
		}
		addrs = append(addrs, ad)
	}
	if len(addrs) == 0 && len(a.Addresses) > 0 {
		im.rep.warn("application %q: no usable remote address left; crowdgate then accepts it from any address, "+
			"so add its addresses in the console", a.Name)
	}
	addrs = setOf(addrs)
	mappings, pending := im.mappings(a)
	if len(mappings) == 0 && len(a.Mappings) > 0 && !pending {
		im.rep.warn("application %q: none of its directories was imported, so it sees no users", a.Name)
	}
	usable := usableCredential(a.Credential)
	if pending { // a dry run whose target directory is not there yet
		im.rep.Applications.Created++
		if !usable {
			im.rep.note("application %q would get a generated password", a.Name)
		}
		return nil
	}
	existing, err := im.st.ApplicationByName(ctx, a.Name)
	if store.IsNotFound(err) {
		im.rep.Applications.Created++
		if im.dry {
			if !usable {
				im.rep.note("application %q would get a generated password", a.Name)
			}
			return nil
		}
		pw := generatePassword()
		err := im.st.InTx(ctx, func(tx *store.Store) error {
			app, err := tx.CreateApplication(ctx, store.NewApplication{Name: a.Name, Description: a.Description, Kind: appKind(a.Type),
				Password: pw, Active: a.Active, LowerCaseOutput: a.LowerCase, RemoteAddresses: addrs, Mappings: mappings})
			if err != nil {
				return err
			}
			if usable {
				return tx.SetApplicationCredential(ctx, app.ID, a.Credential)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("crowdimport: create application %q (%s): %w", a.Name, a.Pos, err)
		}
		if usable {
			im.rep.note("application %q keeps the password it had in Crowd", a.Name)
		} else {
			im.rep.ApplicationPasswords = append(im.rep.ApplicationPasswords, ApplicationPassword{Application: a.Name, Password: pw})
			im.rep.warn("application %q: Crowd's credential cannot be carried over (%s); crowdgate generated a password (below)",
				a.Name, credentialShape(a.Credential))
		}
		im.opts.Log.Info("application created", "app", a.Name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("crowdimport: application %q: %w", a.Name, err)
	}
	var ch store.ApplicationChange
	changed := false
	if existing.Description != a.Description {
		ch.Description, changed = &a.Description, true
	}
	if k := appKind(a.Type); existing.Kind != k {
		ch.Kind, changed = &k, true
	}
	if existing.Active != a.Active {
		ch.Active, changed = &a.Active, true
	}
	if existing.LowerCaseOutput != a.LowerCase {
		ch.LowerCaseOutput, changed = &a.LowerCase, true
	}
	if !slices.Equal(setOf(existing.RemoteAddresses), addrs) {
		ch.RemoteAddresses, changed = &addrs, true
	}
	if !sameMappings(existing.Mappings, mappings) {
		ch.Mappings, changed = &mappings, true
	}
	if usable {
		same, err := im.st.ApplicationCredentialIs(ctx, existing.ID, a.Credential)
		if err != nil {
			return fmt.Errorf("crowdimport: application %q: %w", a.Name, err)
		}
		if !same {
			im.rep.note("application %q: its password was changed in crowdgate after an earlier import and is kept", a.Name)
		}
	}
	if !changed {
		im.rep.Applications.Unchanged++
		return nil
	}
	im.rep.Applications.Updated++
	if im.dry {
		return nil
	}
	err = im.st.InTx(ctx, func(tx *store.Store) error {
		_, err := tx.UpdateApplication(ctx, existing.ID, ch)
		return err
	})
	if err != nil {
		return fmt.Errorf("crowdimport: update application %q (%s): %w", a.Name, a.Pos, err)
	}
	return nil
}

// mappings translates an application's directory mappings to crowdgate's, merging mappings of
// Crowd directories imported into one crowdgate directory. pending is true in a dry run when a
// mapped directory does not exist yet.
func (im *importer) mappings(a *appRec) (out []store.Mapping, pending bool) {
	index := map[int64]int{}
	for _, m := range a.Mappings {
		d := im.p.dirs[m.Dir]
		if d == nil || d.skip != "" {
			name := fmt.Sprint(m.Dir)
			if d != nil {
				name = d.rec.Name
			}
			im.rep.note("application %q: its mapping to skipped directory %q is not imported", a.Name, name)
			continue
		}
		if d.target.dir.ID == 0 {
			pending = true
			continue
		}
		id := d.target.dir.ID
		i, ok := index[id]
		if !ok {
			i = len(out)
			index[id] = i
			out = append(out, store.Mapping{DirectoryID: id})
		}
		mp := &out[i]
		mp.AllowAll = mp.AllowAll || m.AllowAll
		for _, g := range m.Groups {
			mp.Groups = append(mp.Groups, store.Lower(g))
		}
		for _, op := range m.Operations {
			if slices.Contains(store.AllOperations, op) {
				mp.Operations = append(mp.Operations, op)
			}
		}
	}
	for i := range out {
		out[i].Groups = setOf(out[i].Groups)
		var ops []string
		for _, op := range store.AllOperations { // canonical order
			if slices.Contains(out[i].Operations, op) {
				ops = append(ops, op)
			}
		}
		out[i].Operations = ops
	}
	return out, pending
}

func sameMappings(a, b []store.Mapping) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].DirectoryID != b[i].DirectoryID || a[i].AllowAll != b[i].AllowAll ||
			!slices.Equal(setOf(a[i].Groups), setOf(b[i].Groups)) || !slices.Equal(setOf(a[i].Operations), setOf(b[i].Operations)) {
			return false
		}
	}
	return true
}

func credentialShape(cred string) string {
	if cred == "" {
		return "the backup holds none"
	}
	if password.Format(cred) == password.FormatPlaintext {
		return "it is stored in plain text"
	}
	return describeCredential(cred)
}

// generatePassword returns a random application password (26 base32 characters, 130 bits).
func generatePassword() string { return rand.Text() }
