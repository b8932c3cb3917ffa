package store

import (
	"context"
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

const (
	// DefaultMinPasswordLen is an internal directory's minimum password length unless set otherwise.
	DefaultMinPasswordLen = 12
	// AdminMinPasswordLen is the minimum length of an administrator's password, whatever the
	// directory's policy: an administrator's password opens the emergency door.
	AdminMinPasswordLen = 16
)

//go:embed commonpasswords.txt
var commonPasswordList string

var commonPasswords = sync.OnceValue(func() map[string]bool {
	m := map[string]bool{}
	for _, line := range strings.Split(commonPasswordList, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			m[line] = true
		}
	}
	return m
})

// lookAlikes undoes the usual letter swaps (p@ssw0rd).
var lookAlikes = strings.NewReplacer("@", "a", "4", "a", "0", "o", "1", "i", "!", "i", "3", "e", "$", "s", "5", "s", "7", "t", "+", "t")

// CheckAdministratorPassword applies the administrators' policy to a new password: at least
// AdminMinPasswordLen characters, not a common password (also with digits or symbols added at
// either end, or with look-alike characters), not one short sequence repeated, and not containing
// the user's name. The error says which rule failed; it wraps ErrPasswordPolicy and ErrInvalid.
func CheckAdministratorPassword(name, pw string) error {
	refuse := func(why string) error {
		return fmt.Errorf("an administrator's password %s: %w: %w", why, ErrPasswordPolicy, ErrInvalid)
	}
	if n := utf8.RuneCountInString(pw); n < AdminMinPasswordLen {
		return refuse(fmt.Sprintf("must have at least %d characters (this one has %d)", AdminMinPasswordLen, n))
	}
	lower := strings.ToLower(pw)
	if common(lower) {
		return refuse("is a common password, or one with a few characters added: choose a long passphrase or let a password manager generate one")
	}
	if repeated(lower) {
		return refuse("repeats a short sequence")
	}
	if n := strings.ToLower(name); utf8.RuneCountInString(n) >= 3 && strings.Contains(lower, n) {
		return refuse("must not contain the user name")
	}
	return nil
}

// common reports whether pw (lower case) is in the list, alone or with digits and symbols around it.
func common(pw string) bool {
	list := commonPasswords()
	notLetter := func(r rune) bool { return !unicode.IsLetter(r) }
	for _, c := range []string{pw, strings.TrimFunc(pw, notLetter), lookAlikes.Replace(pw), lookAlikes.Replace(strings.TrimRightFunc(pw, notLetter))} {
		c = strings.TrimSpace(c)
		if list[c] || list[strings.Join(strings.Fields(c), "")] {
			return true
		}
		// A word from the list followed by digits and symbols: the trimmed forms above; and the
		// whole password made of list entries with separators (password-password, 123456-123456).
		if parts := strings.FieldsFunc(c, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }); len(parts) > 1 {
			all := true
			for _, p := range parts {
				all = all && list[p]
			}
			if all {
				return true
			}
		}
	}
	return false
}

// repeated reports whether pw is a sequence of at most 4 characters repeated, or uses at most 4
// distinct characters.
func repeated(pw string) bool {
	rs := []rune(pw)
	distinct := map[rune]bool{}
	for _, r := range rs {
		distinct[r] = true
	}
	if len(distinct) <= 4 {
		return true
	}
	for unit := 1; unit <= 8 && unit < len(rs); unit++ {
		same := true
		for i := unit; i < len(rs) && same; i++ {
			same = rs[i] == rs[i%unit]
		}
		if same {
			return true
		}
	}
	return false
}

// IsAdministrator reports whether u administers crowdgate (Administrator: a member of a group
// bound as an administrator group), for the administrators' password policy.
func (s *Store) IsAdministrator(ctx context.Context, u User) (bool, error) {
	_, ok, err := s.Administrator(ctx, u)
	if err != nil {
		return false, fmt.Errorf("user %q: administrator check: %w", u.Name, err)
	}
	return ok, nil
}

// checkPasswordFor applies the directory's policy and, for an administrator, the administrators'.
func (s *Store) checkPasswordFor(ctx context.Context, d Directory, u User, pw string) error {
	if err := checkPolicy(d, pw); err != nil {
		return err
	}
	admin, err := s.IsAdministrator(ctx, u)
	if err != nil {
		return err
	}
	if admin {
		return CheckAdministratorPassword(u.Name, pw)
	}
	return nil
}
