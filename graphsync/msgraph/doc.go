// Package msgraph is graphsync's Source backed by msgraph-sdk-go, the only package of crowdgate that
// links the Graph SDK (its models package alone takes over a minute and ~4 GiB to compile cold).
//
// It imports only the SDK's sub-packages (users, groups, models) and msgraph-sdk-go-core, never the
// root package, which would pull in every API area of the module. Credentials come from azidentity:
// client secret, client certificate, managed identity or workload identity, or any
// azcore.TokenCredential (StaticToken for tests). It:
//   - passes the Graph host as the one valid host to the authentication provider, because for any
//     other host the provider silently sends no Authorization header;
//   - hands the request adapter its JSON factories directly, so nothing is registered in kiota's
//     process-wide serializer registries;
//   - is the only retry layer: the SDK's retry middleware is switched off per request, and 429/503/
//     504 are retried up to Config.MaxAttempts times, honouring Retry-After as float seconds
//     rounded up (the SDK truncates them), with jittered exponential backoff when Graph gives none;
//   - converts the untyped "@removed" and "members@delta" annotations in one place (convert.go)
//     with checked type assertions.
package msgraph
