//go:build pprof

package main

// Built with -tags pprof, the service serves net/http/pprof on the address
// in CHAT_PPROF_ADDR (for example 127.0.0.1:6061), apart from its own port,
// for the profiles in docs/PERFORMANCE.md. Release builds do not have it.

import (
	"log"
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("CHAT_PPROF_ADDR"); addr != "" {
		go func() { log.Println(http.ListenAndServe(addr, nil)) }()
	}
}
