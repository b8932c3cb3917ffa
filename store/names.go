package store

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest user, group, application or directory name accepted (in characters).
const MaxNameLen = 255

// Lower is the one case-folding rule for names: Crowd compares identifiers lower-cased with English
// rules, which strings.ToLower matches for every name Jira can hold.
func Lower(name string) string { return strings.ToLower(name) }

// checkName validates a name and says what is wrong with it.
func checkName(kind, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s name must not be empty: %w", kind, ErrInvalid)
	case !utf8.ValidString(name):
		return fmt.Errorf("%s name is not valid UTF-8: %w", kind, ErrInvalid)
	case utf8.RuneCountInString(name) > MaxNameLen:
		return fmt.Errorf("%s name is longer than %d characters: %w", kind, MaxNameLen, ErrInvalid)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%s name %q must not start or end with white space: %w", kind, name, ErrInvalid)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("%s name %q contains a control character: %w", kind, name, ErrInvalid)
		}
	}
	return nil
}

// checkText validates free text fields (names of people, e-mail, descriptions).
func checkText(field, v string, max int) error {
	switch {
	case !utf8.ValidString(v):
		return fmt.Errorf("%s is not valid UTF-8: %w", field, ErrInvalid)
	case utf8.RuneCountInString(v) > max:
		return fmt.Errorf("%s is longer than %d characters: %w", field, max, ErrInvalid)
	}
	for _, r := range v {
		if unicode.IsControl(r) && r != '\n' && r != '\t' && r != '\r' {
			return fmt.Errorf("%s contains a control character: %w", field, ErrInvalid)
		}
	}
	return nil
}

// escapeLike escapes LIKE wildcards so user input matches literally.
func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// like returns "col LIKE ? ESCAPE '\'", the same on both dialects (SQLite has no default escape).
func like(col string) string { return col + ` LIKE ? ESCAPE '\'` }
