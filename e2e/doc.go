// Package e2e holds crowdgate's end-to-end tests: the whole browser journey of a user who opens
// Jira, is sent through crowdgate to the identity provider (an Entra-shaped test IdP), signs in
// and comes back signed in, driven in headless Chromium. Everything runs in-process on
// 127.0.0.1: the IdP, crowdgate (Crowd REST API and SAML sign-in on one server) and a small
// stand-in for Jira that validates the Crowd SSO cookie exactly as Seraph's Crowd authenticator
// does. The package holds only tests.
package e2e
