// Package fakegraph is a fake Microsoft Graph v1.0 for tests and benchmarks of graphsync: an
// in-memory Tenant (users, groups, direct memberships including nested groups and guests) with
// change tracking, served over HTTP by Server with the wire format of Graph's users and groups
// delta queries: paging with absolute @odata.nextLink / @odata.deltaLink, state tokens so that a
// round started from a delta link returns only what changed since (updates, "@removed" with reason
// "changed" or "deleted", "members@delta" additions and removals), Graph's error envelope, a
// bearer-token check, injectable faults (429/503/504 with Retry-After, 500, 410 syncStateNotFound,
// malformed pages, HTML error bodies, slow pages, connections cut mid-body, sustained throttling)
// and request recording. Requests without $select get Graph's default properties, which for users
// leave out accountEnabled and userType.
//
// It is no kinder than the real service: behaviours that make a sync hard can be switched on
// (Options, Tenant.LagNewUsers, Server.SetToken): replication lag between users and groups delta,
// the same object on several pages, a big group's member chunks spread across the round, "@removed"
// in an initial round, service principals, devices and contacts as group members, tokens that expire
// mid-run, links on another host, restores that bring memberships back, Microsoft 365 and security
// groups side by side, and users creating groups of any name (docs/graph-fake.md).
//
// Generate builds a deterministic tenant of any size (100,000 users, 5,000 groups and 1,000,000
// memberships in about a second) and pages are written without reflection, so scale runs measure
// the client, not the fake. STS is a fake token service for azidentity's client-credentials flow.
//
// What the fake does not model: the users and groups collection endpoints, /members and
// /transitiveMembers, $filter, "Prefer: return=minimal", and per-property change tracking (any
// change to an object brings it back in the next delta round, not only changes to selected
// properties). It is a normal package, not a _test file, because the benchmark tool serves it too.
package fakegraph
