// Command redisfloor measures what Redis itself spends, in CPU, on the
// least a chat message could ask of it: one round trip. It is the store's
// counterpart of ../shared/bench/floor. At a steady rate it sends
// round trips of one kind, each from its own goroutine over go-redis's
// pool (as the chat's senders do), and reads the Redis process's CPU from
// /proc before and after:
//
//	redisfloor -addr 127.0.0.1:6390 -pid $(pidof redis-server) -rate 1000 -mode incr
//
// Modes:
//   - incr: a bare INCR a call, the cheapest command there is;
//   - publish: a 350-byte PUBLISH to a channel two subscribers hold (two
//     instances);
//   - lua: one EVALSHA that INCRs once for each of -batch messages, as a
//     send batched over several messages would.
//
// The last line is JSON: calls, messages, redis_cpu_s, us_per_message.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// cpuSeconds is the user and system CPU of process pid so far.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; count from after it.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100, nil // USER_HZ is 100 on Linux
}

type result struct {
	Mode         string  `json:"mode"`
	Rate         int     `json:"rate"`
	Batch        int     `json:"batch"`
	Calls        int     `json:"calls"`
	Messages     int     `json:"messages"`
	Errors       int     `json:"errors"`
	RedisCPU     float64 `json:"redis_cpu_s"`
	USPerMessage float64 `json:"us_per_message"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:6379", "Redis address")
	pid := flag.Int("pid", 0, "the redis-server's process id (its CPU is measured)")
	mode := flag.String("mode", "incr", "incr, publish or lua")
	rate := flag.Int("rate", 1000, "messages per second")
	batch := flag.Int("batch", 1, "messages per call (lua only)")
	dur := flag.Duration("duration", 20*time.Second, "how long to send")
	flag.Parse()
	if err := run(*addr, *pid, *mode, *rate, *batch, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "redisfloor:", err)
		os.Exit(1)
	}
}

func run(addr string, pid int, mode string, rate, batch int, dur time.Duration) error {
	if pid <= 0 || rate <= 0 || batch <= 0 || (batch > 1 && mode != "lua") {
		return errors.New("need -pid, a positive -rate and -batch, and -batch only with -mode lua")
	}
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	script := redis.NewScript(`for i = 1, tonumber(ARGV[1]) do redis.call('INCR', KEYS[1]) end return 1`)
	payload := strings.Repeat("x", 350)
	var call func(context.Context) error
	switch mode {
	case "incr":
		call = func(ctx context.Context) error { return rdb.Incr(ctx, "redisfloor:n").Err() }
	case "lua":
		if err := script.Load(ctx, rdb).Err(); err != nil {
			return fmt.Errorf("load script: %w", err)
		}
		call = func(ctx context.Context) error {
			return script.EvalSha(ctx, rdb, []string{"redisfloor:n"}, batch).Err()
		}
	case "publish":
		for range 2 {
			sub := rdb.Subscribe(ctx, "redisfloor:room")
			if _, err := sub.Receive(ctx); err != nil {
				return fmt.Errorf("subscribe: %w", err)
			}
			defer sub.Close()
			go func() {
				for range sub.Channel() {
				}
			}()
		}
		call = func(ctx context.Context) error { return rdb.Publish(ctx, "redisfloor:room", payload).Err() }
	default:
		return fmt.Errorf("unknown -mode %q", mode)
	}
	if err := call(ctx); err != nil { // the pool's first connection, before measuring
		return err
	}

	before, err := cpuSeconds(pid)
	if err != nil {
		return err
	}
	calls := int(dur.Seconds() * float64(rate) / float64(batch))
	interval := time.Duration(float64(time.Second) * float64(batch) / float64(rate))
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
	)
	start := time.Now()
	for i := range calls {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval))) // pacing, not synchronisation
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if call(ctx) != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	after, err := cpuSeconds(pid)
	if err != nil {
		return err
	}
	r := result{Mode: mode, Rate: rate, Batch: batch, Calls: calls, Messages: calls * batch, Errors: failed, RedisCPU: after - before}
	r.USPerMessage = r.RedisCPU * 1e6 / float64(r.Messages)
	return json.NewEncoder(os.Stdout).Encode(r)
}
