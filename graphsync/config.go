package graphsync

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crowdgate/crowdgate/store"
)

// Defaults and limits of Config.
const (
	DefaultInterval     = 20 * time.Minute
	MinInterval         = time.Minute
	MaxInterval         = 6 * 24 * time.Hour // Graph's delta links live 7 days: a round must come sooner
	DefaultFullInterval = 24 * time.Hour
	DefaultBatchSize    = 2000  // users or groups per transaction in a full round
	DefaultMemberBatch  = 20000 // memberships per transaction in a full round
	DefaultWorkers      = 2     // membership transactions running at once in a full round

	RemovalDeactivate = "deactivate" // a user removed in Entra ID is deactivated (kept for Jira's history)
	RemovalDelete     = "delete"     // a user removed in Entra ID is deleted
)

// MassChangeOff as Config.MassChangeThreshold disables the mass-change guard.
const MassChangeOff = -1

// DefaultProtectedNames are the group names protected when Config.ProtectedNames is nil: the
// administrator groups of Jira, Confluence and Crowd.
var DefaultProtectedNames = []string{"jira-administrators", "jira-system-administrators", "confluence-administrators",
	"system-administrators", "crowd-administrators"}

// Config configures a Syncer. Zero values take the defaults.
type Config struct {
	// Interval between rounds: default 20 minutes, at least 1 minute, at most 6 days (a delta link
	// unused for 7 days expires and costs a full round).
	Interval time.Duration
	// FullInterval is how often a round is a full reconciliation instead of a delta round, repairing
	// any drift: default 24 hours; negative disables periodic full rounds (they still run when needed).
	FullInterval time.Duration

	// UsernameSource is the user attribute that becomes the crowd user name: UsernameUPN (default),
	// UsernameMail, UsernameSAM or UsernameMailNickname; userPrincipalName when that attribute is empty.
	UsernameSource string
	// StripDomain cuts "@domain" from user names.
	StripDomain bool
	// ExcludeGuests leaves guest users (userType Guest) out; by default they are replicated.
	ExcludeGuests bool
	// Groups, when set, is the group filter: object ids or display names (case-insensitive) of the
	// groups to replicate. Groups nested in them and their (transitive) members come along;
	// everything else stays out. Empty replicates the whole tenant.
	Groups []string
	// UnifiedGroups replicates Microsoft 365 (unified) groups too. By default only security-enabled
	// groups that are not Microsoft 365 groups are replicated: any user of a tenant may create a
	// Microsoft 365 group (or a Team) by default, and name it as they like.
	UnifiedGroups bool
	// ProtectedNames are group names that only the Entra group bound to them (BoundGroups) may carry:
	// nil means DefaultProtectedNames. AdminGroup and the allowed (licence) groups of every
	// application are protected as well. An unbound group wanting such a name is replicated as
	// "name#<first 8 characters of its object id>" and reported.
	ProtectedNames []string
	// AdminGroup is the name of the console's administrator group; it is protected.
	AdminGroup string
	// BoundGroups binds protected names (case-insensitively) to the object ids of the groups that may
	// carry them.
	BoundGroups map[string]string
	// MassChangeThreshold is the mass-change guard: a full round that would deactivate or delete more
	// users, or more groups, than this writes nothing and ends HELD until an administrator releases it
	// (Syncer.ApplyHeld). 0 means the default: more than max(20, min(500, 10 % of the replica's users,
	// or groups)); MassChangeOff disables the guard.
	MassChangeThreshold int
	// UserRemoval is what happens to a user removed in Entra ID (or leaving the filter's scope):
	// RemovalDeactivate (default: deactivated, sessions ended, memberships removed, key kept) or
	// RemovalDelete. Groups deleted for good are deleted; soft-deleted ones are kept inactive, without
	// memberships, until restored (docs/sync-rounds.md).
	UserRemoval string

	// SourceKey identifies what the Source reads (tenant and application): a full round interrupted
	// while reading one source is not continued with another.
	SourceKey string
	// Instance names this process in sync_runs; default host name and process id.
	Instance string
	// OnRun, when set, is called after every run that held the sync lock, successful or not (a
	// metrics hook); not for rounds skipped with ErrBusy.
	OnRun func(Report, error)
	// BatchSize, MemberBatch and Workers tune the writes of a full round (defaults 2000 objects and
	// 20,000 memberships per transaction, 2 membership transactions at once).
	BatchSize   int
	MemberBatch int
	Workers     int
}

func (c Config) withDefaults() Config {
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.FullInterval == 0 {
		c.FullInterval = DefaultFullInterval
	}
	if c.UsernameSource == "" {
		c.UsernameSource = UsernameUPN
	}
	if c.ProtectedNames == nil {
		c.ProtectedNames = DefaultProtectedNames
	}
	if c.UserRemoval == "" {
		c.UserRemoval = RemovalDeactivate
	}
	if c.Instance == "" {
		host, _ := os.Hostname()
		c.Instance = host + ":" + strconv.Itoa(os.Getpid())
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.MemberBatch == 0 {
		c.MemberBatch = DefaultMemberBatch
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	return c
}

// Validate reports every problem in c (after defaults) in one error, one line each.
func (c Config) Validate() error {
	c = c.withDefaults()
	var problems []error
	add := func(format string, args ...any) { problems = append(problems, fmt.Errorf(format, args...)) }
	if c.Interval < MinInterval || c.Interval > MaxInterval {
		add("Interval %s is out of range %s–%s", c.Interval, MinInterval, MaxInterval)
	}
	if c.FullInterval > 0 && c.FullInterval < c.Interval {
		add("FullInterval %s is shorter than Interval %s", c.FullInterval, c.Interval)
	}
	switch c.UsernameSource {
	case UsernameUPN, UsernameMail, UsernameSAM, UsernameMailNickname:
	default:
		add("UsernameSource %q: want %s, %s, %s or %s", c.UsernameSource, UsernameUPN, UsernameMail, UsernameSAM, UsernameMailNickname)
	}
	switch c.UserRemoval {
	case RemovalDeactivate, RemovalDelete:
	default:
		add("UserRemoval %q: want %q or %q", c.UserRemoval, RemovalDeactivate, RemovalDelete)
	}
	for i, g := range c.Groups {
		if strings.TrimSpace(g) == "" {
			add("Groups[%d] is blank", i)
		}
	}
	for i, n := range c.ProtectedNames {
		if strings.TrimSpace(n) == "" {
			add("ProtectedNames[%d] is blank", i)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(c.BoundGroups)) {
		if strings.TrimSpace(n) == "" || strings.TrimSpace(c.BoundGroups[n]) == "" {
			add("BoundGroups[%q] = %q: a name and an object id are needed", n, c.BoundGroups[n])
		}
	}
	if c.BatchSize < 1 || c.MemberBatch < 1 || c.Workers < 1 {
		add("BatchSize, MemberBatch and Workers must be positive")
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("graphsync: invalid sync config:\n%w", errors.Join(problems...))
}

// fingerprint identifies what the replica's content depends on; a change forces a full round.
// protected is the protected set of the run (see protectedNames).
func (c Config) fingerprint(nested bool, protected map[string]string) string {
	groups := make([]string, len(c.Groups))
	for i, g := range c.Groups {
		groups[i] = store.Lower(strings.TrimSpace(g))
	}
	slices.Sort(groups)
	var prot []string
	for _, n := range slices.Sorted(maps.Keys(protected)) {
		prot = append(prot, n+"="+protected[n])
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("v2|%s|%t|%t|%q|%s|%t|%t|%q", c.UsernameSource, c.StripDomain, c.ExcludeGuests,
		groups, c.UserRemoval, nested, c.UnifiedGroups, prot)))
	return hex.EncodeToString(h[:8])
}

// protectedNames returns the run's protected names, lower-cased, each with the object id bound to
// it ("" for none): ProtectedNames, AdminGroup and the applications' allowed groups (appGroups).
func (c Config) protectedNames(appGroups []string) map[string]string {
	bound := make(map[string]string, len(c.BoundGroups))
	for n, id := range c.BoundGroups {
		bound[store.Lower(strings.TrimSpace(n))] = strings.ToLower(strings.TrimSpace(id))
	}
	out := map[string]string{}
	for _, n := range slices.Concat(c.ProtectedNames, []string{c.AdminGroup}, appGroups) {
		if l := store.Lower(strings.TrimSpace(n)); l != "" {
			out[l] = bound[l]
		}
	}
	return out
}
