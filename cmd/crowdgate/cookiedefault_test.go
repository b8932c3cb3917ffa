package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/store"
	"github.com/crowdgate/crowdgate/store/storetest"
)

// TestSecureCookieDefault: over https the Crowd SSO cookie becomes Secure unless the console
// saved a setting; over http crowdgate warns at start.
func TestSecureCookieDefault(t *testing.T) {
	ctx := context.Background()
	run := func(st *store.Store, base string) string {
		var buf bytes.Buffer
		if err := secureCookieDefault(ctx, st, base, true, slog.New(slog.NewTextHandler(&buf, nil))); err != nil {
			t.Fatal(err)
		}
		return buf.String()
	}
	st := storetest.New(t)
	run(st, "https://sso.example.com")
	if cc := storetest.Must(st.CookieConfig(ctx)); !cc.Secure || cc.Name != store.DefaultCookieName {
		t.Errorf("https: cookie %+v, want Secure", cc)
	}

	saved := storetest.New(t)
	if err := saved.SetCookieConfig(ctx, store.CookieConfig{Name: store.DefaultCookieName, Domain: "example.com"}); err != nil {
		t.Fatal(err)
	}
	if logs := run(saved, "https://sso.example.com"); !strings.Contains(logs, "is not Secure although crowdgate is served over https") {
		t.Errorf("no warning for a saved non-Secure cookie: %s", logs)
	}
	if cc := storetest.Must(saved.CookieConfig(ctx)); cc.Secure || cc.Domain != "example.com" {
		t.Errorf("saved setting changed: %+v", cc)
	}

	plain := storetest.New(t)
	if logs := run(plain, "http://sso.example.com"); !strings.Contains(logs, "not served over https") || !strings.Contains(logs, "SameSite=None") {
		t.Errorf("no warning over http: %s", logs)
	}
	if cc := storetest.Must(plain.CookieConfig(ctx)); cc.Secure {
		t.Errorf("http: cookie %+v, want not Secure", cc)
	}
}
