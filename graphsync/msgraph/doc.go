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
//   - is the only retry layer: the SDK's retry middleware is switched off per request; no answer at
//     all (timeout, reset, TLS, token service down) and 429/500/502/503/504 are retried within
//     Config.RetryBudget (10 minutes per page), honouring Retry-After as float seconds rounded up
//     (the SDK truncates them), with jittered exponential backoff when Graph gives none;
//   - answers a 401 with one fresh token (a new credential, so its token cache is not asked) and one
//     retry;
//   - follows next and delta links only on the Graph host or Config.AllowedHosts, and asks for the
//     token scope of the Graph host (Config.Scope overrides);
//   - converts the untyped "@removed" and "members@delta" annotations in one place (convert.go)
//     with checked type assertions.
package msgraph
