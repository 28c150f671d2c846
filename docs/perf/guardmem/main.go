// Command guardmem measures what nonce guards cost Redis's memory: it
// sends -messages messages through the Redis broker's send script, each
// with a nonce of its own as the page gives every message, from
// -sessions sessions spread over -rooms rooms, and reads INFO memory's
// used_memory before, halfway and after:
//
//	guardmem -addr 127.0.0.1:6392 -messages 100000 -rooms 10 -sessions 100
//
// Redis should be empty and used by nothing else (docs/perf/guard-memory.sh
// starts one). No archive: the guards, the history lists and the counters
// are all that the sends leave. The last line is JSON: used memory, keys,
// and bytes per message over the whole run and over its second half (what
// one more message costs once every session has sent a while).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/realtime/redisbroker"
)

func usedMemory(ctx context.Context, rdb *redis.Client) (int64, error) {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0, fmt.Errorf("info memory: %w", err)
	}
	for line := range strings.SplitSeq(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("info memory: no used_memory")
}

func main() {
	addr := flag.String("addr", "127.0.0.1:6392", "Redis address")
	messages := flag.Int("messages", 100_000, "messages to send")
	rooms := flag.Int("rooms", 10, "rooms")
	sessions := flag.Int("sessions", 100, "sessions, spread evenly over the rooms")
	history := flag.Int("history", 100, "HISTORY_SIZE")
	workers := flag.Int("workers", 16, "concurrent senders")
	label := flag.String("label", "", "what is measured, copied to the output")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	rdb := redis.NewClient(&redis.Options{Addr: *addr, PoolSize: *workers})
	defer rdb.Close()
	b := redisbroker.New(rdb, *history)
	defer b.Close()

	before, err := usedMemory(ctx, rdb)
	if err != nil {
		log.Fatal(err)
	}
	send := func(from, to int) {
		var wg sync.WaitGroup
		for w := range *workers {
			wg.Go(func() {
				for i := from + w; i < to; i += *workers {
					s := i % *sessions
					room := fmt.Sprintf("room-%d", s%*rooms)
					nonce := make([]byte, 16)
					rand.Read(nonce)
					guard := fmt.Sprintf("SESSION%06d:%s", s, hex.EncodeToString(nonce))
					m := realtime.Message{Name: fmt.Sprint("user", s), Text: "a message of about forty characters, say", Time: time.Now()}
					sctx, scancel := context.WithTimeout(ctx, 5*time.Second)
					_, _, err := b.Send(sctx, room, m, guard)
					scancel()
					if err != nil {
						log.Fatal(err)
					}
				}
			})
		}
		wg.Wait()
	}
	half := *messages / 2
	send(0, half)
	mid, err := usedMemory(ctx, rdb)
	if err != nil {
		log.Fatal(err)
	}
	send(half, *messages)
	after, err := usedMemory(ctx, rdb)
	if err != nil {
		log.Fatal(err)
	}
	keys, err := rdb.DBSize(ctx).Result()
	if err != nil {
		log.Fatal(err)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]any{
		"label": *label, "messages": *messages, "rooms": *rooms, "sessions": *sessions, "history": *history,
		"used_memory_before": before, "used_memory_half": mid, "used_memory_after": after, "keys": keys,
		"bytes_per_message":             float64(after-before) / float64(*messages),
		"bytes_per_message_second_half": float64(after-mid) / float64(*messages-half),
	})
}
