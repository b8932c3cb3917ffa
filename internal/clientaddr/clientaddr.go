// Package clientaddr finds a request's client address behind trusted reverse proxies, the one rule
// the Crowd API, the console and the SAML endpoints share.
package clientaddr

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Trusted says whether an address is one of the trusted proxies (store.AddressList is one).
type Trusted interface {
	Empty() bool
	Contains(ctx context.Context, addr netip.Addr) bool
}

// Of returns the client address of r: the socket peer, or behind trusted proxies the address
// they forwarded (see Resolve).
func Of(r *http.Request, trusted Trusted) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return Resolve(r.Context(), peer, r.Header.Values("X-Forwarded-For"), trusted)
}

// Resolve applies the trusted-proxy rule to a socket peer and the X-Forwarded-For header values:
// the chain is the header's addresses followed by the peer, and the client is the right-most
// address that is not a trusted proxy. Whatever is left of it was written by the client itself and
// proves nothing: "1.1.1.1, 203.0.113.9" forwarded by a trusted proxy is 203.0.113.9. When every
// address is a trusted proxy the left-most one is the client. A trusted proxy forwarding an entry
// that is not an address leaves the client unknown: the zero Addr, which no allow-list contains.
func Resolve(ctx context.Context, peer netip.Addr, xff []string, trusted Trusted) netip.Addr {
	client := peer.Unmap()
	if len(xff) == 0 || trusted.Empty() {
		return client
	}
	var chain []string
	for _, v := range xff {
		chain = append(chain, strings.Split(v, ",")...)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		if !trusted.Contains(ctx, client) {
			return client
		}
		a, err := netip.ParseAddr(strings.TrimSpace(chain[i]))
		if err != nil {
			return netip.Addr{}
		}
		client = a.Unmap()
	}
	return client
}

// LoopbackHost reports whether a URL's host name is this machine (localhost or a loopback
// address): the one place plain http is acceptable for a URL crowdgate serves or fetches.
func LoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
