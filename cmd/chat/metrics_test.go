package main

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// scrape returns the samples of /metrics by name (labels included).
func scrape(t *testing.T, u *user) map[string]float64 {
	t.Helper()
	resp, body := u.get("/metrics")
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
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
func waitMetric(t *testing.T, u *user, name string, want float64) {
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
	inst := startInstance(t, sharedEnv(""))
	room := uniqueRoom()
	ann, bob := newUser(t, inst.URL), newUser(t, inst.URL)
	ann.signIn("Ann", room)
	bob.signIn("Bob", room)
	before := scrape(t, ann)
	for _, name := range []string{"chat_sockets_open", "chat_rooms_active", "chat_messages_in_total", "chat_deliveries_out_total", "chat_slow_clients_dropped_total", "chat_redis_errors_total", "chat_room_resyncs_total", "chat_fanout_seconds_count", "go_goroutines"} {
		if _, ok := before[name]; !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	annWS, bobWS := ann.dial(room), bob.dial(room)
	annWS.next()
	bobWS.next()
	waitMetric(t, ann, "chat_sockets_open", 2)
	waitMetric(t, ann, "chat_rooms_active", 1)
	for i := range 3 {
		annWS.send(fmt.Sprintf("m%d", i), fmt.Sprintf("n%d", i))
		bobWS.until(fmt.Sprintf(`id="msg-%d"`, i+1))
	}
	after := scrape(t, ann)
	for name, want := range map[string]float64{
		"chat_messages_in_total":    3,
		"chat_deliveries_out_total": 6, // three messages to two sockets
		"chat_fanout_seconds_count": 3,
	} {
		if got := after[name] - before[name]; got != want {
			t.Errorf("%s moved by %v, want %v", name, got, want)
		}
	}
	annWS.conn.CloseNow()
	bobWS.conn.CloseNow()
	waitMetric(t, ann, "chat_sockets_open", 0)
	waitMetric(t, ann, "chat_rooms_active", 0)
}
