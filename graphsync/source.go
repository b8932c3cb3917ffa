package graphsync

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Removal reasons carried by User.RemovedReason and Group.RemovedReason, as Graph reports them in
// "@removed": a soft delete ("changed", restorable for 30 days) or a permanent one ("deleted").
const (
	ReasonChanged = "changed"
	ReasonDeleted = "deleted"
)

// Member kinds in MemberChange.Kind: the part of the member's "@odata.type" after "#microsoft.graph.".
// Graph also reports "orgContact", "device" and "servicePrincipal" members; they are passed through as
// they come and a syncer is expected to skip them.
const (
	KindUser  = "user"
	KindGroup = "group"
)

// User is one user object of a delta page, in crowdgate's terms. Fields Graph sent as null or did not
// send are empty. A removed user (Removed true) carries only ID and RemovedReason: Graph sends
// removals as {"id":…, "@removed":{…}} with no other property, so nothing else may be relied upon.
type User struct {
	ID                       string
	UserPrincipalName        string
	Mail                     string
	OtherMails               []string // fallback e-mail addresses: guests and rooms often have no Mail
	GivenName                string
	Surname                  string
	DisplayName              string
	MailNickname             string // one of the configurable username sources
	OnPremisesSamAccountName string // set only for users synced from on-premises AD
	UserType                 string // "Member" or "Guest"
	ExternalUserState        string // guests: "PendingAcceptance" or "Accepted"
	AccountEnabled           *bool  // nil when Graph did not send it
	Removed                  bool
	RemovedReason            string // ReasonChanged or ReasonDeleted when Removed
}

// Group is one group object of a delta page. A removed group carries only ID and RemovedReason (no
// DisplayName: Graph omits it, which is what broke Crowd, CWD-4998).
//
// Members holds the group's direct member changes on this page (Graph's "members@delta"). In a full
// round they are the current members, none removed; in a later round only the additions and removals
// since the previous round. The same group may come back on several pages of one round, each time
// with another chunk of members: a syncer must union them, keyed on the group ID.
type Group struct {
	ID              string
	DisplayName     string
	Description     string
	MailNickname    string
	SecurityEnabled bool
	GroupTypes      []string // "Unified" for Microsoft 365 groups, "DynamicMembership" for dynamic ones
	Removed         bool
	RemovedReason   string
	Members         []MemberChange
}

// MemberChange is one entry of a group's "members@delta": a direct member added (Removed false) or
// removed (Removed true). Graph reports every membership removal with reason "deleted", even when
// only the membership ended, so no reason is kept.
type MemberChange struct {
	ID      string
	Kind    string // KindUser, KindGroup, or another directory object type
	Removed bool
}

// Page is one page of a delta round. Exactly one of NextLink and DeltaLink is set: NextLink while the
// round goes on, DeltaLink on its last page. Both are opaque and must be passed back verbatim: the
// DeltaLink is what a syncer persists to start the next round with.
type Page[T any] struct {
	Items     []T
	NextLink  string
	DeltaLink string
}

// Source is what a syncer reads from Microsoft Graph: users and groups (with their direct members)
// through delta queries. Nested membership is not asked for: Graph has no transitive delta, so the
// syncer computes group closure from the direct memberships it has replicated.
//
// link == "" starts a new full round; any other value is a NextLink or DeltaLink from an earlier page
// and is followed as is. A round is complete once a page with a DeltaLink has been read. Objects may
// appear several times within a round (last one wins) and a round may replay changes already seen.
//
// Errors: errors.Is(err, ErrDeltaExpired) means the link can no longer be used and a full round
// (link == "") must start, followed by mark-and-sweep; *ThrottledError means Graph kept throttling
// after all retries, and the same link may be tried again later. Any other error is wrapped with
// context and leaves the link valid.
type Source interface {
	UsersDelta(ctx context.Context, link string) (Page[User], error)
	GroupsDelta(ctx context.Context, link string) (Page[Group], error)
}

// ErrDeltaExpired reports that Graph no longer accepts a delta or next link: 410 Gone (a
// synchronization reset), or an error whose code is syncStateNotFound or resyncRequired (token older
// than 7 days). The caller must start a full round.
var ErrDeltaExpired = errors.New("delta link expired, full resync required")

// ThrottledError reports that Graph still answered 429, 503 or 504 after the configured number of
// attempts. RetryAfter is the wait Graph asked for on the last answer (or the backoff graphsync
// would have used next when it did not say); the link that failed is still valid.
type ThrottledError struct {
	Op         string        // what was being read, e.g. "users delta"
	Status     int           // HTTP status of the last answer: 429, 503 or 504
	RetryAfter time.Duration // how long to wait before trying the same link again
	Attempts   int           // requests made, including the first
	Err        error         // the last answer, a *GraphError
}

// Error describes the last throttled answer.
func (e *ThrottledError) Error() string {
	return fmt.Sprintf("graphsync: %s: still throttled after %d attempts, retry after %s: %v",
		e.Op, e.Attempts, e.RetryAfter, e.Err)
}

// Unwrap returns the last underlying error.
func (e *ThrottledError) Unwrap() error { return e.Err }
