package crowdapi_test

import (
	"io"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/crowdgate/crowdgate/crowdapi"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestRoutes pins the exact list of routes (targets S4): a new route, debug or otherwise, must be
// added here on purpose.
func TestRoutes(t *testing.T) {
	h, err := crowdapi.New(crowdapi.Config{ContextPath: "/crowd"}, storetest.New(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e, ok := h.(interface{ Routes() []*echo.Route })
	if !ok {
		t.Fatalf("handler is %T", h)
	}
	var got []string
	for _, r := range e.Routes() {
		if strings.Contains(r.Path, "/rest/usermanagement/1/") {
			got = append(got, r.Method+" "+strings.TrimPrefix(r.Path, "/crowd/rest/usermanagement/1"))
		} else if !strings.Contains(r.Path, "/rest/usermanagement/latest/") {
			t.Errorf("route outside the API: %s %s", r.Method, r.Path)
		}
	}
	sort.Strings(got)
	want := strings.Fields(`DELETE_/group DELETE_/group/attribute DELETE_/group/child-group/direct DELETE_/group/user/direct
DELETE_/session DELETE_/session/:token DELETE_/user DELETE_/user/attribute DELETE_/user/group/direct DELETE_/user/password
DELETE_/webhook/:id GET_/config/cookie GET_/event GET_/event/:token GET_/group GET_/group/attribute
GET_/group/child-group/direct GET_/group/child-group/nested GET_/group/membership GET_/group/parent-group/direct
GET_/group/parent-group/nested GET_/group/user/direct GET_/group/user/nested GET_/search GET_/session/:token GET_/user
GET_/user/attribute GET_/user/group/direct GET_/user/group/nested GET_/webhook/:id POST_/authentication
POST_/authentication/notify POST_/group POST_/group/attribute POST_/group/child-group/direct POST_/group/parent-group/direct
POST_/group/user/direct POST_/search POST_/session POST_/session/:token POST_/user POST_/user/attribute
POST_/user/expire-all-passwords POST_/user/group/direct POST_/user/mail/password POST_/user/mail/usernames POST_/user/rename
POST_/webhook PUT_/group PUT_/user PUT_/user/password`)
	for i := range want {
		want[i] = strings.Replace(want[i], "_", " ", 1)
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("routes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
