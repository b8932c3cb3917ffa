package crowdapi_test

import (
	"strings"
	"testing"
)

// TestJSONErrorsInCrowdTerms: a JSON body of the wrong shape is refused naming the JSON field and
// types, never crowdgate's Go types.
func TestJSONErrorsInCrowdTerms(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ body, want string }{
		{`{"name": 42}`, `field \"name\" must be a string, not number`},
		{`{"name": "eve", "active": "yes"}`, `\"yes\" is not a boolean`},
		{`["eve"]`, `the body must be an object, not array`},
		{`{"name": `, `not valid JSON`},
	} {
		r := e.must(req{method: "POST", path: "/user", body: tc.body, contentType: "application/json", accept: "application/json"}, 400)
		if !strings.Contains(r.body, `"reason":"ILLEGAL_ARGUMENT"`) || !strings.Contains(r.body, tc.want) {
			t.Errorf("%s: %s, want ILLEGAL_ARGUMENT with %s", tc.body, r.body, tc.want)
		}
		for _, leak := range []string{"Go struct", "Entity", "unmarshal", "crowdapi."} {
			if strings.Contains(r.body, leak) {
				t.Errorf("%s: the answer names Go internals (%q): %s", tc.body, leak, r.body)
			}
		}
	}
}
