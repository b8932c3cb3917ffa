package crowdapi

import (
	"encoding/json"
	"mime"
	"testing"

	"github.com/crowdgate/crowdgate/store"
)

// Fuzz targets for every parser of outside input: CQL, search restriction bodies, and the XML and
// JSON request entities. None may panic; parsed results must be usable.

func FuzzCQL(f *testing.F) {
	for _, s := range []string{
		"email=bob@example.net", `firstName = "bob" and email = "bob@example.net"`, `name = "admin*" and active = false`,
		"lastName = Smith or lastName = Jones", "createdDate > 2010-12-01 or firstName = Jo*", `(name=a or name=b) and active=true`,
		`name = 'it\'s'`, `name = "\u0041"`, "((((name=x))))", "name=*x*", "", "(", "name=", `"unterminated`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		for _, kind := range []string{store.SearchUsers, store.SearchGroups} {
			r, err := parseCQL(src, kind)
			if err != nil {
				continue
			}
			if depth(r) > maxCQLDepth+2 {
				t.Fatalf("restriction deeper than allowed: %q", src)
			}
		}
	})
}

func depth(r store.Restriction) int {
	d := 0
	for _, c := range r.Children {
		if x := depth(c); x > d {
			d = x
		}
	}
	return d + 1
}

func FuzzRestrictionBody(f *testing.F) {
	for _, s := range []string{
		`<null-search-restriction/>`,
		`<property-search-restriction><property><name>email</name><type>STRING</type></property><match-mode>CONTAINS</match-mode><value>@example.com</value></property-search-restriction>`,
		`<boolean-search-restriction boolean-logic="or"><restrictions><null-search-restriction/><property-search-restriction><property><name>name</name><type>STRING</type></property><match-mode>NULL</match-mode></property-search-restriction></restrictions></boolean-search-restriction>`,
		`{"property-search-restriction":{"property":{"name":"name","type":"STRING"},"match-mode":"EXACTLY_MATCHES","value":"x"}}`,
		`{"boolean-logic":"AND","restrictions":[{},{"property":{"name":"active"},"match-mode":"EXACTLY_MATCHES","value":true}]}`,
		`<!DOCTYPE x [<!ENTITY a "b">]><null-search-restriction/>`, `{}`, `<`, `{"restrictions":[`,
	} {
		f.Add([]byte(s), "")
		f.Add([]byte(s), "application/json")
	}
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		r, err := parseRestriction(body, ct)
		if err == nil && depth(r) > store.MaxRestrictionDepth+2 {
			t.Fatalf("restriction deeper than allowed")
		}
	})
}

func FuzzEntities(f *testing.F) {
	for _, s := range []string{
		`<user name="u"><first-name>F</first-name><password><value>p</value></password><active>true</active><attributes><attribute name="k"><values><value>v</value></values></attribute></attributes></user>`,
		`<group name="g"><description>d</description><type>GROUP</type><active>false</active></group>`,
		`<authentication-context><username>u</username><password>p</password><validation-factors><validation-factor><name>remote_address</name><value>1.2.3.4</value></validation-factor></validation-factors></authentication-context>`,
		`<validation-factors/>`, `<rename><new-name>n</new-name></rename>`, `<password/>`,
		`{"name":"u","active":"true","created-date":1682936430123,"attributes":{"attributes":[{"name":"k","values":["v"]}]}}`,
		`{"username":"u","validation-factors":{"validationFactors":[{"name":"remote_address","value":"x"}]}}`,
		`{"validation-factor":[{"name":"a","value":"b"}]}`, `{"active":"maybe"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		targets := []func() any{
			func() any { return &userEntity{} }, func() any { return &groupEntity{} }, func() any { return &authContextEntity{} },
			func() any { return &validationFactorsEntity{} }, func() any { return &attributesEntity{} }, func() any { return &renameEntity{} },
			func() any { return &passwordEntity{} }, func() any { return &webhookEntity{} },
		}
		for _, mk := range targets {
			v := mk()
			if decodeXML(body, v) == nil {
				if _, err := marshalJSON(v); err != nil {
					t.Fatalf("decoded %T does not encode: %v", v, err)
				}
			}
			_ = json.Unmarshal(body, mk())
		}
		if a := attributesIn(&attributesEntity{}); a == nil {
			t.Fatal("attributesIn returned nil for an empty list")
		}
	})
}

// FuzzMediaType holds mediaType's short cut to mime.ParseMediaType's answer.
func FuzzMediaType(f *testing.F) {
	for _, s := range []string{
		"application/xml", "application/xml; charset=UTF-8", " Application/JSON ;charset=utf-8 ", "*/*", "text/*;q=0.9",
		"application/xml;", "application/xml; charset", "application/xml; charset=\"UTF-8\"", "application", "/xml", "a/b/c",
		"application/xml; charset=UTF-8; q=1", "application/xml;charset=UTF-8 ", "", "x/y;=", "x/y; charset=a b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got, gotErr := mediaType(v)
		want, _, wantErr := mime.ParseMediaType(v)
		if got != want || (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("mediaType(%q) = %q, %v; mime says %q, %v", v, got, gotErr, want, wantErr)
		}
	})
}
