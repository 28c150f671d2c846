package main

import (
	"maps"
	"net/http"
	"strings"
	"testing"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// TLS and a password, as Memorystore's in-transit encryption and AUTH ask
// for, on one Redis and on a cluster; without the password, not ready.
func TestRedisOverTLSWithPassword(t *testing.T) {
	for _, cluster := range []bool{false, true} {
		name := "redis"
		if cluster {
			name = "cluster"
		}
		t.Run(name, func(t *testing.T) {
			sec := redistest.StartSecured(t, cluster)
			env := sharedEnv("")
			if cluster {
				env["REDIS_CLUSTER"] = sec.Addr
			} else {
				env["REDISHOST"], env["REDISPORT"], _ = strings.Cut(sec.Addr, ":")
			}
			env["REDIS_TLS"], env["REDIS_CA_CERT"] = "1", sec.CAFile
			noPassword := maps.Clone(env)
			env["REDIS_PASSWORD"] = sec.Password

			a, b := startInstance(t, env), startInstance(t, env)
			if resp, body := chattest.NewUser(t, a.URL).Get("/ready"); resp.StatusCode != http.StatusOK || body != "ready\n" {
				t.Fatalf("/ready: %d %q\n%s", resp.StatusCode, body, strings.Join(a.Logs(), "\n"))
			}
			room := testkit.Room()
			_, annWS := chattest.JoinAs(t, a.URL, "Ann", room)
			_, bobWS := chattest.JoinAs(t, b.URL, "Bob", room)
			annWS.Send("over TLS", "n1")
			bobWS.Until(">over TLS<")

			c := startInstance(t, noPassword)
			if resp, _ := chattest.NewUser(t, c.URL).Get("/ready"); resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("/ready without the password: %d, want 503", resp.StatusCode)
			}
		})
	}
}
