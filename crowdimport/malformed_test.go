package crowdimport_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/crowdimport"
	"github.com/crowdgate/crowdgate/store"
)

// lineOf returns the 1-based line of the last occurrence of start before the first occurrence of
// anchor in s (the start tag of the element holding anchor).
func lineOf(t *testing.T, s, anchor, start string) int {
	t.Helper()
	i := strings.Index(s, anchor)
	if i < 0 {
		t.Fatalf("anchor %q not in the input", anchor)
	}
	j := strings.LastIndex(s[:i], start)
	if j < 0 {
		t.Fatalf("no %q before %q", start, anchor)
	}
	return strings.Count(s[:j], "\n") + 1
}

func TestBackupMalformed(t *testing.T) {
	raw, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	base := string(raw)
	replace := func(old, new string) string {
		if !strings.Contains(base, old) {
			t.Fatalf("%q not in the golden backup", old)
		}
		return strings.Replace(base, old, new, 1)
	}
	type want struct {
		input string
		parts []string // every part must appear in the error
	}
	cases := map[string]func() want{
		"truncated": func() want {
			cut := strings.Index(base, "<lastName>Doe</lastName>")
			in := base[:cut]
			return want{in, []string{fmt.Sprintf("line %d", strings.Count(in, "\n")+1), "<user>", "truncated",
				fmt.Sprintf("starts at line %d", lineOf(t, base, "<name>jdoe</name>", "<user>"))}}
		},
		"truncated between elements": func() want {
			in := base[:strings.Index(base, "  <applications>")]
			return want{in, []string{"truncated", "</crowd>"}}
		},
		"unknown hash format": func() want {
			in := replace("<credential>P2wnzuYcc", "<credential>{CRYPT}abXyZ12P2wnzuYcc")
			return want{in, []string{fmt.Sprintf("line %d", lineOf(t, in, "<name>jdoe</name>", "<user>")), "<user>",
				`user "jdoe"`, "<credential>", "unknown password hash format", `"{CRYPT}"`}}
		},
		"membership to a missing group": func() want {
			in := replace("<parentName>developers</parentName>\n      <childName>jdoe</childName>",
				"<parentName>devs</parentName>\n      <childName>jdoe</childName>")
			return want{in, []string{fmt.Sprintf("line %d", lineOf(t, in, "<parentName>devs</parentName>", "<membership>")),
				"<membership>", `group "devs" is not a group of directory "Crowd Internal Directory"`}}
		},
		"membership of a missing user": func() want {
			in := replace("<childName>bwayne</childName>", "<childName>bruce</childName>")
			return want{in, []string{fmt.Sprintf("line %d", lineOf(t, in, "<childName>bruce</childName>", "<membership>")),
				"<membership>", `user "bruce" is not a user`}}
		},
		"duplicate names differing in case": func() want {
			in := replace("<name>bwayne</name>", "<name>JDoe</name>")
			return want{in, []string{fmt.Sprintf("line %d", lineOf(t, in, "<name>JDoe</name>", "<user>")), "<user>",
				`user "JDoe" and "jdoe" (line ` + fmt.Sprint(lineOf(t, in, "<name>jdoe</name>", "<user>")) + `) differ only in case`}}
		},
		"duplicate group names": func() want {
			in := replace("<name>developers</name>", "<name>Confluence-Users</name>")
			return want{in, []string{"<group>", `group "confluence-users" and "Confluence-Users" (line`, "differ only in case"}}
		},
		"nesting cycle": func() want {
			in := replace("  </memberships>", `    <membership>
      <parentName>developers</parentName>
      <childName>jira-software-users</childName>
      <membershipType>GROUP_GROUP</membershipType>
      <directoryId>32769</directoryId>
    </membership>
  </memberships>`)
			return want{in, []string{"<membership>", "cycle", "developers", "jira-software-users"}}
		},
		"unknown directory": func() want {
			in := replace("<directoryId>32769</directoryId>\n      <credential>{MD5}", "<directoryId>4242</directoryId>\n      <credential>{MD5}")
			return want{in, []string{"<user>", `user "cclark" is in directory 4242, which is not in the backup's <directories>`}}
		},
		"bad directory id": func() want {
			in := replace("<directoryId>32769</directoryId>\n      <credential>{MD5}", "<directoryId>x1</directoryId>\n      <credential>{MD5}")
			return want{in, []string{fmt.Sprintf("line %d", lineOf(t, in, "<name>cclark</name>", "<user>")), "<user>", `"x1" is not a number`}}
		},
		"malformed XML": func() want {
			in := replace("<email>jdoe@example.com</email>", "<email>jdoe@example.com</emial>")
			return want{in, []string{fmt.Sprintf("line %d", lineOf(t, in, "</emial>", "<email>")), "<user>", "malformed XML"}}
		},
		"unknown membership type": func() want {
			in := replace("<membershipType>GROUP_GROUP</membershipType>", "<membershipType>GROUP_ROLE</membershipType>")
			return want{in, []string{"<membership>", `unknown <membershipType> "GROUP_ROLE"`}}
		},
		"invalid user name": func() want {
			in := replace("<name>jdoe</name>", "<name> jdoe</name>")
			return want{in, []string{"<user>", "must not start or end with white space"}}
		},
		"not a Crowd backup": func() want {
			return want{"<?xml version=\"1.0\"?>\n<jira-backup><users/></jira-backup>\n", []string{"line 2", "<jira-backup>", "root element must be <crowd>"}}
		},
		"empty": func() want {
			return want{"", []string{"empty"}}
		},
	}
	eachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		// An earlier, good import: a failed one must leave it exactly as it was.
		if _, err := crowdimport.BackupFile(ctx, golden, st, crowdimport.Options{}); err != nil {
			t.Fatal(err)
		}
		before := takeSnapshot(t, st)
		for name, mk := range cases {
			t.Run(name, func(t *testing.T) {
				w := mk()
				_, err := crowdimport.Backup(ctx, strings.NewReader(w.input), st, crowdimport.Options{})
				if err == nil {
					t.Fatal("no error")
				}
				if !errors.Is(err, crowdimport.ErrInvalidInput) {
					t.Errorf("error is not ErrInvalidInput: %v", err)
				}
				for _, p := range w.parts {
					if !strings.Contains(err.Error(), p) {
						t.Errorf("error lacks %q:\n%v", p, err)
					}
				}
				if after := takeSnapshot(t, st); !after.equal(before) {
					t.Errorf("the store changed: %+v -> %+v", before, after)
				}
			})
		}
	})
}

// TestBackupOnEmptyStoreFailsClean checks a refused backup leaves an empty store empty (no
// directory created ahead of the users).
func TestBackupOnEmptyStoreFailsClean(t *testing.T) {
	raw, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Replace(string(raw), "<parentName>developers</parentName>", "<parentName>nobody</parentName>", 1)
	eachDialect(t, func(t *testing.T, st *store.Store) {
		before := takeSnapshot(t, st)
		rep, err := crowdimport.Backup(context.Background(), strings.NewReader(in), st, crowdimport.Options{})
		var ve *crowdimport.ValidationError
		if !errors.As(err, &ve) || ve.Total != 1 || ve.Problems[0].Element != "membership" || ve.Problems[0].Line == 0 {
			t.Fatalf("error = %#v", err)
		}
		if rep == nil || rep.Changes() != 0 {
			t.Errorf("report = %v", rep)
		}
		if after := takeSnapshot(t, st); !after.equal(before) {
			t.Errorf("the store changed: %+v -> %+v", before, after)
		}
	})
}
