// Command reactcost measures what a reaction costs Redis, in CPU, beside
// what a message costs it (docs/PERFORMANCE.md, "Reactions: Redis CPU per
// reaction"). Two brokers on two clients stand for two instances: both
// subscribe to the room and to realtime.SignOutsRoom and drain their
// events, so every publish has two subscribers, as in production. The
// room's hot window is filled first (-window messages); then, at a steady
// -rate, each operation from its own goroutine over the two brokers in
// turn, it runs one of:
//
//   - message: Broker.Send of a ~100-character text with a fresh nonce
//     guard, as the hub sends one;
//   - react: Broker.Change toggling one of -emoji emoji of one of
//     -authors people on one of the window's messages, with a fresh nonce
//     guard, then Broker.Announce of the "changed" notice on
//     realtime.SignOutsRoom, as realtime.Hub.Change does;
//   - react-noannounce: the same change without the notice;
//   - edit: Broker.Change of a window message's text, as a moderator,
//     then the notice: the change script and the replies' requoteScript
//     (a scan of the window; nothing here replies);
//   - message-read: a message as the handlers store it since issue 31:
//     Send, then Broker.Arrived (read markers, mentions, whom to push
//     to) in a room 1,000 people have been in, every tenth message
//     mentioning one of them;
//   - idle: nothing, to see what Redis spends on its own.
//
// It reads the redis-server's CPU (utime+stime from /proc) before and
// after, and INFO commandstats, reset before the measured part:
//
//	reactcost -addr 127.0.0.1:6393 -pid $(pidof redis-server) -mode react
//
// With -archive both brokers keep an archive that stores nothing
// (WithArchive): the scripts then stream every entry, and the archivers
// drain the stream, as they would into Firestore.
//
// Redis should be fresh and used by nothing else (docs/perf/react-cost.sh
// starts one). The last line is JSON.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/realtime/redisbroker"
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

// cmdStat is one command's line of INFO commandstats.
type cmdStat struct {
	Calls int64   `json:"calls"`
	USec  int64   `json:"usec"`
	PerOp float64 `json:"calls_per_op"`
	USOp  float64 `json:"us_per_op"`
	USCal float64 `json:"us_per_call"`
}

func commandStats(ctx context.Context, rdb *redis.Client) (map[string]cmdStat, error) {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, fmt.Errorf("info commandstats: %w", err)
	}
	stats := make(map[string]cmdStat)
	for line := range strings.SplitSeq(info, "\r\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
		if !ok || !strings.HasPrefix(line, "cmdstat_") {
			continue
		}
		var s cmdStat
		for kv := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				s.Calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				s.USec, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		stats[name] = s
	}
	return stats, nil
}

// nullArchive stores nothing and holds nothing: what the archivers cost
// Redis, without Firestore.
type nullArchive struct{}

func (nullArchive) Store(context.Context, string, []realtime.Message) error { return nil }
func (nullArchive) Before(context.Context, string, int64, int) ([]realtime.Message, bool, error) {
	return nil, false, nil
}
func (nullArchive) Latest(context.Context, string, int) ([]realtime.Message, error) { return nil, nil }

type result struct {
	Label        string             `json:"label,omitempty"`
	Mode         string             `json:"mode"`
	Archive      bool               `json:"archive"`
	Rate         int                `json:"rate"`
	DurationS    float64            `json:"duration_s"`
	Window       int                `json:"window"`
	Authors      int                `json:"authors"`
	Emoji        int                `json:"emoji"`
	Ops          int                `json:"ops"`
	Errors       int64              `json:"errors"`
	Dups         int64              `json:"dups"`
	Events       [2]int64           `json:"events_per_broker"`
	RedisCPU     float64            `json:"redis_cpu_s"`
	USPerOp      float64            `json:"us_per_op"`
	CmdUSPerOp   float64            `json:"commandstats_us_per_op"`
	EvalshaUS    float64            `json:"evalsha_us_per_call"`
	EvalshaOp    float64            `json:"evalsha_us_per_op"`
	PublishOp    float64            `json:"publish_calls_per_op"`
	AnnounceOp   float64            `json:"publish_outside_scripts_per_op"`
	ChangedBytes float64            `json:"changed_entry_bytes_mean,omitempty"`
	EntryBytes   float64            `json:"window_entry_bytes_mean"`
	EntryMax     int                `json:"window_entry_bytes_max"`
	Reactions    float64            `json:"window_reactions_mean"`
	CommandStat  map[string]cmdStat `json:"commandstats"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:6393", "Redis address")
	pid := flag.Int("pid", 0, "the redis-server's process id (its CPU is measured)")
	mode := flag.String("mode", "react", "message, message-read, message-counted, react, react-noannounce, edit or idle")
	archive := flag.Bool("archive", false, "brokers with an archive that stores nothing")
	rate := flag.Int("rate", 1000, "operations per second")
	dur := flag.Duration("duration", 25*time.Second, "how long to measure")
	window := flag.Int("window", 100, "HISTORY_SIZE, and the messages reacted to")
	authors := flag.Int("authors", 8, "people reacting (and sending)")
	emoji := flag.Int("emoji", 4, "emoji each person toggles")
	label := flag.String("label", "", "copied to the output")
	flag.Parse()
	r := result{Label: *label, Mode: *mode, Archive: *archive, Rate: *rate, DurationS: dur.Seconds(),
		Window: *window, Authors: *authors, Emoji: *emoji}
	if err := run(*addr, *pid, &r); err != nil {
		fmt.Fprintln(os.Stderr, "reactcost:", err)
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(r)
}

const room = "reactcost"

var emojiSet = []string{"👍", "❤️", "😂", "🎉", "👀", "🙏", "🔥", "✅"}

func run(addr string, pid int, r *result) error {
	switch {
	case pid <= 0 || r.Rate <= 0 || r.Window <= 0 || r.Authors <= 0:
		return errors.New("need -pid, and a positive -rate, -window and -authors")
	case r.Emoji <= 0 || r.Emoji > len(emojiSet):
		return fmt.Errorf("-emoji must be 1 to %d", len(emojiSet))
	}
	for _, e := range emojiSet[:r.Emoji] {
		if p, err := realtime.ParseEmoji(e); err != nil || p != e {
			return fmt.Errorf("emoji %q is not in its parsed form (%q, %v)", e, p, err)
		}
	}
	ctx := context.Background()
	var opts []redisbroker.Option
	if r.Archive {
		opts = append(opts, redisbroker.WithArchive(nullArchive{}, nil))
	}
	var brokers [2]*redisbroker.Broker
	var events [2]atomic.Int64
	for i := range brokers {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		b := redisbroker.New(rdb, r.Window, opts...)
		defer b.Close()
		for _, rm := range []string{room, realtime.SignOutsRoom} {
			if err := b.Subscribe(ctx, rm); err != nil {
				return err
			}
		}
		go func() {
			for range b.Events() {
				events[i].Add(1)
			}
		}()
		brokers[i] = b
	}
	admin := redis.NewClient(&redis.Options{Addr: addr})
	defer admin.Close()

	// The people: session ids as the handlers make them (rand.Text).
	sessions := make([]string, r.Authors)
	for i := range sessions {
		sessions[i] = rand.Text()
	}
	guard := func(session string) string {
		n := make([]byte, 16)
		rand.Read(n)
		return session + ":" + hex.EncodeToString(n)
	}
	text := "A message of about a hundred characters, as people write them in a busy room: a sentence or two, no more."
	send := func(ctx context.Context, b *redisbroker.Broker, i int) error {
		s := sessions[i%len(sessions)]
		m := realtime.Message{Name: fmt.Sprint("Reader ", i%len(sessions)), Text: text, Time: time.Now(), Author: s}
		_, dup, err := b.Send(ctx, room, m, guard(s))
		if dup {
			return errDup
		}
		return err
	}
	// Reaction i goes to message i%window; each message sees every
	// person's every emoji given, one after the other, then taken back:
	// from none to authors×emoji reactions and back to none, again and
	// again.
	var first int64
	var changed, changedBytes atomic.Int64
	react := func(ctx context.Context, b *redisbroker.Broker, i int, announce bool) error {
		k := i / r.Window
		a := k % r.Authors
		c := realtime.Change{
			Seq: first + int64(i%r.Window), Author: sessions[a], Name: fmt.Sprint("Reader ", a),
			React: emojiSet[(k/r.Authors)%r.Emoji], Time: time.Now().UTC(),
		}
		m, dup, err := b.Change(ctx, room, c, guard(sessions[a]))
		if dup {
			return errDup
		}
		if err == nil {
			// About the entry's size: the same fields, in another order.
			if j, err := json.Marshal(m); err == nil {
				changedBytes.Add(int64(len(j)))
				changed.Add(1)
			}
		}
		if err != nil || !announce {
			return err
		}
		return b.Announce(ctx, realtime.SignOutsRoom, realtime.KindChanged, room)
	}

	// The hot window, full; then every script loaded and every pool
	// connection made before measuring.
	for i := range r.Window {
		m := realtime.Message{Name: "Reader", Text: text, Time: time.Now(), Author: sessions[i%len(sessions)]}
		sent, _, err := brokers[i%2].Send(ctx, room, m, guard(m.Author))
		if err != nil {
			return fmt.Errorf("fill the window: %w", err)
		}
		if i == 0 {
			first = sent.Seq
		}
	}
	var call func(ctx context.Context, i int) error
	switch r.Mode {
	case "message":
		call = func(ctx context.Context, i int) error { return send(ctx, brokers[i%2], i) }
	case "react", "react-noannounce":
		announce := r.Mode == "react"
		call = func(ctx context.Context, i int) error { return react(ctx, brokers[i%2], i, announce) }
	case "edit":
		edited := strings.Replace(text, "busy", "quiet", 1)
		call = func(ctx context.Context, i int) error {
			b := brokers[i%2]
			c := realtime.Change{Seq: first + int64(i%r.Window), Author: sessions[0], Moderator: true, Text: edited, Time: time.Now().UTC()}
			if _, _, err := b.Change(ctx, room, c, guard(sessions[0])); err != nil {
				return err
			}
			return b.Announce(ctx, realtime.SignOutsRoom, realtime.KindChanged, room)
		}
	case "message-read", "message-counted":
		// A message counted for its readers (unread counts, mentions and
		// whom to push to) in a room 1,000 people have been in; every
		// tenth message mentions one of them. message-read does it as
		// issue 31 did, Send and then Arrived (two round trips);
		// message-counted as the handlers do now, SendCounted (one).
		for j := range 1000 {
			if err := brokers[j%2].MarkRead(ctx, room, fmt.Sprint("s:reader-", j), fmt.Sprint("Reader ", j), 0); err != nil {
				return fmt.Errorf("readers: %w", err)
			}
		}
		counted := r.Mode == "message-counted"
		call = func(ctx context.Context, i int) error {
			b := brokers[i%2]
			s := sessions[i%len(sessions)]
			t := text
			if i%10 == 0 {
				t = fmt.Sprintf("@Reader %d %s", i%1000, text)
			}
			m := realtime.Message{Name: fmt.Sprint("Reader ", i%len(sessions)), Text: t, Time: time.Now(), Author: s}
			if counted {
				_, dup, _, err := b.SendCounted(ctx, room, m, guard(s), "s:"+s)
				if dup {
					return errDup
				}
				return err
			}
			stored, dup, err := b.Send(ctx, room, m, guard(s))
			if dup {
				return errDup
			}
			if err != nil {
				return err
			}
			_, err = b.Arrived(ctx, room, stored, "s:"+s)
			return err
		}
	case "idle":
		call = func(context.Context, int) error { return nil }
	default:
		return fmt.Errorf("unknown -mode %q", r.Mode)
	}
	if r.Mode == "react" || r.Mode == "react-noannounce" || r.Mode == "edit" {
		// Warm up on a message that leaves the window before the measured
		// part, and take the reaction back.
		for i := range 2 {
			c := realtime.Change{Seq: first, Author: sessions[0], Name: "Reader 0", React: emojiSet[0], Time: time.Now()}
			if _, _, err := brokers[i].Change(ctx, room, c, ""); err != nil {
				return fmt.Errorf("warm up: %w", err)
			}
			if r.Mode == "edit" { // the requote script loaded too
				c := realtime.Change{Seq: first, Author: sessions[0], Moderator: true, Text: text, Time: time.Now()}
				if _, _, err := brokers[i].Change(ctx, room, c, ""); err != nil {
					return fmt.Errorf("warm up: %w", err)
				}
			}
		}
	}
	for i := range 2 {
		if err := send(ctx, brokers[i], i); err != nil {
			return fmt.Errorf("warm up: %w", err)
		}
		if err := brokers[i].Announce(ctx, realtime.SignOutsRoom, realtime.KindChanged, room); err != nil {
			return fmt.Errorf("warm up: %w", err)
		}
	}
	first += 2              // the window moved on by the two warm-up sends
	time.Sleep(time.Second) // the warm-up's publishes delivered, the archivers' first pass done
	changed.Store(0)
	changedBytes.Store(0)
	if err := admin.ConfigResetStat(ctx).Err(); err != nil {
		return err
	}
	var evBefore [2]int64
	for i := range events {
		evBefore[i] = events[i].Load()
	}

	before, err := cpuSeconds(pid)
	if err != nil {
		return err
	}
	r.Ops = int(r.DurationS * float64(r.Rate))
	interval := time.Second / time.Duration(r.Rate)
	var (
		wg     sync.WaitGroup
		failed atomic.Int64
		dups   atomic.Int64
		errMu  sync.Mutex
		anErr  error
	)
	start := time.Now()
	for i := range r.Ops {
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval))) // pacing, not synchronisation
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			switch err := call(ctx, i); {
			case errors.Is(err, errDup):
				dups.Add(1)
			case err != nil:
				failed.Add(1)
				errMu.Lock()
				anErr = err
				errMu.Unlock()
			}
		})
	}
	wg.Wait()
	after, err := cpuSeconds(pid)
	if err != nil {
		return err
	}
	stats, err := commandStats(ctx, admin)
	if err != nil {
		return err
	}
	time.Sleep(200 * time.Millisecond) // the last publishes read
	r.Errors, r.Dups = failed.Load(), dups.Load()
	if anErr != nil {
		fmt.Fprintln(os.Stderr, "reactcost: one of the errors:", anErr)
	}
	for i := range events {
		r.Events[i] = events[i].Load() - evBefore[i]
	}
	r.RedisCPU = after - before
	r.USPerOp = r.RedisCPU * 1e6 / float64(r.Ops)
	delete(stats, "info") // the reading itself
	// Commands a script runs are counted on their own and in the script's
	// time; only the calls from outside are added up. The send and change
	// scripts publish once each; the other publishes are Announce's.
	inside := int64(r.Ops)
	if r.Mode == "idle" {
		inside = 0
	}
	var usec float64
	for name, s := range stats {
		s.PerOp = float64(s.Calls) / float64(r.Ops)
		s.USOp = float64(s.USec) / float64(r.Ops)
		if s.Calls > 0 {
			s.USCal = float64(s.USec) / float64(s.Calls)
		}
		stats[name] = s
		switch {
		case name == "publish" && s.Calls > 0:
			usec += float64(s.USec) * float64(s.Calls-min(inside, s.Calls)) / float64(s.Calls)
			r.AnnounceOp = float64(s.Calls-min(inside, s.Calls)) / float64(r.Ops)
		case !strings.Contains(scriptCommands, ","+name+","):
			usec += float64(s.USec)
		}
	}
	r.CommandStat = stats
	if n := changed.Load(); n > 0 {
		r.ChangedBytes = float64(changedBytes.Load()) / float64(n)
	}
	r.CmdUSPerOp = usec / float64(r.Ops)
	r.EvalshaUS = stats["evalsha"].USCal
	r.EvalshaOp = stats["evalsha"].USOp
	r.PublishOp = stats["publish"].PerOp
	return window(ctx, admin, r)
}

// scriptCommands are the commands the send, change, requote and archivers' scripts
// run (XLEN also runs on its own, once an archive pass).
const scriptCommands = ",lrange,xack,xinfo,exists,time,lset,lindex,hget,hset,hlen,pexpire,rename,incr,rpush,ltrim,xadd,xlen,xtrim,xdel,xrevrange,del,set,get,"

var errDup = errors.New("a fresh nonce was taken for a repeat")

// window reads the hot window: how big its entries grew, and how many
// reactions they hold.
func window(ctx context.Context, rdb *redis.Client, r *result) error {
	keys, err := rdb.Keys(ctx, "*{"+room+"}*").Result()
	if err != nil {
		return err
	}
	for _, k := range keys {
		if t, err := rdb.Type(ctx, k).Result(); err != nil || t != "list" {
			continue
		}
		entries, err := rdb.LRange(ctx, k, 0, -1).Result()
		if err != nil || len(entries) == 0 {
			return err
		}
		var bytes, reactions int
		for _, e := range entries {
			bytes += len(e)
			r.EntryMax = max(r.EntryMax, len(e))
			var m realtime.Message
			if json.Unmarshal([]byte(e), &m) == nil {
				for _, x := range m.Reactions {
					reactions += len(x.Authors)
				}
			}
		}
		r.EntryBytes = float64(bytes) / float64(len(entries))
		r.Reactions = float64(reactions) / float64(len(entries))
	}
	return nil
}
