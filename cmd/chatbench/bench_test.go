package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/redistest"
)

func TestExactCountsOneInstance(t *testing.T) {
	url := memoryInstance(t, 1000, 1000)
	rep, _ := benchJSON(t, "-urls", url, "-rooms", "2", "-members", "3", "-senders", "1",
		"-rate", "20", "-duration", "1s", "-drain", "5s", "-sources", "3", "-room-prefix", testkit.Room())
	checkExact(t, rep, 6, 3)
	// 2 senders at 20/s for 1 s.
	if rep.Sent < 30 || rep.Sent > 44 {
		t.Errorf("sent %d; want about 40", rep.Sent)
	}
	noBenchGoroutines(t)
}

func TestExactCountsTwoInstancesOverRedis(t *testing.T) {
	addr := redistest.Addr(t)
	urls := redisInstances(t, addr, 2)
	// 3 members per room over 2 instances: every room spans both.
	rep, _ := benchJSON(t, "-urls", strings.Join(urls, ","), "-rooms", "3", "-members", "3", "-senders", "2",
		"-rate", "20", "-duration", "1s", "-sources", "2", "-room-prefix", testkit.Room())
	checkExact(t, rep, 9, 3)
	noBenchGoroutines(t)
}

func TestRefusedSendsAreCountedNotExpected(t *testing.T) {
	// The server lets each session send one message every 5 s with a burst
	// of 2: a send past the burst would wait longer than the server holds
	// one back, so it is refused. The sender tries 50/s.
	url := memoryInstance(t, 0.2, 2)
	rep, _ := benchJSON(t, "-urls", url, "-rooms", "1", "-members", "2", "-rate", "50",
		"-duration", "500ms", "-room-prefix", testkit.Room())
	if rep.Refused == 0 || rep.Accepted == 0 || rep.Accepted+rep.Refused != rep.Sent || rep.Unanswered != 0 {
		t.Errorf("sent %d: accepted %d, refused %d, unanswered %d; want some of each, all answered",
			rep.Sent, rep.Accepted, rep.Refused, rep.Unanswered)
	}
	if rep.Expected != 2*rep.Accepted || rep.Received != rep.Expected || rep.Lost != 0 || rep.Duplicated != 0 {
		t.Errorf("expected %d, received %d, lost %d, duplicated %d; want 2×%d received", rep.Expected, rep.Received, rep.Lost, rep.Duplicated, rep.Accepted)
	}
	var slowDown int
	for reason, n := range rep.RefusalReasons {
		if strings.HasPrefix(reason, "Slow down") {
			slowDown += n
		}
	}
	if int64(slowDown) != rep.Refused {
		t.Errorf("refusal reasons %v; want %d× Slow down", rep.RefusalReasons, rep.Refused)
	}
}

func TestJSONIsOneLineWithTheKeys(t *testing.T) {
	url := memoryInstance(t, 1000, 1000)
	_, out := benchJSON(t, "-urls", url, "-rooms", "1", "-members", "2", "-rate", "10",
		"-duration", "300ms", "-page=false", "-pids", strconv.Itoa(os.Getpid()), "-room-prefix", testkit.Room())
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("want exactly one line, got:\n%s", out)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{
		"proto", "connections", "connect_failed", "connect_s", "sent", "accepted", "refused",
		"expected", "received", "lost", "duplicated", "deliveries_per_s", "deliveries_per_s_span",
		"latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "latency_max_ms",
		"servers", "rss_per_conn_kb", "server_cpu_send_s", "deliveries_per_server_cpu_s",
		"generator_cpu_s", "interrupted",
	} {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing from %s", k, out)
		}
	}
	servers, _ := m["servers"].([]any)
	if len(servers) != 1 {
		t.Fatalf("servers: %v", m["servers"])
	}
	s := servers[0].(map[string]any)
	if s["rss_after_kb"].(float64) <= 0 || s["cpu_after_s"].(float64) <= 0 || s["error"] != nil {
		t.Errorf("server sample of this process: %v", s)
	}
}

func TestTextReport(t *testing.T) {
	url := memoryInstance(t, 1000, 1000)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"chatbench", "-urls", url, "-rooms", "1", "-members", "2",
		"-rate", "10", "-duration", "300ms", "-room-prefix", testkit.Room()}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	for _, want := range []string{"connections  2 made, 0 failed", "0 lost, 0 duplicated", "latency      p50"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestIdleHoldsConnections(t *testing.T) {
	url := memoryInstance(t, 1000, 1000)
	rep, _ := benchJSON(t, "-urls", url, "-rooms", "2", "-members", "5", "-idle", "300ms",
		"-pids", strconv.Itoa(os.Getpid()), "-room-prefix", testkit.Room())
	if rep.Connections != 10 || rep.Sent != 0 || rep.Received != 0 || rep.Disconnects != 0 || rep.Interrupted {
		t.Errorf("idle run: %+v", rep)
	}
	if len(rep.Servers) != 1 || rep.Servers[0].RSSMidKB <= 0 {
		t.Errorf("servers: %+v", rep.Servers)
	}
}

func TestInterruptedRunClosesAndReports(t *testing.T) {
	url := memoryInstance(t, 1000, 1000)
	// Cut the run in its hour-long sending phase.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	start := time.Now()
	err := run(ctx, []string{"chatbench", "-json", "-urls", url, "-rooms", "1", "-members", "2",
		"-rate", "10", "-duration", "1h", "-room-prefix", testkit.Room()}, &out)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("run: %v; want interrupted", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("run took %s after its context ended", d)
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || !rep.Interrupted || rep.Connections != 2 || rep.Sent == 0 {
		t.Errorf("report %q (%v); want interrupted after sending", out.String(), err)
	}
	noBenchGoroutines(t)
}

func TestRefusesRemoteTargets(t *testing.T) {
	for _, args := range [][]string{
		{"-urls", "http://203.0.113.7:8080"},
		{"-urls", "http://127.0.0.1:8080,https://chat.example.com"},
		{"-urls", "http://example.com", "-sources", "2", "-allow-remote"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"chatbench"}, args...), &out)
		if err == nil {
			t.Errorf("%v: run succeeded; want refused", args)
		} else if !strings.Contains(err.Error(), "loopback") {
			t.Errorf("%v: %v; want a loopback refusal", args, err)
		}
		if out.Len() != 0 {
			t.Errorf("%v: wrote %q", args, out.String())
		}
	}
	if _, err := parseConfig([]string{"-urls", "http://203.0.113.7:8080", "-allow-remote"}, nil); err != nil {
		t.Errorf("-allow-remote: %v", err)
	}
	for _, host := range []string{"127.0.0.1", "127.1.2.3", "::1", "localhost"} {
		if !isLoopbackHost(host) {
			t.Errorf("%s is loopback", host)
		}
	}
	for _, host := range []string{"10.0.0.1", "example.com", "0.0.0.0", "localhost.example.com"} {
		if isLoopbackHost(host) {
			t.Errorf("%s is not loopback", host)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-rooms", "0"},
		{"-senders", "11"},
		{"-rate", "0"},
		{"-room-prefix", "Bench"},
		{"-room-prefix", strings.Repeat("x", 63)},
		{"-urls", "ftp://127.0.0.1"},
		{"-urls", "http://127.0.0.1/chat"},
		{"-pids", "x"},
		{"-sources", "0"},
		{"stray"},
	} {
		if _, err := parseConfig(args, nil); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	c, err := parseConfig(nil, nil)
	if err != nil || c.rooms != 10 || c.members != 10 || c.senders != 1 || c.rate != 1 || !c.page || c.roomPrefix != "bench" {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}

func TestAddresses(t *testing.T) {
	seen := map[string]bool{}
	for i := range 70000 {
		ip := fakeClientIP(i)
		if !strings.HasPrefix(ip, "198.18.") && !strings.HasPrefix(ip, "198.19.") {
			t.Fatalf("client %d: %s outside 198.18.0.0/15", i, ip)
		}
		if seen[ip] {
			t.Fatalf("client %d: %s repeated", i, ip)
		}
		seen[ip] = true
	}
	if got := sourceIP(5, 3).String(); got != "127.0.0.3" {
		t.Errorf("source of 5 over 3: %s", got)
	}
}

// -typing: every member says it is typing every 2 s (as a page does);
// the first signal of each reaches the room's four pages, the sender's
// included, and the repeats that follow within 5 s are held by the server
// (3 s after the frame that had the name) or dropped when that person's
// message comes: no page gets more than was sent.
func TestTypingLoad(t *testing.T) {
	url := memoryInstance(t, 1000, 1000)
	rep, _ := benchJSON(t, "-urls", url, "-rooms", "1", "-members", "4", "-senders", "1",
		"-rate", "5", "-duration", "4s", "-drain", "5s", "-typing", "2s", "-room-prefix", testkit.Room())
	checkExact(t, rep, 4, 4)
	// 4 members, one every 2 s (as a page sends them; an instance relays a
	// name's signal at most every 1.5 s) for 4 s: 2 or 3 each.
	if rep.TypingSent < 8 || rep.TypingSent > 12 {
		t.Errorf("typing sent %d; want 8 to 12", rep.TypingSent)
	}
	if rep.TypingReceived < 4*4 || rep.TypingReceived > 4*rep.TypingSent {
		t.Errorf("typing signals received %d for %d sent to 4 members, want each member's first at every page and no more than sent", rep.TypingReceived, rep.TypingSent)
	}
	noBenchGoroutines(t)
}
