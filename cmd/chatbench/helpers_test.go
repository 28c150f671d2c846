package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/chatrun/chat/handlers"
	"github.com/chatrun/chat/internal/app"
	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/realtime/redisbroker"
)

// startInstance serves the chat in-process on broker until the test ends,
// wired as cmd/chat wires it (internal/app; package main cannot be
// imported).
func startInstance(t *testing.T, broker realtime.Broker, secret string, sendRate float64, burst int) string {
	t.Helper()
	url, _ := startStoppable(t, broker, secret, sendRate, burst)
	return url
}

// startStoppable is startInstance with a stop that shuts the instance down
// before the test ends, as cmd/chat does on SIGTERM: it stops accepting
// and, at the same time, closes every socket with 1012, cutting those still
// open after 5 s. Stopping again, or at cleanup, does nothing more.
func startStoppable(t *testing.T, broker realtime.Broker, secret string, sendRate float64, burst int) (url string, stop func()) {
	t.Helper()
	chat := app.New(broker, handlers.Config{
		Secret:    []byte(secret),
		SendRate:  rate.Limit(sendRate),
		SendBurst: burst,
		// The bench's X-Forwarded-For stands in for Cloud Run's front
		// end: each socket is a browser of its own, not 100 at most
		// from loopback.
		TrustProxy: true,
	}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	hubDone := chat.Start(ctx)
	ts := httptest.NewServer(chat.Handler())
	var once sync.Once
	stop = func() {
		once.Do(func() {
			var closed sync.WaitGroup
			closed.Go(ts.Close)
			cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
			chat.CloseSockets(cctx)
			ccancel()
			closed.Wait()
			cancel()
			<-hubDone
		})
	}
	t.Cleanup(stop)
	return ts.URL, stop
}

// memoryInstance is one instance alone on the in-memory broker.
func memoryInstance(t *testing.T, sendRate float64, burst int) string {
	t.Helper()
	broker := realtime.NewMemoryBroker(100)
	t.Cleanup(func() { broker.Close() }) // runs after the instance stops
	return startInstance(t, broker, "k", sendRate, burst)
}

// redisInstances are n instances of one deployment sharing a Redis.
func redisInstances(t *testing.T, addr string, n int) []string {
	t.Helper()
	var urls []string
	for range n {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		broker := redisbroker.New(rdb, 100)
		t.Cleanup(func() {
			broker.Close()
			rdb.Close()
		})
		urls = append(urls, startInstance(t, broker, "shared-secret", 1000, 1000))
	}
	return urls
}

// bench runs chatbench with args and -json, and decodes its report.
func benchJSON(t *testing.T, args ...string) (*report, string) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := run(ctx, append([]string{"chatbench", "-json"}, args...), &out)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	return &rep, out.String()
}

// noBenchGoroutines fails the test if a goroutine of chatbench's own code
// (not its tests) is still running shortly after run returned.
func noBenchGoroutines(t *testing.T) {
	t.Helper()
	var stacks string
	for range 100 {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		left := false
		for g := range strings.SplitSeq(stacks, "\n\n") {
			if strings.Contains(g, "main.(*member)") || strings.Contains(g, "main.(*bench)") || strings.Contains(g, "main.run(") {
				left = true
			}
		}
		if !left {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("chatbench goroutines left running after run returned:\n%s", stacks)
}

// checkExact asserts that every accepted message reached every member once.
func checkExact(t *testing.T, rep *report, conns int, members int64) {
	t.Helper()
	if rep.Connections != conns || rep.ConnectFailed != 0 {
		t.Errorf("connections %d, failed %d (%v); want %d, 0", rep.Connections, rep.ConnectFailed, rep.ConnectErrors, conns)
	}
	if rep.Sent == 0 || rep.Accepted != rep.Sent || rep.Refused != 0 || rep.Unanswered != 0 {
		t.Errorf("sent %d, accepted %d, refused %d, unanswered %d; want all accepted", rep.Sent, rep.Accepted, rep.Refused, rep.Unanswered)
	}
	if want := rep.Accepted * members; rep.Expected != want || rep.Received != want {
		t.Errorf("expected %d, received %d; want both %d (accepted × members)", rep.Expected, rep.Received, want)
	}
	if rep.Lost != 0 || rep.Duplicated != 0 || rep.Unexpected != 0 || rep.Foreign != 0 || rep.Disconnects != 0 {
		t.Errorf("lost %d, duplicated %d, unexpected %d, foreign %d, disconnects %d; want 0",
			rep.Lost, rep.Duplicated, rep.Unexpected, rep.Foreign, rep.Disconnects)
	}
	if !rep.Drained {
		t.Error("drain timed out")
	}
	if rep.LatencyCount != uint64(rep.Received) || rep.LatencyMax <= 0 || rep.LatencyP50 > rep.LatencyP99 || rep.LatencyP99 > rep.LatencyMax {
		t.Errorf("latency: %d samples, p50 %g p99 %g max %g ms", rep.LatencyCount, rep.LatencyP50, rep.LatencyP99, rep.LatencyMax)
	}
}
