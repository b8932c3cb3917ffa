// Package crowdapi serves Atlassian Crowd's usermanagement REST API (version 1) as Jira's and
// Confluence's embedded Crowd client expects it: XML by default, JSON on request, byte-compatible
// representations, Crowd's error reasons, application authentication and the application view of
// the directory that the store decides.
package crowdapi
