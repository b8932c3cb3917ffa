package crowdapi

import (
	"bytes"
	"reflect"
	"testing"
	"time"
)

// sessionXMLGeneral is what respond writes for the session entity through encoding/xml.
func sessionXMLGeneral(t testing.TB, base, token, name string, created, expiry time.Time) []byte {
	t.Helper()
	u := minimalUser(base, namer(false), name)
	b, err := encodeXML(sessionEntity{Expand: "user", Token: token, User: &u,
		Link:        &link{Rel: "self", Href: base + "/session/" + token},
		CreatedDate: newTime(created), ExpiryDate: newTime(expiry)})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSessionXMLMatchesEncoder(t *testing.T) {
	created := time.Date(2024, 2, 11, 8, 0, 0, 123456789, time.FixedZone("X", 3600))
	expiry := created.Add(30 * time.Minute)
	base := "http://crowd.example.com/crowd/rest/usermanagement/1"
	for _, name := range []string{"jdoe", "Anne.O'Neil@example.com", `a&b<c>"d'e`, "tab\there\nnewline\rcr",
		"ünïcødé 名前", "bad\xffutf8", "ctl\x01char", "plus+hash#amp&eq= space", ""} {
		for _, tok := range []string{"kCCPyYk0H60hTbvVSYwYbw00", "tok&<>"} {
			for _, times := range [][2]time.Time{{created, expiry}, {}} {
				want := sessionXMLGeneral(t, base, tok, name, times[0], times[1])
				got := appendSessionXML(nil, base, tok, name, times[0], times[1])
				if !bytes.Equal(got, want) {
					t.Errorf("name %q token %q:\n got %s\nwant %s", name, tok, got, want)
				}
			}
		}
	}
}

// TestAppendXMLTime: the digit-by-digit writer says what AppendFormat says, in every zone, at the
// edges of four-digit years and beyond them (where it hands over to AppendFormat).
func TestAppendXMLTime(t *testing.T) {
	zones := []*time.Location{time.UTC, time.FixedZone("X", 3600), time.FixedZone("Y", -(9*3600 + 30*60))}
	times := []time.Time{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 6, 1, 0, 0, 0, 0, time.UTC), time.Date(0, 2, 29, 12, 0, 0, 1e6, time.UTC),
		time.Date(2026, 12, 7, 3, 4, 5, 6e6, time.UTC), time.Date(1999, 12, 31, 23, 59, 59, 999e6, time.UTC)}
	for i := int64(0); i < 2000; i++ {
		times = append(times, time.UnixMilli(i*987654321097%(1<<48)-(1<<46)))
	}
	for _, tm := range times {
		for _, z := range zones {
			want := tm.In(z).UTC().AppendFormat([]byte("x"), xmlTimeLayout)
			if got := appendXMLTime([]byte("x"), tm.In(z)); !bytes.Equal(got, want) {
				t.Fatalf("%v: %s, want %s", tm, got, want)
			}
		}
	}
}

func FuzzSessionXML(f *testing.F) {
	f.Add("jdoe", "kCCPyYk0H60hTbvVSYwYbw00", "http://h/crowd/rest/usermanagement/1", int64(1707638400123))
	f.Add(`a&b<"'>`, "t\x00", "", int64(0))
	f.Fuzz(func(t *testing.T, name, token, base string, ms int64) {
		var created time.Time
		if ms > 0 && ms < 1<<50 {
			created = time.UnixMilli(ms)
		}
		want := sessionXMLGeneral(t, base, token, name, created, created)
		if got := appendSessionXML(nil, base, token, name, created, created); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

var factorDocs = []string{
	// Jira's and Confluence's embedded client (Crowd 2.x), with the prolog and without.
	`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><validation-factors><validation-factor><name>remote_address</name><value>10.0.0.1</value></validation-factor></validation-factors>`,
	`<validation-factors><validation-factor><name>remote_address</name><value>10.0.0.1</value></validation-factor><validation-factor><name>X-Forwarded-For</name><value>192.0.2.7, 10.0.0.2</value></validation-factor></validation-factors>`,
	"<?xml version=\"1.0\"?>\n<validation-factors>\n  <validation-factor>\n    <value>::1</value>\n    <name>remote_address</name>\n  </validation-factor>\n</validation-factors>\n",
	`<validation-factors/>`,
	`<validation-factors></validation-factors>`,
	`<validation-factors><validation-factor><name>remote_address</name><value/></validation-factor></validation-factors>`,
	`<validation-factors><validation-factor><name>ünï</name><value>名前</value></validation-factor></validation-factors>`,
	// The general decoder's cases: entities, CDATA, comments, attributes, \r, unknown or repeated
	// elements, wrong root, malformed.
	`<validation-factors><validation-factor><name>a&amp;b</name><value>&#x31;</value></validation-factor></validation-factors>`,
	`<validation-factors><validation-factor><name><![CDATA[x]]></name><value>1</value></validation-factor></validation-factors>`,
	`<validation-factors><!-- c --><validation-factor><name>x</name><value>1</value></validation-factor></validation-factors>`,
	`<validation-factors a="1"><validation-factor><name>x</name><value>1</value></validation-factor></validation-factors>`,
	"<validation-factors><validation-factor><name>x\r\ny</name><value>1</value></validation-factor></validation-factors>",
	`<validation-factors><validation-factor><name>x</name><other>y</other><value>1</value></validation-factor></validation-factors>`,
	`<validation-factors><validation-factor><name>x</name><name>y</name></validation-factor></validation-factors>`,
	`<factors><validation-factor><name>x</name><value>1</value></validation-factor></factors>`,
	`<validation-factors><validation-factor><name>x</name><value>1</value></validation-factor>`,
	`<validation-factors><validation-factor><name>x</value></validation-factor></validation-factors>`,
	`<validation-factors></validation-factors><validation-factors></validation-factors>`,
	"<validation-factors><validation-factor><name>\x01</name></validation-factor></validation-factors>",
}

// checkFactors fails when the hand-written reader accepts a document and reads it differently
// from encoding/xml.
func checkFactors(t *testing.T, doc string) bool {
	t.Helper()
	got, ok := parseFactorsXML([]byte(doc))
	if !ok {
		return false
	}
	var want validationFactorsEntity
	if err := decodeXML([]byte(doc), &want); err != nil {
		t.Fatalf("fast reader accepted what encoding/xml refuses (%v): %q", err, doc)
	}
	if len(got) != 0 || len(want.Factors) != 0 {
		if !reflect.DeepEqual(got, want.Factors) {
			t.Fatalf("%q: fast %+v, encoding/xml %+v", doc, got, want.Factors)
		}
	}
	return true
}

func TestParseFactorsXML(t *testing.T) {
	fast := 0
	for _, doc := range factorDocs {
		if checkFactors(t, doc) {
			fast++
		}
	}
	// The first seven are the shapes clients send: they must take the fast path.
	if fast != 7 {
		t.Errorf("%d documents took the fast path, want the 7 client shapes", fast)
	}
	if f, ok := parseFactorsXML([]byte(factorDocs[1])); !ok || len(f) != 2 || f[1].Value != "192.0.2.7, 10.0.0.2" {
		t.Errorf("Jira's two factors: %+v %v", f, ok)
	}
}

func FuzzFactorsXML(f *testing.F) {
	for _, d := range factorDocs {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, doc string) { checkFactors(t, doc) })
}
