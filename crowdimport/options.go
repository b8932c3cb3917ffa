package crowdimport

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/store"
)

// What to do with a Crowd directory that is not INTERNAL (LDAP connectors, delegating LDAP, Azure
// AD, a remote Crowd).
const (
	// OtherDirectoriesSkip leaves them out, with their users, groups and memberships, and says why in
	// the report. The default: their users live in LDAP or Entra ID, and Entra users reach crowdgate
	// through graphsync.
	OtherDirectoriesSkip = "skip"
	// OtherDirectoriesInternal imports the users and groups Crowd cached for them into INTERNAL
	// directories of the same name, without passwords (Crowd holds none for them).
	OtherDirectoriesInternal = "internal"
)

// DefaultSkippedApplications are Crowd's own applications, which have no meaning to crowdgate.
var DefaultSkippedApplications = []string{"crowd", "crowd-openid-server", "google-apps", "demo"}

// DefaultBatchSize is how many objects one transaction writes.
const DefaultBatchSize = 500

// Options tune an import. The zero value imports everything it can, for real.
type Options struct {
	// DryRun reports what would be created, updated and skipped, and writes nothing (not even the
	// audit line).
	DryRun bool
	// DESKey is the key of Crowd's old "des" password encoder (8 bytes, the raw key, not its
	// base64 form). With it DES-encrypted credentials are decrypted and re-hashed with argon2id;
	// without it those users are imported without a password and listed in the report.
	DESKey []byte
	// TargetDirectory, when set, is the crowdgate directory (INTERNAL, created if missing) every
	// imported Crowd directory is merged into. Empty: a backup creates one crowdgate directory per
	// Crowd directory, under the same name; a REST import uses the first INTERNAL directory
	// (creating "Internal" if there is none).
	TargetDirectory string
	// OtherDirectories is OtherDirectoriesSkip (default, "") or OtherDirectoriesInternal.
	OtherDirectories string
	// SkipApplications names the Crowd applications not to import (case-insensitive); nil means
	// DefaultSkippedApplications. Applications of Crowd's own type CROWD are always skipped.
	SkipApplications []string
	// BatchSize is how many objects one transaction writes; 0 means DefaultBatchSize.
	BatchSize int
	// PageSize is the max-results of each REST page; 0 means 1000.
	PageSize int
	// Actor names who runs the import in the audit log (actor kind CLI); empty means "crowdgate import".
	Actor string
	// Progress, when set, is called as the import advances (at most once per batch and at each phase
	// change). ProgressBar renders it on a terminal.
	Progress func(Progress)
	// Log receives the import's log lines; nil discards them.
	Log *slog.Logger
	// Now is the clock for durations and progress; nil means time.Now.
	Now func() time.Time
	// TempDir is where a REST import spools what it fetched; empty means os.TempDir().
	TempDir string
}

func (o *Options) normalize() error {
	switch o.OtherDirectories {
	case "":
		o.OtherDirectories = OtherDirectoriesSkip
	case OtherDirectoriesSkip, OtherDirectoriesInternal:
	default:
		return fmt.Errorf("crowdimport: other directories %q: want %q or %q", o.OtherDirectories, OtherDirectoriesSkip, OtherDirectoriesInternal)
	}
	if len(o.DESKey) != 0 && len(o.DESKey) != 8 {
		return fmt.Errorf("crowdimport: the DES key has %d bytes, want 8 (decode its base64 form first)", len(o.DESKey))
	}
	if o.SkipApplications == nil {
		o.SkipApplications = DefaultSkippedApplications
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.PageSize <= 0 {
		o.PageSize = 1000
	}
	if o.Actor == "" {
		o.Actor = "crowdgate import"
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TargetDirectory != "" {
		if err := store.ValidateName("directory", o.TargetDirectory); err != nil {
			return fmt.Errorf("crowdimport: target directory: %w", err)
		}
	}
	return nil
}

func (o *Options) skipsApplication(name, typ string) bool {
	if strings.EqualFold(typ, "CROWD") {
		return true
	}
	for _, s := range o.SkipApplications {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

// Progress is how far an import has come.
type Progress struct {
	Phase   string        // "validating", "importing"
	Done    int64         // units done in this phase
	Total   int64         // units in this phase; 0 when unknown
	Unit    string        // "bytes" or "objects"
	Elapsed time.Duration // since the phase began
}

// Store is the part of the directory the importers use; *store.Store implements it. Writes go
// through the *store.Store that InTx hands its callback, one transaction per batch.
type Store interface {
	reader
	InTx(ctx context.Context, fn func(tx *store.Store) error) error
	Audit(ctx context.Context, outcome, action, objectKind, object string, details any) error
}

// reader is what the importer reads: everything a dry run needs.
type reader interface {
	DirectoryByName(ctx context.Context, name string) (store.Directory, error)
	Directories(ctx context.Context) ([]store.Directory, error)
	UserByName(ctx context.Context, directoryID int64, name string) (store.User, error)
	UserByExternalID(ctx context.Context, directoryID int64, externalID string) (store.User, error)
	UserAttributes(ctx context.Context, userID int64) (map[string][]string, error)
	HasCredential(ctx context.Context, userID int64) (bool, error)
	GroupByName(ctx context.Context, directoryID int64, name string) (store.Group, error)
	GroupAttributes(ctx context.Context, groupID int64) (map[string][]string, error)
	UserMembershipExists(ctx context.Context, userID, groupID int64) (bool, error)
	GroupMembershipExists(ctx context.Context, childID, parentID int64) (bool, error)
	ApplicationByName(ctx context.Context, name string) (store.Application, error)
	ApplicationCredentialIs(ctx context.Context, id int64, cred string) (bool, error)
}

// writer is what the importer writes, always inside InTx.
type writer interface {
	CreateDirectory(ctx context.Context, d store.Directory) (store.Directory, error)
	CreateUser(ctx context.Context, nu store.NewUser) (store.User, error)
	UpdateUser(ctx context.Context, id int64, ch store.UserChange) (store.User, error)
	RenameUser(ctx context.Context, id int64, newName string) (store.User, error)
	StoreUserAttributes(ctx context.Context, userID int64, attrs map[string][]string) error
	SetCredential(ctx context.Context, userID int64, cred string) error
	CreateGroup(ctx context.Context, ng store.NewGroup) (store.Group, error)
	UpdateGroup(ctx context.Context, id int64, ch store.GroupChange) (store.Group, error)
	StoreGroupAttributes(ctx context.Context, groupID int64, attrs map[string][]string) error
	AddUserToGroup(ctx context.Context, userID, groupID int64) error
	AddGroupToGroup(ctx context.Context, childID, parentID int64) error
	CreateApplication(ctx context.Context, na store.NewApplication) (store.Application, error)
	UpdateApplication(ctx context.Context, id int64, ch store.ApplicationChange) (store.Application, error)
	SetApplicationCredential(ctx context.Context, id int64, cred string) error
}

// ops is a store the import steps run against: a transaction for real, readOnly for a dry run.
type ops interface {
	reader
	writer
}

var _ ops = (*store.Store)(nil)

// errDryRunWrite reports a write attempted during a dry run: a bug, never an input problem.
var errDryRunWrite = fmt.Errorf("crowdimport: write attempted during a dry run")

// readOnly is the store of a dry run: reads go through, writes fail.
type readOnly struct{ reader }

func (readOnly) CreateDirectory(context.Context, store.Directory) (store.Directory, error) {
	return store.Directory{}, errDryRunWrite
}
func (readOnly) CreateUser(context.Context, store.NewUser) (store.User, error) {
	return store.User{}, errDryRunWrite
}
func (readOnly) UpdateUser(context.Context, int64, store.UserChange) (store.User, error) {
	return store.User{}, errDryRunWrite
}
func (readOnly) RenameUser(context.Context, int64, string) (store.User, error) {
	return store.User{}, errDryRunWrite
}
func (readOnly) StoreUserAttributes(context.Context, int64, map[string][]string) error {
	return errDryRunWrite
}
func (readOnly) SetCredential(context.Context, int64, string) error { return errDryRunWrite }
func (readOnly) CreateGroup(context.Context, store.NewGroup) (store.Group, error) {
	return store.Group{}, errDryRunWrite
}
func (readOnly) UpdateGroup(context.Context, int64, store.GroupChange) (store.Group, error) {
	return store.Group{}, errDryRunWrite
}
func (readOnly) StoreGroupAttributes(context.Context, int64, map[string][]string) error {
	return errDryRunWrite
}
func (readOnly) AddUserToGroup(context.Context, int64, int64) error  { return errDryRunWrite }
func (readOnly) AddGroupToGroup(context.Context, int64, int64) error { return errDryRunWrite }
func (readOnly) CreateApplication(context.Context, store.NewApplication) (store.Application, error) {
	return store.Application{}, errDryRunWrite
}
func (readOnly) UpdateApplication(context.Context, int64, store.ApplicationChange) (store.Application, error) {
	return store.Application{}, errDryRunWrite
}
func (readOnly) SetApplicationCredential(context.Context, int64, string) error { return errDryRunWrite }

// ParseDESKey decodes Crowd's DES key as an operator copies it: the base64 form of the 8 key bytes
// (what Crowd stores), for Options.DESKey.
func ParseDESKey(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("crowdimport: the DES key is not base64: %w", err)
	}
	if len(b) != 8 {
		return nil, fmt.Errorf("crowdimport: the DES key has %d bytes, want 8", len(b))
	}
	return b, nil
}
