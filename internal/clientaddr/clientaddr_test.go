package clientaddr_test

import (
	"context"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/crowdgate/crowdgate/internal/clientaddr"
	"github.com/crowdgate/crowdgate/store"
)

func TestResolve(t *testing.T) {
	trusted, err := store.ParseAddressList([]string{"10.0.0.0/8", "192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	proxy := netip.MustParseAddr("10.0.0.5")
	outsider := netip.MustParseAddr("198.51.100.7")
	for _, tc := range []struct {
		name string
		peer netip.Addr
		xff  []string
		want string
	}{
		{"no header", proxy, nil, "10.0.0.5"},
		{"one hop", proxy, []string{"203.0.113.9"}, "203.0.113.9"},
		// What the client wrote left of the address the proxy saw proves nothing.
		{"client-written junk", proxy, []string{"junk, 203.0.113.9"}, "203.0.113.9"},
		{"client-written address", proxy, []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"client claims a trusted address", proxy, []string{"10.0.0.9, 203.0.113.9"}, "203.0.113.9"},
		{"two trusted hops", proxy, []string{"203.0.113.9, 192.0.2.1"}, "203.0.113.9"},
		{"header lines", proxy, []string{"1.1.1.1", "203.0.113.9, 192.0.2.1"}, "203.0.113.9"},
		{"all trusted", proxy, []string{"10.1.1.1, 192.0.2.1"}, "10.1.1.1"},
		{"junk from a trusted proxy", proxy, []string{"203.0.113.9, junk"}, "invalid IP"},
		{"untrusted peer", outsider, []string{"10.0.0.9"}, "198.51.100.7"},
		{"IPv4-mapped", netip.MustParseAddr("::ffff:10.0.0.5"), []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := clientaddr.Resolve(context.Background(), tc.peer, tc.xff, trusted); got.String() != tc.want {
				t.Errorf("client %s, want %s", got, tc.want)
			}
		})
	}
	// Without trusted proxies the header is ignored.
	if got := clientaddr.Resolve(context.Background(), proxy, []string{"203.0.113.9"}, store.AddressList{}); got != proxy {
		t.Errorf("no trusted proxies: %s", got)
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.5:41234"
	r.Header.Set("X-Forwarded-For", "1.1.1.1, 203.0.113.9")
	if got := clientaddr.Of(r, trusted); got.String() != "203.0.113.9" {
		t.Errorf("Of: %s", got)
	}
}
