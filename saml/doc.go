// Package saml makes crowdgate a SAML 2.0 service provider for Microsoft Entra ID and turns a
// successful sign-in into a Crowd SSO session and cookie (or, for crowdgate's own console, a
// console session and cookie).
//
// gosaml2 checks signatures and the basic shape of a response; this package adds what it
// leaves to the caller (docs/saml.md, "What the ACS adds"): the response must answer a login started by the
// same browser (a signed state cookie), assertion and request ids are single-use across every
// instance (the store's replay cache), time checks allow a configured clock skew and nothing
// more, audience and time warnings are errors, SHA-1, DTDs, comments and second assertions are
// refused, every message has a size limit, and the browser is only ever sent back to a
// configured application or to crowdgate itself.
//
// Every refusal is logged with its reason and audited as LOGIN_FAILED by actor kind SAML; the
// browser sees a generic page. Break-glass password sign-in for a configured group of local
// accounts keeps administrators in when the IdP is down.
package saml
