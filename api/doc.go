// Package api is crowdgate's administrator console: a small, server-rendered web application under
// /console/ (html/template pages and embedded static files, no JavaScript build step) that shows
// who has access to which application and why, and lets administrators manage internal users and
// groups, applications, directories and their synchronisation, sessions, and read the audit log.
//
// The console trusts its own session cookie (Config.SessionCookie) holding the token of a
// store.SessionConsole session: the saml package creates one after an Entra ID sign-in, and the
// break-glass page /console/login creates one after an internal directory password check. Only
// (nested) members of Config.AdminGroup get in. Every form carries a double-submit CSRF token,
// every response security headers, and every change is audited with the administrator as actor.
// Rotating an application credential and changing Entra ID settings need a recent sign-in.
//
// The package sees the directory through Store, the few store methods it uses, and the Entra ID
// synchroniser through SyncController. echo is an implementation detail: New returns an
// http.Handler.
package api
