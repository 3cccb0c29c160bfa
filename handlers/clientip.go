package handlers

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ClientIP returns the caller's address from X-Forwarded-For, counting
// trustedHops entries from the right: the platform appends the socket address
// (as ip:port) after whatever the client sent, so only the rightmost entries
// are trustworthy (reference/functions-custom-handler.md §8).
func ClientIP(r *http.Request, trustedHops int) (netip.Addr, error) {
	var entries []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e != "" {
				entries = append(entries, e)
			}
		}
	}
	if trustedHops < 1 {
		trustedHops = 1
	}
	if len(entries) < trustedHops {
		return netip.Addr{}, fmt.Errorf("X-Forwarded-For has %d entries, need at least %d platform-added ones", len(entries), trustedHops)
	}
	return parseHostPort(entries[len(entries)-trustedHops])
}

// parseHostPort accepts "1.2.3.4", "1.2.3.4:5678", "[2001:db8::1]:443" and "2001:db8::1".
func parseHostPort(s string) (netip.Addr, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), nil
	}
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil && a.Zone() == "" {
		return a.Unmap(), nil
	}
	return netip.Addr{}, fmt.Errorf("X-Forwarded-For entry %q is not an IP address", s)
}
