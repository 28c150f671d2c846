package handlers

import (
	"net"
	"net/http"
	"strings"
)

// clientIP is the address that the per-address socket cap counts r under.
//
// Behind a proxy (trustProxy), it is the last X-Forwarded-For entry: the one
// the proxy, such as Cloud Run's front end, added; a client can only put
// entries before it. Without a proxy, anyone can write that header, and a
// made-up address on every socket would get past the cap: the peer's
// address counts, whatever the header says.
func clientIP(r *http.Request, trustProxy bool) string {
	if trustProxy {
		// A proxy appends to the last header line, or adds a line of its own.
		if lines := r.Header.Values("X-Forwarded-For"); len(lines) > 0 {
			entries := strings.Split(lines[len(lines)-1], ",")
			if ip := strings.TrimSpace(entries[len(entries)-1]); ip != "" {
				return ip
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
