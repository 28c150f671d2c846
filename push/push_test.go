package push_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"
	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/push"
	"github.com/chatrun/chat/push/pushtest"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/redistest"
)

const subject = "mailto:ops@example.com"

// stores are the stores every test runs on: memory, and a real Redis.
func stores(t *testing.T) map[string]func(t *testing.T) push.Store {
	return map[string]func(t *testing.T) push.Store{
		"memory": func(*testing.T) push.Store { return push.NewMemoryStore() },
		"redis": func(t *testing.T) push.Store {
			rdb := redis.NewClient(&redis.Options{Addr: redistest.Addr(t)})
			t.Cleanup(func() { rdb.Close() })
			return push.NewRedisStore(rdb)
		},
	}
}

func newService(t *testing.T, store push.Store, allowed string, tweak func(*push.Config)) *push.Service {
	t.Helper()
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	a, err := push.ParseAllowed(allowed)
	if err != nil {
		t.Fatal(err)
	}
	cfg := push.Config{VAPIDPublicKey: pub, VAPIDPrivateKey: priv, Subject: subject, Allowed: a, Store: store}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := push.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Close(ctx)
	})
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	testkit.WaitFor(t, ctx, what, cond)
}

// A notification reaches the push service signed with VAPID, and the
// browser's keys decrypt it into the room, the sender and the text, in
// the subscription's language; a 410 deletes the subscription.
func TestSendVAPIDAndDecrypt(t *testing.T) {
	for name, mk := range stores(t) {
		t.Run(name, func(t *testing.T) {
			svc := pushtest.NewService(t)
			store := mk(t)
			s := newService(t, store, svc.Host(), nil)
			person := "id:" + testkit.Room()
			en := pushtest.NewBrowser(t, svc.URL+"/en")
			zh := pushtest.NewBrowser(t, svc.URL+"/zh")
			ctx := t.Context()
			if err := s.Subscribe(ctx, person, en.Subscription(i18n.English)); err != nil {
				t.Fatal(err)
			}
			if err := s.Subscribe(ctx, person, zh.Subscription(i18n.TraditionalChinese)); err != nil {
				t.Fatal(err)
			}
			text := strings.Repeat("0123456789", 13) + " @Bob"
			if !s.Notify(person, push.Notification{Room: "general", Seq: 42, Sender: "Ann", Text: text, Urgent: true}) {
				t.Fatal("Notify dropped the first notification")
			}
			got := map[string]push.Payload{}
			for range 2 {
				p := svc.Next(t, 10*time.Second)
				if err := pushtest.CheckVAPID(p, svc.URL, subject, s.PublicKey()); err != nil {
					t.Errorf("%s: VAPID: %v", p.Path, err)
				}
				if u := p.Header.Get("Urgency"); u != "high" {
					t.Errorf("Urgency %q, want high for a mention", u)
				}
				if ttl := p.Header.Get("TTL"); ttl != "3600" {
					t.Errorf("TTL %q, want 3600", ttl)
				}
				b := map[string]*pushtest.Browser{"/en": en, "/zh": zh}[p.Path]
				pl, err := b.Payload(p)
				if err != nil {
					t.Fatalf("%s: decrypt: %v", p.Path, err)
				}
				got[p.Path] = pl
			}
			want := push.Payload{Title: "Ann in #general", Body: text[:120], URL: "/rooms/general#msg-42", Tag: "general"}
			if got["/en"] != want {
				t.Errorf("English payload %+v, want %+v", got["/en"], want)
			}
			want.Title = "Ann 在 #general"
			if got["/zh"] != want {
				t.Errorf("Chinese payload %+v, want %+v", got["/zh"], want)
			}

			// The push service forgets the subscriptions: they go.
			svc.Respond(http.StatusGone)
			s.Notify(person, push.Notification{Room: "general", Seq: 43, Sender: "Ann", Text: "again"})
			waitFor(t, "the gone subscriptions deleted", func() bool {
				subs, err := store.List(ctx, person)
				return err == nil && len(subs) == 0
			})
			if st := s.Stats(); st.Sent != 2 || st.Expired != 2 {
				t.Errorf("stats %+v, want 2 sent and 2 expired", st)
			}
		})
	}
}

// Each person keeps at most MaxPerPerson subscriptions, one per endpoint,
// the oldest dropped first.
func TestStoreBounds(t *testing.T) {
	all := stores(t)
	all["cluster"] = func(t *testing.T) push.Store {
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: redistest.ClusterAddrs(t)})
		t.Cleanup(func() { rdb.Close() })
		return push.NewRedisStore(rdb)
	}
	for name, mk := range all {
		t.Run(name, func(t *testing.T) {
			store := mk(t)
			ctx := t.Context()
			person := "s:" + testkit.Room()
			start := time.Now()
			for i := range push.MaxPerPerson + 3 {
				sub := push.Subscription{Endpoint: "https://fcm.googleapis.com/fcm/send/" + string(rune('a'+i)), Lang: i18n.English, Added: start.Add(time.Duration(i) * time.Second)}
				if err := store.Add(ctx, person, sub); err != nil {
					t.Fatal(err)
				}
			}
			// The same endpoint again replaces, not adds.
			again := push.Subscription{Endpoint: "https://fcm.googleapis.com/fcm/send/m", Lang: i18n.TraditionalChinese, Added: start.Add(time.Minute)}
			if err := store.Add(ctx, person, again); err != nil {
				t.Fatal(err)
			}
			subs, err := store.List(ctx, person)
			if err != nil {
				t.Fatal(err)
			}
			if len(subs) != push.MaxPerPerson {
				t.Fatalf("%d subscriptions kept, want %d", len(subs), push.MaxPerPerson)
			}
			if !strings.HasSuffix(subs[0].Endpoint, "/d") || subs[len(subs)-1].Endpoint != again.Endpoint || subs[len(subs)-1].Lang != i18n.TraditionalChinese {
				t.Errorf("kept %s … %s (%s), want d … m in Chinese", subs[0].Endpoint, subs[len(subs)-1].Endpoint, subs[len(subs)-1].Lang)
			}
			if err := store.Remove(ctx, person, again.Endpoint); err != nil {
				t.Fatal(err)
			}
			if subs, _ := store.List(ctx, person); len(subs) != push.MaxPerPerson-1 {
				t.Errorf("%d after a removal, want %d", len(subs), push.MaxPerPerson-1)
			}
		})
	}
}

// Only https endpoints on the push services pass, and allowed hosts.
func TestEndpointRules(t *testing.T) {
	allowed, err := push.ParseAllowed("127.0.0.1:9999, push.test")
	if err != nil {
		t.Fatal(err)
	}
	good := []string{
		"https://fcm.googleapis.com/fcm/send/abc",
		"https://android.googleapis.com/gcm/send/abc",
		"https://updates.push.services.mozilla.com/wpush/v2/abc",
		"https://updates-autopush.push.services.mozilla.com/wpush/v2/abc",
		"https://web.push.apple.com/QGx",
		"https://wns2-by3p.notify.windows.com/w/?token=abc",
		"https://fcm.googleapis.com:443/fcm/send/abc",
		"http://127.0.0.1:9999/push",
		"http://push.test/x",
	}
	bad := []string{
		"http://fcm.googleapis.com/fcm/send/abc",                  // not https
		"https://fcm.googleapis.com:8443/fcm/send/abc",            // another port
		"https://evil.example/push",                               // unknown host
		"https://push.apple.com.evil.example/x",                   // a suffix trick
		"https://evilpush.apple.com/x",                            // not a subdomain
		"https://push.services.mozilla.com/x",                     // the bare suffix
		"https://10.0.0.1/push",                                   // private
		"https://127.0.0.1/push",                                  // loopback
		"https://[::1]/push",                                      // loopback
		"https://169.254.169.254/latest/meta-data",                // link-local
		"https://0.0.0.0/push",                                    // unspecified
		"https://localhost/push",                                  // resolves to loopback
		"http://127.0.0.1:9998/push",                              // allowed is one port
		"http://localhost:9999/push",                              // allowed is one host
		"https://user@fcm.googleapis.com/fcm/send/abc",            // credentials
		"fcm.googleapis.com/fcm/send/abc",                         // relative
		"javascript:alert(1)",                                     // not a URL for us
		"https://fcm.googleapis.com/" + strings.Repeat("a", 1100), // too long
	}
	for _, e := range good {
		if err := push.CheckEndpoint(e, allowed); err != nil {
			t.Errorf("%s refused: %v", e, err)
		}
	}
	for _, e := range bad {
		if err := push.CheckEndpoint(e, allowed); !errors.Is(err, push.ErrEndpoint) {
			t.Errorf("%s: %v, want ErrEndpoint", e, err)
		}
	}
}

// Refused endpoints are never stored and never sent to; a refused one
// stored somehow (by hand, under older rules) is not sent to either, and
// the sender's connections refuse loopback addresses whatever the name.
func TestRefusedEndpointsGetNothing(t *testing.T) {
	svc := pushtest.NewService(t)
	store := push.NewMemoryStore()
	s := newService(t, store, svc.Host(), nil)
	port := svc.Host()[strings.LastIndex(svc.Host(), ":")+1:]
	person := "s:x"
	for _, e := range []string{
		"http://localhost:" + port + "/p", // a name for 127.0.0.1, not allowed
		"https://localhost:" + port + "/p",
		"http://127.0.0.2:" + port + "/p",
		"https://evil.example/p",
	} {
		b := pushtest.NewBrowser(t, e)
		if err := s.Subscribe(t.Context(), person, b.Subscription(i18n.English)); !errors.Is(err, push.ErrEndpoint) {
			t.Errorf("%s: %v, want ErrEndpoint", e, err)
		}
	}
	if subs, _ := store.List(t.Context(), person); len(subs) != 0 {
		t.Fatalf("stored %d refused subscriptions", len(subs))
	}
	// Keys that are no keys are refused too.
	bad := pushtest.NewBrowser(t, svc.URL+"/p").Subscription(i18n.English)
	bad.Keys.P256dh = bad.Keys.Auth
	if err := s.Subscribe(t.Context(), person, bad); !errors.Is(err, push.ErrKeys) {
		t.Errorf("bad keys: %v, want ErrKeys", err)
	}

	// Stored by hand: the sender checks again, and sends nothing.
	sneaked := pushtest.NewBrowser(t, "http://localhost:"+port+"/p").Subscription(i18n.English)
	if err := store.Add(t.Context(), person, sneaked); err != nil {
		t.Fatal(err)
	}
	s.Notify(person, push.Notification{Room: "r", Seq: 1, Sender: "Ann", Text: "hi"})
	waitFor(t, "the sneaked subscription refused", func() bool { return s.Stats().Failed == 1 })
	if n := svc.Requests(); n != 0 {
		t.Errorf("the push service got %d requests", n)
	}

	// And below that check, the connection itself: localhost resolves to
	// 127.0.0.1, which the sender's dialer refuses.
	resp, err := push.SendRaw(t.Context(), s, "http://localhost:"+port+"/p")
	if err == nil {
		resp.Body.Close()
		t.Fatal("the sender connected to localhost")
	}
	if !errors.Is(err, push.ErrAddress) {
		t.Errorf("localhost: %v, want ErrAddress", err)
	}
	// The allowed address itself is let through.
	resp, err = push.SendRaw(t.Context(), s, svc.URL+"/p")
	if err != nil {
		t.Fatalf("the allowed host: %v", err)
	}
	resp.Body.Close()
	if n := svc.Requests(); n != 1 {
		t.Errorf("the push service got %d requests, want only the allowed one", n)
	}
}

// A push service that does not answer never holds Notify up: the queue
// takes what it can, and drops the rest; each person gets at most
// PerMinute a minute.
func TestSlowServiceDoesNotSlowNotify(t *testing.T) {
	svc := pushtest.NewService(t)
	svc.Block()
	store := push.NewMemoryStore()
	s := newService(t, store, svc.Host(), func(c *push.Config) {
		c.Workers, c.Queue, c.Timeout = 1, 4, 2*time.Second
	})
	people := []string{"s:a", "s:b", "s:c", "s:d", "s:e", "s:f"}
	for _, p := range people {
		if err := s.Subscribe(t.Context(), p, pushtest.NewBrowser(t, svc.URL+"/"+p).Subscription(i18n.English)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for range 15 {
		for _, p := range people {
			s.Notify(p, push.Notification{Room: "r", Seq: 1, Sender: "Ann", Text: "hi"})
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("90 notifications took %v to queue with the push service stuck", d)
	}
	st := s.Stats()
	if st.Limited != int64(5*len(people)) {
		t.Errorf("%d over the per-person limit, want %d", st.Limited, 5*len(people))
	}
	if st.Dropped < int64(10*len(people)-4-1) {
		t.Errorf("%d dropped with a full queue, want at least %d", st.Dropped, 10*len(people)-5)
	}
	// Close gives up on the stuck requests once its own time is up.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close: %v, want its deadline", err)
	}
	if s.Notify("s:a", push.Notification{}) {
		t.Error("a closed service took a notification")
	}
}

// VAPID settings are checked at start.
func TestCheckVAPID(t *testing.T) {
	priv, pub, _ := webpush.GenerateVAPIDKeys()
	priv2, _, _ := webpush.GenerateVAPIDKeys()
	if err := push.CheckVAPID(pub, priv, subject); err != nil {
		t.Errorf("good settings: %v", err)
	}
	if err := push.CheckVAPID(pub, priv, "https://chat.example.com/contact"); err != nil {
		t.Errorf("an https subject: %v", err)
	}
	for _, c := range [][3]string{
		{pub, priv2, subject},          // not the pair
		{"abc", priv, subject},         // no key
		{pub, "abc", subject},          // no key
		{pub, priv, "ops@example.com"}, // no scheme
		{pub, priv, "http://example.com"},
	} {
		if err := push.CheckVAPID(c[0], c[1], c[2]); err == nil {
			t.Errorf("%q accepted", c[2])
		}
	}
}
