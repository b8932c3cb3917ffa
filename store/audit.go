package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Actor kinds recorded in the audit log.
const (
	ActorAdmin       = "ADMIN"       // a console administrator
	ActorApplication = "APPLICATION" // a Crowd REST client such as Jira
	ActorSync        = "SYNC"        // the Entra ID synchroniser
	ActorSAML        = "SAML"        // a browser sign-in
	ActorCLI         = "CLI"         // the crowdgate command line
	ActorSystem      = "SYSTEM"      // crowdgate itself (expiry, start-up)
)

// Actor is who performs a change and from where; it travels in the context so every write records it.
type Actor struct {
	Kind    string
	Name    string
	Address string
}

type actorKey struct{}

// WithActor returns ctx carrying the actor that later writes are attributed to.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor in ctx, or SYSTEM.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a
	}
	return Actor{Kind: ActorSystem}
}

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	ID         int64
	At         time.Time
	ActorKind  string
	Actor      string
	Source     string
	Action     string
	ObjectKind string
	Object     string
	Outcome    string // SUCCESS or FAILURE
	Details    string
}

// TableName maps AuditEntry to its table.
func (AuditEntry) TableName() string { return "audit_log" }

// audit appends a successful action by the context's actor; details is free text or JSON.
func (s *Store) audit(ctx context.Context, action, objectKind, object, details string) error {
	return s.writeAudit(ctx, "SUCCESS", action, objectKind, object, details)
}

func (s *Store) writeAudit(ctx context.Context, outcome, action, objectKind, object, details string) error {
	a := ActorFrom(ctx)
	e := AuditEntry{
		At: s.now(), ActorKind: a.Kind, Actor: a.Name, Source: a.Address, Action: action,
		ObjectKind: objectKind, Object: object, Outcome: outcome, Details: details,
	}
	if err := s.q(ctx).Create(&e).Error; err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	s.afterCommit(func() { s.shared.counters.countAudit(AuditKey{Action: action, Outcome: outcome}) })
	return nil
}

// Audit records an action that changes nothing in the directory (a login, a failure, a sync run).
func (s *Store) Audit(ctx context.Context, outcome, action, objectKind, object string, details any) error {
	d := ""
	switch v := details.(type) {
	case nil:
	case string:
		d = v
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("audit %s: %w", action, err)
		}
		d = string(b)
	}
	return s.writeAudit(ctx, outcome, action, objectKind, object, d)
}

// AuditFilter narrows ListAudit; zero fields match everything.
type AuditFilter struct {
	Actor      string
	Action     string
	ObjectKind string
	Object     string
	Since      time.Time
	Until      time.Time
	Limit      int // 0 means 100
	BeforeID   int64
}

// ListAudit returns audit entries, newest first.
func (s *Store) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	q := s.q(ctx).Model(&AuditEntry{})
	if f.Actor != "" {
		q = q.Where(like("LOWER(actor)"), "%"+escapeLike(Lower(f.Actor))+"%")
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.ObjectKind != "" {
		q = q.Where("object_kind = ?", f.ObjectKind)
	}
	if f.Object != "" {
		q = q.Where(like("LOWER(object)"), "%"+escapeLike(Lower(f.Object))+"%")
	}
	if !f.Since.IsZero() {
		q = q.Where("at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("at < ?", f.Until.UTC())
	}
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []AuditEntry
	if err := q.Order("id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}
