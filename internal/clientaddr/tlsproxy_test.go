package clientaddr_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crowdgate/crowdgate/internal/clientaddr"
	"github.com/crowdgate/crowdgate/store"
)

// TestWarnTLSProxy: HTTPS forwarded by a trusted proxy to a crowdgate without an https base URL is
// warned about once; untrusted peers, plain HTTP and an https base URL are not.
func TestWarnTLSProxy(t *testing.T) {
	trusted, err := store.ParseAddressList([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	send := func(h http.Handler, peer, proto string) {
		r := httptest.NewRequest("GET", "/console/", nil)
		r.RemoteAddr = peer + ":40000"
		if proto != "" {
			r.Header.Set("X-Forwarded-Proto", proto)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusNoContent {
			t.Fatalf("the request did not reach the handler: %d", w.Code)
		}
	}
	var out bytes.Buffer
	h := clientaddr.WarnTLSProxy(ok, trusted, false, slog.New(slog.NewTextHandler(&out, nil)))
	send(h, "198.51.100.7", "https") // not a trusted proxy
	send(h, "10.0.0.5", "http")
	if out.Len() != 0 {
		t.Fatalf("warned without cause: %s", out.String())
	}
	send(h, "10.0.0.5", "https")
	send(h, "10.0.0.6", "HTTPS")
	if n := strings.Count(out.String(), "level=WARN"); n != 1 || !strings.Contains(out.String(), "CROWDGATE_BASE_URL") {
		t.Errorf("%d warnings, want 1 naming CROWDGATE_BASE_URL: %s", n, out.String())
	}
	out.Reset()
	send(clientaddr.WarnTLSProxy(ok, trusted, true, slog.New(slog.NewTextHandler(&out, nil))), "10.0.0.5", "https")
	if out.Len() != 0 {
		t.Errorf("warned with an https base URL: %s", out.String())
	}
}
