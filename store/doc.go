// Package store is crowdgate's directory: it persists directories, users, groups, memberships,
// applications, sessions, events, the audit log and sync state in PostgreSQL or, by default, in an
// embedded SQLite file, and it owns the rules every surface must answer alike: the application view
// (what an application sees, name shadowing, nested groups, who may authenticate), password
// verification, session lifetime, and events and audit written in the same transaction as the change.
//
// gorm never leaves this package: callers see plain structs and sentinel errors.
package store
