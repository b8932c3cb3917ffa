// Package graphsync replicates users and groups from Microsoft Entra ID into crowdgate through
// Microsoft Graph delta queries.
//
// The seam is Source: users and groups delta pages in crowdgate's own plain types (User, Group,
// MemberChange, Page), with ErrDeltaExpired and *ThrottledError as the outcomes a syncer must act
// on. Nothing in Source's signatures is an SDK type, and this package does not import the Graph SDK:
// the implementation that does lives in graphsync/msgraph, so the syncer, its tests and every
// package that only needs the directory settings (Settings) build without compiling the SDK.
// The syncer's tests read the fake Graph through fakegraph.Client, a net/http reader with the same
// contract; graphsync/msgraph tests the SDK source against the same fake.
//
// Package fakegraph is the Graph the tests (and the benchmark tool) talk to.
package graphsync
