package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/testkit/redistest"
)

// instance is a chat service started in-process through run, as main does.
type instance struct {
	URL  string
	stop func() time.Duration // cancels run's context; returns how long run took to return

	mu   sync.Mutex
	logs []string
}

// startInstance runs the service with env as its environment, on a free
// loopback port, until the test ends. It calls run, not internal/app, so
// that the end-to-end tests cover the real wiring: configuration, broker,
// metrics listener and drain.
func startInstance(t *testing.T, env map[string]string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	inst := &instance{}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			inst.mu.Lock()
			inst.logs = append(inst.logs, line)
			inst.mu.Unlock()
			var rec struct{ Message, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Message == "listening" {
				addr <- rec.Addr
			}
		}
	}()
	done := make(chan error, 1)
	getenv := func(k string) string { return env[k] }
	go func() {
		done <- run(ctx, []string{"chat", "-listen", "127.0.0.1:0"}, getenv, pw)
		pw.Close()
	}()
	select {
	case a := <-addr:
		inst.URL = "http://" + a
	case err := <-done:
		cancel()
		t.Fatalf("run returned before listening: %v\n%s", err, strings.Join(inst.Logs(), "\n"))
	case <-time.After(15 * time.Second):
		cancel()
		t.Fatal("instance did not start listening within 15 s")
	}
	var once sync.Once
	var took time.Duration
	inst.stop = func() time.Duration {
		once.Do(func() {
			start := time.Now()
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("run did not return within 15 s of its context ending")
			}
			took = time.Since(start)
		})
		return took
	}
	t.Cleanup(func() { inst.stop() })
	return inst
}

func (i *instance) Logs() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]string(nil), i.logs...)
}

// sharedEnv is the environment of instances that form one deployment.
func sharedEnv(redisAddr string) map[string]string {
	env := map[string]string{"SESSION_SECRET": "test-secret-" + rand.Text()}
	if redisAddr != "" {
		host, port, _ := strings.Cut(redisAddr, ":")
		env["REDISHOST"], env["REDISPORT"] = host, port
	}
	return env
}

// store is the Redis, one server or a cluster, that a test's instances
// share, with a client to read what they stored.
type store struct {
	env map[string]string
	rdb redis.UniversalClient
}

// forEachStore runs body on one Redis and on a Redis Cluster, as subtests.
func forEachStore(t *testing.T, body func(t *testing.T, st store)) {
	t.Run("redis", func(t *testing.T) {
		addr := redistest.Addr(t)
		host, port, _ := strings.Cut(addr, ":")
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { rdb.Close() })
		body(t, store{env: map[string]string{"REDISHOST": host, "REDISPORT": port}, rdb: rdb})
	})
	t.Run("cluster", func(t *testing.T) {
		seeds := redistest.ClusterAddrs(t)
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: seeds})
		t.Cleanup(func() { rdb.Close() })
		body(t, store{env: map[string]string{"REDIS_CLUSTER": strings.Join(seeds, ",")}, rdb: rdb})
	})
}

// shared is the environment of instances that form one deployment on st.
func (st store) shared() map[string]string {
	env := sharedEnv("")
	maps.Copy(env, st.env)
	return env
}
