// Package instances proves crowdgate's reliability targets R1, R3 and R5 (docs/performance.md,
// "Reliability targets R1-R5") with real crowdgate processes, built once from ./cmd/crowdgate and driven only from outside:
// environment variables, the Crowd REST API, the admin console, the CLI, signals and the database.
//
//   - R1: two instances started at the same moment on one empty PostgreSQL database both migrate it
//     safely and serve; a session created on one validates on the other; a revocation, a user
//     deactivation or a licence-group removal made on one is refused on the other within a second;
//     /event is one ordered stream whichever instance is asked; and only one instance at a time runs
//     an Entra ID directory's synchronisation, leaving a complete replica.
//   - R3: a process killed with SIGKILL at seeded random points of full and delta synchronisations
//     (against a fake Microsoft Graph) leaves a consistent directory: the previous complete state, a
//     partial full round whose links are cleared, or exactly the state the delta pages applied so
//     far build; the next run completes it and the replica equals the tenant.
//   - R5: SIGTERM lets in-flight requests finish (a slowly read membership list, a validation whose
//     body is still arriving), writes the last session access times, closes the running sync's
//     record as failed with a consistent replica, and exits 0 within the shutdown timeout.
//   - SAML replay: a response used to sign in on one instance, posted again with the browser's
//     sign-in state cookie to another behind the same address, is refused there as replayed.
//
// The tests need PostgreSQL (CROWDGATE_TEST_POSTGRES, or the default local server); they skip when
// CROWDGATE_TEST_DIALECT=sqlite. The package holds only tests.
package instances
