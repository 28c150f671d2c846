package main

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/chatrun/chat/push/pushtest"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// subscribe posts b's PushSubscription for u, as the page's "Notify me"
// does.
func subscribe(t *testing.T, u *chattest.User, b *pushtest.Browser) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u.Base+"/push/subscriptions", bytes.NewReader(b.JSON()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := u.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /push/subscriptions: %d, want 201", resp.StatusCode)
	}
}

// Through the chat's own send path, on two instances: a mention reaches
// the person mentioned by Web Push, decrypted with their subscription's
// keys, in the language they subscribed in, and leads to the message; a
// person with a page open and focused in the room gets none.
func TestPushThroughTheSendPath(t *testing.T) {
	svc := pushtest.NewService(t)
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	env := sharedEnv(redistest.Addr(t))
	env["VAPID_PUBLIC_KEY"], env["VAPID_PRIVATE_KEY"], env["VAPID_SUBJECT"] = pub, priv, "mailto:ops@example.com"
	env["PUSH_ALLOWED_HOSTS"] = svc.Host()
	a, b := startInstance(t, env), startInstance(t, env)
	room := testkit.Room()

	// Bob and Carol have been in the room (its page) and subscribed on b;
	// Bob's page is focused in it now.
	people := map[string]*pushtest.Browser{}
	var bob *chattest.User
	for _, name := range []string{"Bob", "Carol"} {
		u := chattest.NewUser(t, b.URL)
		if name == "Carol" {
			u.SetHeader("Accept-Language", "zh-TW")
		}
		u.SignIn(name, room)
		if resp, _ := u.Get("/rooms/" + room); resp.StatusCode != http.StatusOK {
			t.Fatalf("%s's room page: %d", name, resp.StatusCode)
		}
		people[name] = pushtest.NewBrowser(t, svc.URL+"/push/"+strings.ToLower(name))
		subscribe(t, u, people[name])
		if name == "Bob" {
			bob = u
		}
	}
	resp := bob.PostForm("/rooms/"+room+"/read", url.Values{"focused": {"1"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("Bob's focus: %d, want 204", resp.StatusCode)
	}

	_, annWS := chattest.JoinAs(t, a.URL, "Ann", room)
	annWS.Send("@Bob @Carol the deploy is done", "n1")
	p := svc.Next(t, 15*time.Second)
	if p.Path != "/push/carol" {
		t.Fatalf("a push went to %s, want only Carol's (Bob's page is focused in the room)", p.Path)
	}
	if err := pushtest.CheckVAPID(p, svc.URL, "mailto:ops@example.com", pub); err != nil {
		t.Fatal(err)
	}
	pl, err := people["Carol"].Payload(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pl.Title, "Ann") || !strings.Contains(pl.Title, room) || !strings.Contains(pl.Title, "在") ||
		pl.Body != "@Bob @Carol the deploy is done" || pl.URL != "/rooms/"+room+"#msg-1" {
		t.Fatalf("Carol's notification: %+v", pl)
	}
	// Pushes leave in the order they were queued: once Carol's second one
	// is here, one for Bob from the first message would be too.
	annWS.Send("@Carol and one more", "n2")
	if p := svc.Next(t, 15*time.Second); p.Path != "/push/carol" {
		t.Fatalf("a push went to %s, want Carol's", p.Path)
	}
	if n := svc.Requests(); n != 2 {
		t.Fatalf("the push service got %d requests, want Carol's 2 and none for Bob", n)
	}
}

// With Web Push configured, the room page's one "Notify me" control shows
// (the browser has a PushManager and a service worker) and axe finds
// nothing on the page with it, in both themes.
func TestBrowserNotifyControlAccessible(t *testing.T) {
	axe := axeSource(t)
	priv, pub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		t.Fatal(err)
	}
	env := sharedEnv("")
	env["VAPID_PUBLIC_KEY"], env["VAPID_PRIVATE_KEY"], env["VAPID_SUBJECT"] = pub, priv, "mailto:ops@example.com"
	inst := startInstance(t, env)
	browser := newBrowser(t)
	for _, scheme := range []string{"light", "dark"} {
		p := newTab(t, browser)
		p.theme(scheme)
		p.signIn(inst.URL, "Ann-"+scheme, "general")
		p.waitJS(socketOpen)
		p.waitJS(`(b => b && !b.hidden && b.textContent.trim() !== '' && b.dataset.vapidKey === ` + "'" + pub + "'" + `)(document.querySelector('#notify-push'))`)
		if evalJS[bool](p, `!!document.querySelector('#notify')`) {
			t.Error("the page has #notify beside #notify-push: two controls")
		}
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("room with Notify me, %s: %q", scheme, v)
		}
	}
}
