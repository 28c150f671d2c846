package handlers

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/push"
	"github.com/chatrun/chat/push/pushtest"
	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
)

// newPushServer serves a Server with Web Push on store, allowing the push
// service svc.
func newPushServer(t *testing.T, svc *pushtest.Service, store push.Store, tweak func(*push.Config)) (*Server, string, *push.Service) {
	t.Helper()
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	allowed, _ := push.ParseAllowed(svc.Host())
	cfg := push.Config{VAPIDPublicKey: pub, VAPIDPrivateKey: priv, Subject: "mailto:ops@example.com", Allowed: allowed, Store: store}
	if tweak != nil {
		tweak(&cfg)
	}
	p, err := push.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Close(ctx)
	})
	s, ts := newTestServer(t, Config{Push: p})
	return s, ts.URL, p
}

// postJSON posts body as the page's script does.
func postJSON(t *testing.T, u *chattest.User, path string, body []byte, contentType string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u.Base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Origin", u.Base)
	resp, err := u.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// personOf is the person u's session is.
func personOf(t *testing.T, s *Server, u *chattest.User) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u.Base+"/", nil)
	for _, c := range u.Client.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	sess, ok := s.session(req)
	if !ok {
		t.Fatal("no session")
	}
	return sess.person()
}

// POST /push/subscriptions stores a good subscription (201) in the page's
// language, and refuses (422) endpoints on private addresses, over http or
// on unknown hosts, which are never stored nor sent to.
func TestPushSubscriptions(t *testing.T) {
	svc := pushtest.NewService(t)
	store := push.NewMemoryStore()
	s, base, p := newPushServer(t, svc, store, nil)
	room := testkit.Room()
	ann := chattest.NewUser(t, base)
	ann.SignIn("Ann", room)
	person := personOf(t, s, ann)

	// The room page carries the key, in the control.
	_, page := ann.Get("/rooms/" + room)
	if !strings.Contains(page, `id="notify-push"`) || !strings.Contains(page, `data-vapid-key="`+p.PublicKey()+`"`) || strings.Contains(page, `id="notify"`) {
		t.Error("the room page has no #notify-push with the VAPID key, or still #notify")
	}

	port := svc.Host()[strings.LastIndex(svc.Host(), ":")+1:]
	for _, e := range []string{
		"https://10.1.2.3/push",                  // private
		"https://192.168.1.1/push",               // private
		"https://127.0.0.1/push",                 // loopback
		"https://169.254.169.254/latest",         // link-local (metadata)
		"http://fcm.googleapis.com/fcm/send/abc", // not https
		"https://push.example.net/abc",           // unknown host
		"http://localhost:" + port + "/sneak",    // a name for 127.0.0.1, not allowed
		"http://127.0.0.1:" + port + "0/sneak",   // another port
		"https://fcm.googleapis.com.evil.test/x", // a suffix trick
	} {
		code, body := postJSON(t, ann, "/push/subscriptions", pushtest.NewBrowser(t, e).JSON(), "application/json")
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, "not one of the known push services") {
			t.Errorf("%s: %d %q, want 422 and why", e, code, body)
		}
	}
	for name, body := range map[string][]byte{
		"not JSON":    []byte("endpoint=x"),
		"no keys":     []byte(`{"endpoint":"` + svc.URL + `/a"}`),
		"short auth":  []byte(`{"endpoint":"` + svc.URL + `/a","keys":{"p256dh":"` + pushtest.NewBrowser(t, "").Keys().P256dh + `","auth":"AAAA"}}`),
		"no endpoint": []byte(`{"keys":{}}`),
	} {
		if code, _ := postJSON(t, ann, "/push/subscriptions", body, "application/json"); code != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d, want 422", name, code)
		}
	}
	if subs, _ := store.List(t.Context(), person); len(subs) != 0 {
		t.Fatalf("refused subscriptions stored: %+v", subs)
	}
	// (That none of the refused endpoints, some of them on svc, is ever
	// sent anything is shown below: svc gets one request, to /ann.)

	// Not JSON's type: refused before reading.
	good := pushtest.NewBrowser(t, svc.URL+"/ann")
	if code, _ := postJSON(t, ann, "/push/subscriptions", good.JSON(), "text/plain"); code != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain: %d, want 415", code)
	}
	// Without a session: 401.
	if code, _ := postJSON(t, chattest.NewUser(t, base), "/push/subscriptions", good.JSON(), "application/json"); code != http.StatusUnauthorized {
		t.Errorf("no session: %d, want 401", code)
	}

	// A good one, from a page in Chinese.
	ann.SetHeader("Accept-Language", "zh-TW")
	if code, body := postJSON(t, ann, "/push/subscriptions", good.JSON(), "application/json"); code != http.StatusCreated {
		t.Fatalf("good subscription: %d %q, want 201", code, body)
	}
	subs, _ := store.List(t.Context(), person)
	if len(subs) != 1 || subs[0].Endpoint != good.Endpoint || subs[0].Lang != i18n.TraditionalChinese {
		t.Fatalf("stored %+v, want the one subscription in zh-TW", subs)
	}
	s.notifyPeople(room, realtime.Message{Seq: 7, Name: "Bob", Text: "@Ann 你好"}, []string{person})
	got := svc.Next(t, 10*time.Second)
	if got.Path != "/ann" {
		t.Fatalf("a push to %s: the refused endpoints got one", got.Path)
	}
	pl, err := good.Payload(got)
	if err != nil {
		t.Fatal(err)
	}
	if want := (push.Payload{Title: "Bob 在 #" + room, Body: "@Ann 你好", URL: "/rooms/" + room + "#msg-7", Tag: room}); pl != want {
		t.Errorf("payload %+v, want %+v", pl, want)
	}
	if n := svc.Requests(); n != 1 {
		t.Errorf("the push service got %d requests, want 1", n)
	}

	// Unsubscribed: 204, and gone.
	if code, _ := postJSON(t, ann, "/push/subscriptions/delete", []byte(`{"endpoint":"`+good.Endpoint+`"}`), "application/json"); code != http.StatusNoContent {
		t.Errorf("delete: %d, want 204", code)
	}
	if subs, _ := store.List(t.Context(), person); len(subs) != 0 {
		t.Errorf("still stored after delete: %+v", subs)
	}

	// Signing out deletes the subscription of the browser that signs out
	// (the page adds its endpoint to the form), and no other.
	other := pushtest.NewBrowser(t, svc.URL+"/ann-phone")
	for _, b := range []*pushtest.Browser{good, other} {
		if code, body := postJSON(t, ann, "/push/subscriptions", b.JSON(), "application/json"); code != http.StatusCreated {
			t.Fatalf("subscribe %s: %d %q", b.Endpoint, code, body)
		}
	}
	resp := ann.PostForm("/signout", url.Values{"room": {room}, "push_endpoint": {good.Endpoint}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign out: %d", resp.StatusCode)
	}
	if subs, _ := store.List(t.Context(), person); len(subs) != 1 || subs[0].Endpoint != other.Endpoint {
		t.Errorf("after signing out, stored %+v, want only the other browser's", subs)
	}
}

// Without VAPID settings: no control, and the routes are 404.
func TestPushNotConfigured(t *testing.T) {
	s, ts := newTestServer(t, Config{})
	room := testkit.Room()
	ann := chattest.NewUser(t, ts.URL)
	ann.SignIn("Ann", room)
	_, page := ann.Get("/rooms/" + room)
	if strings.Contains(page, "notify-push") || strings.Contains(page, "data-vapid-key") || !strings.Contains(page, `id="notify"`) {
		t.Error("the room page has the push control without push, or lost #notify")
	}
	if code, _ := postJSON(t, ann, "/push/subscriptions", pushtest.NewBrowser(t, "https://fcm.googleapis.com/fcm/send/x").JSON(), "application/json"); code != http.StatusNotFound {
		t.Errorf("POST without push: %d, want 404", code)
	}
	s.notifyPeople(room, realtime.Message{Seq: 1, Name: "Bob", Text: "hi"}, []string{"s:x"}) // nothing to do, no panic
}

// A push service that does not answer never slows notifyPeople: it
// returns at once, the queue dropping what it cannot hold.
func TestNotifyPeopleReturnsAtOnce(t *testing.T) {
	svc := pushtest.NewService(t)
	svc.Block()
	store := push.NewMemoryStore()
	s, _, p := newPushServer(t, svc, store, func(c *push.Config) { c.Workers, c.Queue = 1, 2 })
	t.Cleanup(svc.Unblock) // before the service's Close, which would wait for it
	var people []string
	for i := range 20 {
		person := "s:p" + string(rune('a'+i))
		people = append(people, person)
		if err := p.Subscribe(t.Context(), person, pushtest.NewBrowser(t, svc.URL+"/"+person).Subscription(i18n.English)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	for i := range 30 {
		s.notifyPeople("r", realtime.Message{Seq: int64(i + 1), Name: "Bob", Text: "hi @all"}, people)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("600 notifications took %v with the push service stuck", d)
	}
	waitUntil(t, "a push held by the service", func() bool { return svc.Requests() >= 1 })
	st := p.Stats()
	if st.Limited != 20*20 || st.Dropped < 20*10-3 {
		t.Errorf("stats %+v: want 400 over the limit and the rest but 3 dropped", st)
	}
}
