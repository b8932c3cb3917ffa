package store

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// checkAddress validates one remote-address entry: an IP, a CIDR range or a host name.
func checkAddress(a string) error {
	if a == "" {
		return fmt.Errorf("remote address must not be empty: %w", ErrInvalid)
	}
	if _, err := netip.ParseAddr(a); err == nil {
		return nil
	}
	if _, err := netip.ParsePrefix(a); err == nil {
		return nil
	}
	if strings.Contains(a, "/") || strings.ContainsAny(a, " \t") || len(a) > 253 {
		return fmt.Errorf("remote address %q is not an IP address, CIDR range or host name: %w", a, ErrInvalid)
	}
	for _, label := range strings.Split(a, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("remote address %q is not an IP address, CIDR range or host name: %w", a, ErrInvalid)
		}
		for _, r := range label {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				return fmt.Errorf("remote address %q is not an IP address, CIDR range or host name: %w", a, ErrInvalid)
			}
		}
	}
	return nil
}

// checkBaseURL validates an application base URL (where sign-in may send the browser back to).
func checkBaseURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return fmt.Errorf("application URL %q must be an absolute http(s) URL: %w", u, ErrInvalid)
	}
	return nil
}

// AddressList matches client addresses against IPs, CIDR ranges and host names.
type AddressList struct {
	prefixes []netip.Prefix
	hosts    []string
}

// ParseAddressList parses entries as checkAddress accepts them.
func ParseAddressList(entries []string) (AddressList, error) {
	var l AddressList
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if err := checkAddress(e); err != nil {
			return AddressList{}, err
		}
		if a, err := netip.ParseAddr(e); err == nil {
			l.prefixes = append(l.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		} else if p, err := netip.ParsePrefix(e); err == nil {
			l.prefixes = append(l.prefixes, p.Masked())
		} else {
			l.hosts = append(l.hosts, strings.ToLower(e))
		}
	}
	return l, nil
}

// Empty reports whether the list has no entries.
func (l AddressList) Empty() bool { return len(l.prefixes) == 0 && len(l.hosts) == 0 }

// Contains reports whether addr matches an IP or range; host names are resolved (with a short
// timeout) and match when one of their addresses is addr.
func (l AddressList) Contains(ctx context.Context, addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range l.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	if len(l.hosts) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	for _, h := range l.hosts {
		ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
		if err != nil {
			continue
		}
		for _, ip := range ips {
			if ip.Unmap() == addr {
				return true
			}
		}
	}
	return false
}
