package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/api"
	"github.com/crowdgate/crowdgate/internal/doctor"
)

// TestDoctorPage: the console runs the setup checks on request and the overview then shows the
// last results; with no checker configured the page does not exist.
func TestDoctorPage(t *testing.T) {
	runs := 0
	h := newHarness(t, func(c *api.Config) {
		c.Doctor = func(context.Context) []doctor.Result {
			runs++
			return []doctor.Result{
				{Check: "database", Status: doctor.OK, Detail: "reachable"},
				{Check: "cookie domain", Status: doctor.Fail, Detail: "the SSO cookie is not sent to wiki (wiki.example.org)"},
			}
		}
	})
	c := h.loggedIn()
	over := c.Get("/console/")
	wantStatus(t, over, http.StatusOK)
	wantContains(t, over.Body, `id="setup-checks"`, "Run the checks")
	if runs != 0 {
		t.Fatalf("the overview ran the checks (%d times); they run on request only", runs)
	}
	r := c.Get("/console/doctor")
	wantStatus(t, r, http.StatusOK)
	wantContains(t, r.Body, `data-check="cookie domain"`, "the SSO cookie is not sent to wiki (wiki.example.org)", `badge error">FAIL`)
	over = c.Get("/console/")
	wantContains(t, over.Body, "a check failed", `data-check="database"`, "Run again")
	if runs != 1 {
		t.Errorf("checks ran %d times, want 1", runs)
	}

	plain := newHarness(t).loggedIn()
	wantStatus(t, plain.Get("/console/doctor"), http.StatusNotFound)
	if strings.Contains(plain.Get("/console/").Body, "setup-checks") {
		t.Error("the overview offers setup checks without a checker")
	}
}
