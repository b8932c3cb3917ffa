// Package password hashes and verifies user and application passwords.
//
// Users imported from Atlassian Crowd keep the credential Crowd stored for
// them, so Verify understands Crowd's formats: {PKCS5S2} ("Atlassian
// Security", Crowd's default), the legacy bare SHA-512 "atlassian-sha1"
// value, the LDAP-style {SSHA}/{SHA}/{MD5} digests (plus their SHA-2
// variants), bcrypt, and an explicitly marked {PLAINTEXT}. New passwords are
// hashed with argon2id in PHC string form. Verify reports rehash=true after
// a successful check of anything that is not argon2id with the current
// parameters, so callers can upgrade credentials on login without ever
// keeping the plain password.
//
// Hashing is the only CPU-heavy work in crowdgate; Pool bounds how many
// hashes run at once so a password storm cannot starve other requests.
//
// Stored values are treated as untrusted input: malformed values yield
// ErrMalformed (never a panic), and parameters read from a stored value
// are bounded so a hostile value cannot make a single check arbitrarily
// expensive.
package password
