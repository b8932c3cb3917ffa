package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// healthcheck asks a running server's /readyz and exits non-zero unless it answers 200. The
// container image has no shell, curl or wget (distroless), so Docker's HEALTHCHECK and compose's
// healthcheck run the binary itself.
func (c *cli) healthcheck(ctx context.Context, args []string) error {
	fs := c.flagSet(lookup("healthcheck"))
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	pos, err := c.parse(fs, args, 0, 1)
	if err != nil {
		return helpOK(err)
	}
	url := ""
	if len(pos) == 1 {
		url = pos[0]
	} else {
		url = "http://" + loopback(c.healthAddr()) + "/readyz"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(c.stderr, "crowdgate healthcheck: %v\n", err)
		return errUsage
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d %s", url, resp.StatusCode, body)
	}
	return nil
}

// healthAddr is where the server answers /readyz over plain HTTP: the health listener when there
// is one, else the main listener (which speaks HTTPS when CROWDGATE_TLS_CERT is set: then set
// CROWDGATE_HEALTH_LISTEN, or pass the URL).
func (c *cli) healthAddr() string {
	if a := c.getenv("CROWDGATE_HEALTH_LISTEN"); a != "" {
		return a
	}
	if a := c.getenv("CROWDGATE_LISTEN"); a != "" {
		return a
	}
	return "127.0.0.1:8095"
}

// loopback turns a listen address into one to dial from the same host: a wildcard host becomes
// 127.0.0.1.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
