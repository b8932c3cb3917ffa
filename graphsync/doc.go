// Package graphsync replicates users and groups from Microsoft Entra ID into crowdgate through
// Microsoft Graph delta queries.
//
// The seam is Source: users and groups delta pages in crowdgate's own plain types (User, Group,
// MemberChange, Page), with ErrDeltaExpired and *ThrottledError as the outcomes a syncer must act
// on. Nothing in Source's signatures is an SDK type, so the syncer and its tests never link the SDK.
//
// SDKSource implements Source with msgraph-sdk-go. It imports only the SDK's sub-packages (users,
// groups, models) and msgraph-sdk-go-core, never the root package, which would pull in all 84 API
// areas of the module (graph.md §1). Credentials come from azidentity: client secret, client
// certificate, managed identity or workload identity, or any azcore.TokenCredential (StaticToken
// for tests). It:
//   - passes the Graph host as the one valid host to the authentication provider, because for any
//     other host the provider silently sends no Authorization header (graph.md §2.2);
//   - hands the request adapter its JSON factories directly, so nothing is registered in kiota's
//     process-wide serializer registries;
//   - is the only retry layer: the SDK's retry middleware is switched off per request, and 429/503/
//     504 are retried up to SDKConfig.MaxAttempts times, honouring Retry-After as float seconds
//     rounded up (the SDK truncates them), with jittered exponential backoff when Graph gives none;
//   - converts the untyped "@removed" and "members@delta" annotations in one place (convert.go)
//     with checked type assertions.
//
// Package fakegraph is the Graph the tests (and the benchmark tool) talk to.
package graphsync
