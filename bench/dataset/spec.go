// Package dataset describes and generates crowdgate's benchmark directory (D-100k in
// docs/performance.md, and smaller variants) deterministically from a seed, straight into a store's database with bulk SQL.
//
// Everything a load generator needs to address the data is derivable from the Spec alone: user and
// group names, the plain passwords of users with {PKCS5S2} credentials, and the SSO tokens (only
// SHA-256(token) is stored, so tokens are derived from the seed rather than drawn at random).
package dataset

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// Spec is the shape of a benchmark directory. Equal Specs generate equal data.
type Spec struct {
	Seed              uint64
	Users             int     // users in the internal directory
	Groups            int     // groups, including the licence groups and the nested tree
	Memberships       int     // direct user→group memberships
	Sessions          int     // live SSO sessions (of distinct users while Sessions <= Users)
	PKCS5S2Share      float64 // share of users with a Crowd {PKCS5S2} credential (the rest: one argon2id)
	DistinctPasswords int     // distinct plain passwords among the {PKCS5S2} users (one hash each)
	SessionIdle       time.Duration
}

// D100k is dataset D-100k of docs/performance.md.
func D100k() Spec {
	return Spec{Seed: 100_000, Users: 100_000, Groups: 5_000, Memberships: 1_000_000, Sessions: 100_000,
		PKCS5S2Share: 0.2, DistinctPasswords: 100, SessionIdle: 8 * time.Hour}
}

// Short is the CI dataset: big enough to exercise every path, small enough to build in a second.
func Short() Spec {
	return Spec{Seed: 5_000, Users: 5_000, Groups: 300, Memberships: 30_000, Sessions: 5_000,
		PKCS5S2Share: 0.5, DistinctPasswords: 100, SessionIdle: 8 * time.Hour}
}

// Validate reports an unusable spec.
func (s Spec) Validate() error {
	switch {
	case s.Users < 1 || s.Users > 9_999_999:
		return fmt.Errorf("dataset: users must be 1..9999999, not %d", s.Users)
	case s.Groups < 20:
		return fmt.Errorf("dataset: at least 20 groups are needed for the nested layout, not %d", s.Groups)
	case s.Memberships < 0 || s.Sessions < 0:
		return fmt.Errorf("dataset: memberships and sessions must not be negative")
	case s.PKCS5S2Share < 0 || s.PKCS5S2Share > 1:
		return fmt.Errorf("dataset: the {PKCS5S2} share must be within 0..1, not %v", s.PKCS5S2Share)
	case s.DistinctPasswords < 1:
		return fmt.Errorf("dataset: at least one distinct password is needed")
	}
	l := s.Layout()
	if per := float64(s.Memberships-s.Users) / float64(s.Users); per > float64(l.Flat)/2 {
		return fmt.Errorf("dataset: %d memberships need more than %d flat groups", s.Memberships, l.Flat)
	}
	return nil
}

// Name describes the spec in one line, e.g. "D-100k (100000 users, ...)".
func (s Spec) Name() string {
	base := fmt.Sprintf("%d users, %d groups, %d memberships, %d sessions", s.Users, s.Groups, s.Memberships, s.Sessions)
	if s == D100k() {
		return "D-100k (" + base + ")"
	}
	if s == Short() {
		return "short (" + base + ")"
	}
	return "custom (" + base + ")"
}

// Layout is how the groups are arranged. Licence groups contain every division (Jira), half of
// them (Confluence) or the first (Bitbucket); each division contains departments, each department
// teams: four levels of nesting. Every user is a direct member of one team, so every user may sign
// in to Jira through three levels of nesting, and of several flat "project" groups, whose sizes
// follow a power law (a few big groups, many small ones).
type Layout struct {
	Licence []string // the applications' allowed groups
	Divs    int
	Depts   int
	Teams   int
	Flat    int
}

// Licence group names, in application order (jira, confluence, bitbucket).
var licenceGroups = []string{"jira-software-users", "confluence-users", "bitbucket-users"}

// Layout derives the group layout from the spec.
func (s Spec) Layout() Layout {
	teams := max(4, s.Groups/5)
	depts := max(2, teams/10)
	divs := max(2, depts/10)
	flat := s.Groups - len(licenceGroups) - divs - depts - teams
	return Layout{Licence: licenceGroups, Divs: divs, Depts: depts, Teams: teams, Flat: flat}
}

// Group kinds by index range.
func (l Layout) divBase() int  { return len(l.Licence) }
func (l Layout) deptBase() int { return l.divBase() + l.Divs }
func (l Layout) teamBase() int { return l.deptBase() + l.Depts }
func (l Layout) flatBase() int { return l.teamBase() + l.Teams }

// GroupName returns the name of group index gi (0-based).
func (l Layout) GroupName(gi int) string {
	switch {
	case gi < l.divBase():
		return l.Licence[gi]
	case gi < l.deptBase():
		return fmt.Sprintf("div-%02d", gi-l.divBase())
	case gi < l.teamBase():
		return fmt.Sprintf("dept-%03d", gi-l.deptBase())
	case gi < l.flatBase():
		return fmt.Sprintf("team-%04d", gi-l.teamBase())
	}
	return fmt.Sprintf("proj-%04d", gi-l.flatBase())
}

// Edges returns the nesting edges (parent index, child index).
func (l Layout) Edges() [][2]int {
	var e [][2]int
	for d := 0; d < l.Divs; d++ {
		div := l.divBase() + d
		e = append(e, [2]int{0, div})
		if d < max(1, l.Divs/2) {
			e = append(e, [2]int{1, div})
		}
		if d == 0 {
			e = append(e, [2]int{2, div})
		}
	}
	for j := 0; j < l.Depts; j++ {
		e = append(e, [2]int{l.divBase() + j%l.Divs, l.deptBase() + j})
	}
	for k := 0; k < l.Teams; k++ {
		e = append(e, [2]int{l.deptBase() + k%l.Depts, l.teamBase() + k})
	}
	return e
}

// UserName is the name of user index i (0-based).
func UserName(i int) string { return fmt.Sprintf("user%06d", i) }

// prf is the seeded pseudo-random function behind every derived secret.
func (s Spec) prf(label string, i int) [32]byte {
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], s.Seed)
	m := hmac.New(sha256.New, key[:])
	fmt.Fprintf(m, "%s:%d", label, i)
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

const tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// Token is the SSO token of session i: 24 characters of [A-Za-z0-9], the shape of Crowd's tokens.
func (s Spec) Token(i int) string {
	h := s.prf("token", i)
	b := make([]byte, 24)
	for j := range b {
		b[j] = tokenAlphabet[int(h[j])%len(tokenAlphabet)]
	}
	return string(b)
}

// SessionUser is the user index of session i.
func (s Spec) SessionUser(i int) int { return i % s.Users }

// HasPKCS5S2 reports whether user i has a {PKCS5S2} credential.
func (s Spec) HasPKCS5S2(i int) bool {
	h := s.prf("pkcs", i)
	return float64(binary.BigEndian.Uint64(h[:8]))/math.MaxUint64 < s.PKCS5S2Share
}

// PasswordIndex is which distinct password user i has.
func (s Spec) PasswordIndex(i int) int { return i % s.DistinctPasswords }

// Password is the plain password of a {PKCS5S2} user i.
func (s Spec) Password(i int) string { return fmt.Sprintf("bench-pw-%03d", s.PasswordIndex(i)) }

// Argon2Password is the plain password of every user without a {PKCS5S2} credential.
const Argon2Password = "bench-argon2-password"

// PKCS5S2Users lists the users with {PKCS5S2} credentials, in index order.
func (s Spec) PKCS5S2Users() []int {
	var out []int
	for i := 0; i < s.Users; i++ {
		if s.HasPKCS5S2(i) {
			out = append(out, i)
		}
	}
	return out
}

// App is one of the generated applications.
type App struct {
	Name     string
	Kind     string
	Password string
	Group    string // allowed (licence) group
}

// Apps are the three applications, each allowed one licence group.
var Apps = []App{
	{Name: "jira", Kind: "JIRA", Password: "bench-jira-secret", Group: licenceGroups[0]},
	{Name: "confluence", Kind: "CONFLUENCE", Password: "bench-confluence-secret", Group: licenceGroups[1]},
	{Name: "bitbucket", Kind: "GENERIC", Password: "bench-bitbucket-secret", Group: licenceGroups[2]},
}
