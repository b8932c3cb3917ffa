package clientaddr

import (
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
)

// WarnTLSProxy wraps h to log one warning, the first time a trusted proxy forwards a request it
// received over HTTPS (X-Forwarded-Proto: https) while crowdgate believes it is served over plain
// HTTP (secure false: the base URL is not https and crowdgate terminates no TLS itself). Then
// cookies are not Secure and no HSTS is sent: the operator must set the https base URL
// (docs/behind-a-proxy.md).
func WarnTLSProxy(h http.Handler, trusted Trusted, secure bool, log *slog.Logger) http.Handler {
	if secure || trusted.Empty() {
		return h
	}
	var once sync.Once
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https") {
			host, _, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				host = r.RemoteAddr
			}
			if peer, err := netip.ParseAddr(host); err == nil && trusted.Contains(r.Context(), peer.Unmap()) {
				once.Do(func() {
					log.Warn("a trusted proxy forwards HTTPS requests but the base URL is not https: cookies are not marked Secure "+
						"and HSTS is not sent; set CROWDGATE_BASE_URL to the https:// URL browsers use (docs/behind-a-proxy.md)",
						"proxy", peer.Unmap().String(), "host", r.Host)
				})
			}
		}
		h.ServeHTTP(w, r)
	})
}
