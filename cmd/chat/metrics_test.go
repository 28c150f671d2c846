package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
)

// metricsEnv is env with a metrics listener on a free loopback port.
func metricsEnv(env map[string]string) map[string]string {
	env = maps.Clone(env)
	env["METRICS_ADDR"] = "127.0.0.1:0"
	return env
}

// metricsAddr is where inst serves its metrics, from its "metrics listening"
// log line (written before "listening", so startInstance has seen it), or
// "" when it serves none.
func metricsAddr(inst *instance) string {
	for _, line := range inst.Logs() {
		var rec struct{ Message, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Message == "metrics listening" {
			return rec.Addr
		}
	}
	return ""
}

// scraper is a client of inst's metrics listener, for scrape and waitMetric.
// The instance must have been started with METRICS_ADDR (metricsEnv).
func scraper(t *testing.T, inst *instance) *chattest.User {
	t.Helper()
	addr := metricsAddr(inst)
	if addr == "" {
		t.Fatal("the instance serves no metrics: start it with METRICS_ADDR (metricsEnv)")
	}
	return chattest.NewUser(t, "http://"+addr)
}

// scrape returns the samples of /metrics by name (labels included); u is a
// scraper of the instance's metrics listener.
func scrape(t *testing.T, u *chattest.User) map[string]float64 {
	t.Helper()
	resp, body := u.Get("/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("%s/metrics: %d (metrics are served on METRICS_ADDR only: scrape through scraper)", u.Base, resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// waitMetric polls /metrics until name has the value want.
func waitMetric(t *testing.T, u *chattest.User, name string, want float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := scrape(t, u)[name]
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
		time.Sleep(20 * time.Millisecond) // polling a counter: there is nothing to wait on
	}
}

// The counters move when messages flow.
func TestMetricsMoveWithTraffic(t *testing.T) {
	inst := startInstance(t, metricsEnv(sharedEnv("")))
	room := testkit.Room()
	ann, bob := chattest.NewUser(t, inst.URL), chattest.NewUser(t, inst.URL)
	ann.SignIn("Ann", room)
	bob.SignIn("Bob", room)
	prom := scraper(t, inst)
	before := scrape(t, prom)
	for _, name := range []string{"chat_sockets_open", "chat_rooms_active", "chat_messages_in_total", "chat_deliveries_out_total", "chat_slow_clients_dropped_total", "chat_redis_errors_total", "chat_room_resyncs_total", "chat_fanout_seconds_count", "go_goroutines"} {
		if _, ok := before[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	annWS, bobWS := ann.Dial(room), bob.Dial(room)
	annWS.Next()
	bobWS.Next()
	waitMetric(t, prom, "chat_sockets_open", 2)
	waitMetric(t, prom, "chat_rooms_active", 1)
	for i := range 3 {
		annWS.Send(fmt.Sprintf("m%d", i), fmt.Sprintf("n%d", i))
		bobWS.Until(fmt.Sprintf(`id="msg-%d"`, i+1))
	}
	// A fan-out is counted once its writes are done, which may be just
	// after Bob reads the last message: wait for the counters to settle.
	for name, want := range map[string]float64{
		"chat_messages_in_total":    3,
		"chat_deliveries_out_total": 6, // three messages to two sockets
		"chat_fanout_seconds_count": 3,
	} {
		waitMetric(t, prom, name, before[name]+want)
	}
	annWS.Conn.CloseNow()
	bobWS.Conn.CloseNow()
	waitMetric(t, prom, "chat_sockets_open", 0)
	waitMetric(t, prom, "chat_rooms_active", 0)
}

// Metrics are served on METRICS_ADDR alone: the service's port answers
// /metrics with its 404 page, and the metrics listener serves nothing else
// and closes when the service stops.
func TestMetricsOnlyOnMetricsAddr(t *testing.T) {
	inst := startInstance(t, metricsEnv(sharedEnv("")))
	public := chattest.NewUser(t, inst.URL)
	if resp, _ := public.Get("/metrics"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the service's port: %d, want 404", resp.StatusCode)
	}
	prom := scraper(t, inst)
	if _, ok := scrape(t, prom)["chat_sockets_open"]; !ok {
		t.Error("the metrics listener serves no chat_sockets_open")
	}
	for _, path := range []string{"/", "/health", "/rooms/r"} {
		if resp, _ := prom.Get(path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s on the metrics listener: %d, want 404", path, resp.StatusCode)
		}
	}
	addr := metricsAddr(inst)
	inst.stop()
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		c.Close()
		t.Errorf("the metrics listener %s still accepts after the service stopped", addr)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial the stopped metrics listener: %v, want connection refused", err)
	}
}

// Without METRICS_ADDR there is no metrics listener at all.
func TestMetricsNotServedWithoutMetricsAddr(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	if addr := metricsAddr(inst); addr != "" {
		t.Errorf("metrics listening on %s without METRICS_ADDR", addr)
	}
	if resp, _ := chattest.NewUser(t, inst.URL).Get("/metrics"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the service's port: %d, want 404", resp.StatusCode)
	}
}
