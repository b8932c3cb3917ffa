// Package crowdimport brings users, groups, memberships, passwords and applications across from
// Atlassian Crowd into crowdgate's store.
//
// Two sources are read:
//
//   - Backup reads the XML file Crowd writes under Administration → Backup (root element <crowd>,
//     sections <directories>, <users>, <groups>, <memberships>, <applications>; see format.go for the
//     elements read). Users keep the credential Crowd stored for them — {PKCS5S2}, the bare SHA-512
//     "atlassian-sha1" value, {SSHA}/{SHA}/{MD5}, bcrypt, plain text — and the store verifies it and
//     re-hashes it at the user's next sign-in; DES-encrypted credentials (Crowd's old "des" encoder)
//     are decrypted when the operator supplies the key. Applications keep their {PKCS5S2} credential,
//     so Jira and Confluence keep their application password.
//   - REST reads what one application sees of a live Crowd over its usermanagement/1 REST API. No
//     password hashes travel that way: users sign in through SAML or reset their password.
//
// Both read their input in a first streaming pass that validates everything (and spools a REST
// source to a temporary file), so malformed input is refused before anything is written, naming
// the element and line at fault. The import itself then streams the input again and writes in
// batches, one transaction each. Memory is bounded by the number of names (a set of lower-cased
// user and group names per directory), never by the size of the input. A re-run creates nothing:
// every object is looked up first and reported unchanged when equal. A dry run reads the store and
// writes nothing.
package crowdimport
