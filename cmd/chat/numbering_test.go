package main

import (
	"context"
	"fmt"
	"html"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// pageView is what a page shows in #messages, with the texts, rebuilt from
// its frames as htmx applies them: a history replaces the list, a message
// is appended.
type pageView struct {
	seqs  []int
	texts []string
	dups  int // messages appended while their id was already shown
}

var pageParts = regexp.MustCompile(`(<ol id="messages" hx-swap-oob="innerMorph">)|(</ol>)|<li id="msg-(\d+)"[^>]*>.*?<p class="text"[^>]*>(.*?)</p>`)

func (v *pageView) apply(frame string) {
	inHistory := false
	for _, m := range pageParts.FindAllStringSubmatch(frame, -1) {
		switch {
		case m[1] != "":
			inHistory = true
			v.seqs, v.texts = v.seqs[:0], v.texts[:0]
		case m[2] != "":
			inHistory = false
		default:
			seq, _ := strconv.Atoi(m[3])
			if !inHistory && slices.Contains(v.seqs, seq) {
				v.dups++
				continue
			}
			v.seqs = append(v.seqs, seq)
			v.texts = append(v.texts, html.UnescapeString(m[4]))
		}
	}
}

// page is a socket with the view of the page it stands for: every frame
// read is applied to it.
type page struct {
	t  *testing.T
	ws *chattest.Socket
	v  pageView
}

func (p *page) read(ctx context.Context) string {
	p.t.Helper()
	f, err := p.ws.Read(ctx)
	if err != nil {
		p.t.Fatalf("the page shows %q: %v", p.v.texts, err)
	}
	p.v.apply(f)
	return f
}

// until reads frames until cond holds of the view.
func (p *page) until(cond func(*pageView) bool) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for !cond(&p.v) {
		p.read(ctx)
	}
}

// sendUntilStored sends text with a nonce of its own, as the page does,
// and sends it again with the same nonce while the chat says it cannot
// store it (Redis is on its way back), until it is stored.
func (p *page) sendUntilStored(text string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	again := time.NewTicker(100 * time.Millisecond)
	defer again.Stop()
	for {
		p.ws.Send(text, text)
		for {
			f := p.read(ctx)
			if strings.Contains(f, `data-nonce="`+text+`" data-outcome="sent"`) {
				return
			}
			if strings.Contains(f, `data-nonce="`+text+`" data-outcome=`) {
				break // not stored: try again
			}
		}
		<-again.C
	}
}

// Numbering survives Redis losing data: pages on two instances stay open
// while Redis restarts empty (or is flushed, or loses the room's keys on a
// cluster), and each of the next six messages reaches both, once, in order.
func TestNumberingSurvivesRedisLosingData(t *testing.T) {
	t.Run("redis restarts empty", func(t *testing.T) {
		srv := redistest.Start(t)
		testNumberingSurvives(t, sharedEnv(srv.Addr), func(string) { srv.Restart() })
	})
	t.Run("redis flushed", func(t *testing.T) {
		srv := redistest.Start(t)
		rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { rdb.Close() })
		testNumberingSurvives(t, sharedEnv(srv.Addr), func(string) {
			if err := rdb.FlushAll(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
		})
	})
	t.Run("cluster loses the room", func(t *testing.T) {
		seeds := redistest.ClusterAddrs(t)
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: slices.Clone(seeds)})
		t.Cleanup(func() { rdb.Close() })
		env := sharedEnv("")
		env["REDIS_CLUSTER"] = strings.Join(seeds, ",")
		testNumberingSurvives(t, env, func(room string) {
			// A cluster cannot be flushed under other tests: the room's keys
			// go, as they do when a shard restarts empty.
			keys := []string{"chat:{" + room + "}:seq", "chat:{" + room + "}:history"}
			if err := rdb.Del(context.Background(), keys...).Err(); err != nil {
				t.Fatal(err)
			}
		})
	})
}

func testNumberingSurvives(t *testing.T, env map[string]string, lose func(room string)) {
	env = burst(env)
	a, b := startInstance(t, env), startInstance(t, env)
	room := testkit.Room()
	_, annWS := chattest.JoinAs(t, a.URL, "Ann", room)
	_, bobWS := chattest.JoinAs(t, b.URL, "Bob", room)
	ann, bob := &page{t: t, ws: annWS}, &page{t: t, ws: bobWS}
	for i := range 3 {
		ann.sendUntilStored(fmt.Sprintf("old %d", i+1))
	}
	for _, p := range []*page{ann, bob} {
		p.until(func(v *pageView) bool { return len(v.texts) == 3 })
	}

	lose(room)
	var want []string
	for i := range 6 {
		text := fmt.Sprintf("new %d", i+1)
		want = append(want, text)
		[]*page{ann, bob}[i%2].sendUntilStored(text)
	}
	for _, p := range []*page{ann, bob} {
		p.until(func(v *pageView) bool { return slices.Contains(v.texts, "new 6") })
		if !slices.Equal(p.v.texts, want) || p.v.dups != 0 {
			t.Errorf("a page shows %q (%d doubled), want %q", p.v.texts, p.v.dups, want)
		}
	}
}
