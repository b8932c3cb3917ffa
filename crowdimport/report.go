package crowdimport

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Counts says what happened to the objects of one kind.
type Counts struct {
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Skipped   int `json:"skipped"`
}

// Skipped is one reason objects were left out, with how many and a few of their names.
type Skipped struct {
	Kind     string   `json:"kind"` // "directory", "user", "group", "membership", "application", ...
	Reason   string   `json:"reason"`
	Count    int      `json:"count"`
	Examples []string `json:"examples,omitempty"` // at most maxExamples names
}

// ApplicationPassword is a password crowdgate generated for an imported application because
// Crowd's credential could not be carried over. It is shown once: set it in Jira or Confluence.
type ApplicationPassword struct {
	Application string `json:"application"`
	Password    string `json:"-"`
}

// Report says what an import did (or, in a dry run, would do) and why. It prints as a summary.
type Report struct {
	Source   string        `json:"source"`
	DryRun   bool          `json:"dry_run"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration"`

	Directories      Counts `json:"directories"`
	Users            Counts `json:"users"`
	Groups           Counts `json:"groups"`
	UserMemberships  Counts `json:"user_memberships"`
	GroupMemberships Counts `json:"group_memberships"`
	Applications     Counts `json:"applications"`

	// Passwords counts imported users by what happened to their password: a format name (kept as
	// Crowd stored it, re-hashed at next sign-in), "DES, decrypted", "DES, no key", "none", or
	// "kept (set in crowdgate)" for users that already had one.
	Passwords map[string]int `json:"passwords"`

	Skipped              []Skipped             `json:"skipped,omitempty"`
	Warnings             []string              `json:"warnings,omitempty"`
	Notes                []string              `json:"notes,omitempty"`
	ApplicationPasswords []ApplicationPassword `json:"-"`

	skipIndex map[string]int
	warnings  int
}

const (
	maxExamples = 5
	maxWarnings = 100
)

func newReport(source string, dry bool, started time.Time) *Report {
	return &Report{Source: source, DryRun: dry, Started: started, Passwords: map[string]int{}, skipIndex: map[string]int{}}
}

// skip records that an object of kind was left out for reason.
func (r *Report) skip(kind, reason, name string) {
	key := kind + "\x00" + reason
	i, ok := r.skipIndex[key]
	if !ok {
		i = len(r.Skipped)
		r.skipIndex[key] = i
		r.Skipped = append(r.Skipped, Skipped{Kind: kind, Reason: reason})
	}
	s := &r.Skipped[i]
	s.Count++
	if name != "" && len(s.Examples) < maxExamples {
		s.Examples = append(s.Examples, name)
	}
}

func (r *Report) warn(format string, args ...any) {
	r.warnings++
	if len(r.Warnings) < maxWarnings {
		r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
	}
}

func (r *Report) note(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	if !slices.Contains(r.Notes, n) {
		r.Notes = append(r.Notes, n)
	}
}

// Changes is the number of objects created or updated.
func (r *Report) Changes() int {
	n := 0
	for _, c := range r.counts() {
		n += c.c.Created + c.c.Updated
	}
	return n
}

type namedCounts struct {
	name string
	c    Counts
}

func (r *Report) counts() []namedCounts {
	return []namedCounts{
		{"directories", r.Directories}, {"users", r.Users}, {"groups", r.Groups},
		{"user memberships", r.UserMemberships}, {"group memberships", r.GroupMemberships},
		{"applications", r.Applications},
	}
}

// String is the printed summary.
func (r *Report) String() string {
	var b bytes.Buffer
	r.WriteTo(&b)
	return b.String()
}

// WriteTo prints the summary: the counts table, passwords, skips with their reasons, warnings,
// notes and, once, the generated application passwords.
func (r *Report) WriteTo(w io.Writer) (int64, error) {
	var b bytes.Buffer
	if r.DryRun {
		fmt.Fprintf(&b, "Dry run of the import from %s: nothing was written.\n", r.Source)
	} else {
		fmt.Fprintf(&b, "Import from %s.\n", r.Source)
	}
	verb := map[bool]string{true: "would create", false: "created"}[r.DryRun]
	upd := map[bool]string{true: "would update", false: "updated"}[r.DryRun]
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\t%s\t%s\tunchanged\tskipped\t\n", verb, upd)
	for _, c := range r.counts() {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t\n", c.name, c.c.Created, c.c.Updated, c.c.Unchanged, c.c.Skipped)
	}
	tw.Flush()
	if len(r.Passwords) > 0 {
		keys := slices.Sorted(maps.Keys(r.Passwords))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s %d", k, r.Passwords[k])
		}
		fmt.Fprintf(&b, "Passwords: %s.\n", strings.Join(parts, ", "))
	}
	if len(r.Skipped) > 0 {
		b.WriteString("Skipped:\n")
		for _, s := range r.Skipped {
			fmt.Fprintf(&b, "  %d %s: %s", s.Count, plural(s.Kind, s.Count), s.Reason)
			if len(s.Examples) > 0 {
				fmt.Fprintf(&b, " (%s", strings.Join(quoteAll(s.Examples), ", "))
				if s.Count > len(s.Examples) {
					b.WriteString(", ...")
				}
				b.WriteString(")")
			}
			b.WriteString("\n")
		}
	}
	if len(r.Warnings) > 0 {
		b.WriteString("Warnings:\n")
		for _, wn := range r.Warnings {
			fmt.Fprintf(&b, "  %s\n", wn)
		}
		if r.warnings > len(r.Warnings) {
			fmt.Fprintf(&b, "  ... and %d more\n", r.warnings-len(r.Warnings))
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("Notes:\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "  %s\n", n)
		}
	}
	if len(r.ApplicationPasswords) > 0 {
		b.WriteString("Application passwords generated by crowdgate (shown only now; set each in the application's Crowd directory settings):\n")
		for _, p := range r.ApplicationPasswords {
			fmt.Fprintf(&b, "  %s: %s\n", p.Application, p.Password)
		}
	}
	fmt.Fprintf(&b, "Took %s.\n", r.Duration.Round(time.Millisecond))
	n, err := w.Write(b.Bytes())
	return int64(n), err
}

func plural(kind string, n int) string {
	if n == 1 {
		return kind
	}
	switch {
	case strings.HasSuffix(kind, "y"):
		return kind[:len(kind)-1] + "ies"
	case strings.HasSuffix(kind, "s"):
		return kind + "es"
	}
	return kind + "s"
}

func quoteAll(v []string) []string {
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}
