package saml_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crowdgate/crowdgate/internal/totp"
	"github.com/crowdgate/crowdgate/saml"
	"github.com/crowdgate/crowdgate/saml/samltest"
	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

func breakGlassCode(t *testing.T, f *fixture, query, code string) *samltest.Page {
	t.Helper()
	b := samltest.NewBrowser(t)
	v := breakGlassForm(t, f, b, query)
	v.Set("username", "root")
	v.Set("password", rootPassword)
	v.Set("code", code)
	return b.Post(f.sso.URL+"/sso/breakglass", v)
}

// TestBreakGlassSecondFactor: with the second factor required, root without one may enter the
// console only (where enrolment waits); enrolled, root needs a code: none, a wrong one or a
// replayed one are refused with one answer, a fresh code and a recovery code (once) get in.
func TestBreakGlassSecondFactor(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false, func(c *saml.Config) { c.RequireSecondFactor = true })
	jira := "app=jira&dest=" + url.QueryEscape(dashboardPath)

	p := breakGlassCode(t, f, jira, "")
	if p.Status != http.StatusUnauthorized {
		t.Fatalf("not enrolled, into Jira: %d %s", p.Status, p.Body)
	}
	if !strings.Contains(f.logs.all(), "has no second factor, which is required") {
		t.Error("the refusal's reason is not logged")
	}
	if p := breakGlassCode(t, f, "", ""); p.Status != http.StatusOK || p.Body != "console of root" {
		t.Fatalf("not enrolled, into the console: %d %s", p.Status, p.Body)
	}

	ctx := store.WithActor(context.Background(), store.Actor{Kind: store.ActorSystem, Name: "test"})
	root := storetest.Must(f.st.UserByName(ctx, f.internal.ID, "root"))
	secret := storetest.Must(f.st.StartTOTP(ctx, root))
	now := time.Now()
	codes := storetest.Must(f.st.ConfirmTOTPCode(ctx, root, storetest.Must(totp.Code(secret, now))))
	next := storetest.Must(totp.Code(secret, now.Add(totp.Period)))
	wrong := "000000"
	if next == wrong {
		wrong = "111111"
	}
	for _, tc := range []struct{ name, code string }{{"no code", ""}, {"wrong code", wrong}} {
		if p := breakGlassCode(t, f, "", tc.code); p.Status != http.StatusUnauthorized || !strings.Contains(p.Body, "Sign-in failed.") {
			t.Errorf("%s: %d %s", tc.name, p.Status, p.Body)
		}
	}
	if p := breakGlassCode(t, f, "", next); p.Status != http.StatusOK || p.Body != "console of root" {
		t.Fatalf("with a fresh code: %d %s", p.Status, p.Body)
	}
	if p := breakGlassCode(t, f, "", next); p.Status != http.StatusUnauthorized {
		t.Errorf("replayed code: %d %s", p.Status, p.Body)
	}
	if p := breakGlassCode(t, f, jira, codes[0]); p.URL.Path != jiraPath+dashboardPath {
		t.Fatalf("recovery code into Jira ended at %s (%d): %s", p.URL, p.Status, p.Body)
	}
	if p := breakGlassCode(t, f, "", codes[0]); p.Status != http.StatusUnauthorized {
		t.Errorf("recovery code used twice: %d %s", p.Status, p.Body)
	}
}

// TestSignInFloodsAggregated: wrong break-glass passwords and junk posted to the ACS from one
// address are one audit row per endpoint (and minute), holding the count.
func TestSignInFloodsAggregated(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	const n = 60
	status := map[int]int{}
	for range n {
		b := samltest.NewBrowser(t)
		v := breakGlassForm(t, f, b, "")
		v.Set("username", "root")
		v.Set("password", "a guess")
		status[b.Post(f.sso.URL+"/sso/breakglass", v).Status]++
	}
	// 5 checked failures, then waits: a slow run may outlast a wait and have one more checked.
	checked := status[http.StatusUnauthorized]
	if checked < store.GuardSlowAfter || checked+status[http.StatusTooManyRequests] != n || status[http.StatusTooManyRequests] < n/2 {
		t.Fatalf("break-glass answers %v", status)
	}
	acs := map[int]int{}
	for i := range n {
		resp, err := http.PostForm(f.sso.URL+"/saml/acs", url.Values{"SAMLResponse": {"bm90IFNBTUw" + strings.Repeat("x", i%3)}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		acs[resp.StatusCode]++
	}
	if acs[http.StatusBadRequest] != n {
		t.Fatalf("ACS answers %v", acs)
	}
	if err := f.st.FlushSignInFailures(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		action, kind string
		want         int
	}{{"BREAKGLASS_LOGIN", "USER", checked}, {"LOGIN_FAILED", "SAML", n}} {
		es, err := f.st.ListAudit(context.Background(), store.AuditFilter{Action: tc.action, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		rows, total := 0, 0
		for _, e := range es {
			if e.ActorKind != store.ActorSAML || e.Outcome != "FAILURE" || e.ObjectKind != tc.kind {
				continue
			}
			var d struct{ Count int }
			if err := json.Unmarshal([]byte(e.Details), &d); err != nil {
				t.Fatalf("%s details %q: %v", tc.action, e.Details, err)
			}
			rows, total = rows+1, total+d.Count
		}
		if rows < 1 || rows > 2 || total != tc.want { // 2 rows when the minute turns during the flood
			t.Errorf("%s: %d rows counting %d, want 1 row counting %d", tc.action, rows, total, tc.want)
		}
		t.Logf("%s: %d failures in %d audit row(s)", tc.action, total, rows)
	}
}
