package crowdapi

import "testing"

func TestCollapseEmpty(t *testing.T) {
	for in, want := range map[string]string{
		`<a></a>`: `<a/>`,
		`<user name="x"><link rel="self" href="h"></link></user>`: `<user name="x"><link rel="self" href="h"/></user>`,
		`<a>text</a>`:    `<a>text</a>`,
		`<a><b></b></a>`: `<a><b/></a>`,
		`<a x="1"></b>`:  `<a x="1"></b>`,
		`<description></description><t>GROUP</t>`: `<description/><t>GROUP</t>`,
		`<?xml version="1.0"?><e></e>`:            `<?xml version="1.0"?><e/>`,
		`<a></a><b></b>`:                          `<a/><b/>`,
		`plain`:                                   `plain`,
	} {
		if got := string(collapseEmpty([]byte(in))); got != want {
			t.Errorf("collapseEmpty(%q) = %q, want %q", in, got, want)
		}
	}
}
