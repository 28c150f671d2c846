package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/coder/websocket"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// MODERATORS without a verified identity stops start-up, saying why.
func TestModeratorsNeedAVerifiedIdentity(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	env := map[string]string{"MODERATORS": "mod@example.com", "PORT": "0"}
	err := run(ctx, []string{"chat"}, func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "MODERATORS needs AUTH=iap or AUTH=oidc") {
		t.Fatalf("run with MODERATORS and no AUTH: %v, want it refused", err)
	}
	env["MODERATORS"] = "not an address"
	env["AUTH"], env["IAP_AUDIENCE"], env["IAP_JWKS_URL"] = "iap", "/projects/1/x", "http://127.0.0.1:1/keys"
	if err := run(ctx, []string{"chat"}, func(k string) string { return env[k] }, io.Discard); err == nil || !strings.Contains(err.Error(), "MODERATORS") {
		t.Fatalf("run with a MODERATORS entry that is no address: %v, want it refused", err)
	}
}

// Behind IAP, on two instances sharing Redis: a moderator removes a person
// from a room for an hour. Their open socket, on the other instance, is
// told why and closed with 1008; a new socket, a sign-in (in another
// browser, under another name too), the room page and a post are refused,
// saying until when; the room is told; another room is not affected.
// Someone who is not a moderator gets 403 and changes nothing. The action
// is one log line.
func TestModeratorRemovesAPerson(t *testing.T) {
	redistest.Addr(t) // skips, or fails under CI, without Redis
	iap := newFakeIAP(t)
	env := iap.env(sharedEnv(redistest.Addr(t)))
	// Names and identities of this run alone: bindings of names to
	// identities are for good, and tests share one Redis under CI.
	tag := strings.TrimPrefix(testkit.Room(), "room-")[:6]
	env["MODERATORS"] = "Mod-" + tag + "@Example.com"
	modName, annName, trollName := "Moderator "+tag, "Ann "+tag, "Troll "+tag
	a, b := startInstance(t, env), startInstance(t, env)
	room, other := testkit.Room(), testkit.Room()

	as := func(base, subject string) *chattest.User {
		u := chattest.NewUser(t, base)
		u.SetHeader(iapHeader, iap.token(t, "accounts.google.com:"+subject+"-"+tag))
		return u
	}
	mod := as(a.URL, "mod")
	mod.SignIn(modName, room)
	ann := as(a.URL, "ann")
	ann.SignIn(annName, room)
	annSock := ann.Dial(room)
	annSock.Next()
	troll := as(b.URL, "troll")
	troll.SignIn(trollName, room)
	trollSock := troll.Dial(room)
	trollSock.Next()
	troll.SignIn(trollName, other)

	resp := ann.PostForm("/rooms/"+room+"/removals", url.Values{"name": {trollName}, "duration": {"1h"}})
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "Only moderators can remove people") {
		t.Fatalf("a removal by someone who is not a moderator: %d", resp.StatusCode)
	}
	resp = troll.PostForm("/rooms/"+room+"/messages", url.Values{"text": {"still here"}, "nonce": {"t1"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after a refused removal, the person's post: %d, want 303", resp.StatusCode)
	}

	// The moderator deletes the person's message: every page says so, and
	// the text is gone.
	seq := regexp.MustCompile(`id="msg-(\d+)"`).FindStringSubmatch(annSock.Until("still here"))
	if seq == nil {
		t.Fatal("no message id in the frame of Troll's message")
	}
	deleteURL := "/rooms/" + room + "/messages/" + seq[1] + "/delete"
	if _, body := mod.Get("/rooms/" + room); !strings.Contains(body, deleteURL) {
		t.Fatal("the moderator's room page offers no Delete on another's message")
	}
	if _, body := ann.Get("/rooms/" + room); strings.Contains(body, deleteURL) || strings.Contains(body, "remove-form") {
		t.Fatal("Ann's room page offers Delete on another's message, or Remove")
	}
	// The moderator's member list offers Remove by every other name.
	if _, body := mod.Get("/rooms/" + room); !strings.Contains(body, `<form id="remove-form"`) ||
		!strings.Contains(body, `form="remove-form" name="name" value="`+trollName+`"`) || strings.Contains(body, `value="`+modName+`"`) {
		t.Fatal("the moderator's member list offers no Remove by Troll's name (or one by their own)")
	}
	resp = mod.PostForm(deleteURL, url.Values{"nonce": {"m1"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the moderator's delete: %d, want 303", resp.StatusCode)
	}
	annSock.Until("Removed by a moderator.")
	if _, body := ann.Get("/rooms/" + room); strings.Contains(body, "still here") || !strings.Contains(body, "Removed by a moderator.") {
		t.Fatal("after the moderator's delete, the room page still shows the text, or not why it is gone")
	}

	resp = mod.PostForm("/rooms/"+room+"/removals", url.Values{"name": {trollName}, "duration": {"1h"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the moderator's removal: %d, want 303", resp.StatusCode)
	}
	trollSock.Until("A moderator removed you from this room.")
	if code := trollSock.CloseStatus(); code != websocket.StatusPolicyViolation {
		t.Fatalf("the removed person's socket closed with %d, want 1008", code)
	}
	annSock.Until(trollName + " was removed by a moderator.")

	for _, u := range []*chattest.User{troll, as(a.URL, "troll")} {
		resp := u.PostForm("/signin", url.Values{"name": {trollName}, "room": {room}})
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "A moderator removed you from this room. You can come back after") {
			t.Fatalf("sign-in of the removed person: %d", resp.StatusCode)
		}
		resp = u.PostForm("/signin", url.Values{"name": {"Not " + trollName}, "room": {room}})
		resp.Body.Close()
		if resp.StatusCode == http.StatusSeeOther {
			t.Fatal("the removed person got back in under another name")
		}
	}
	if resp, body := troll.Get("/rooms/" + room); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "A moderator removed you from this room.") {
		t.Fatalf("the room page for the removed person: %d", resp.StatusCode)
	}
	resp = troll.PostForm("/rooms/"+room+"/messages", url.Values{"text": {"let me back"}, "nonce": {"t2"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("the removed person's post: %d, want 403", resp.StatusCode)
	}
	s := troll.Dial(room)
	s.Until("A moderator removed you from this room. You can come back after")
	if code := s.CloseStatus(); code != websocket.StatusPolicyViolation {
		t.Fatalf("the removed person's new socket closed with %d, want 1008", code)
	}
	// Another room is not theirs to be kept out of.
	if resp, _ := troll.Get("/rooms/" + other); resp.StatusCode != http.StatusOK {
		t.Fatalf("another room for the removed person: %d, want 200", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, action := range []string{`"action":"delete"`, `"action":"remove"`} {
		testkit.WaitFor(t, ctx, "one log line for the moderator's "+action, func() bool {
			n := 0
			for _, l := range a.Logs() {
				if strings.Contains(l, `"moderator action"`) && strings.Contains(l, action) && strings.Contains(l, `"person":"`+trollName+`"`) &&
					strings.Contains(l, `"moderator":"mod-`+tag+`@example.com"`) && strings.Contains(l, `"room":"`+room+`"`) {
					n++
				}
			}
			return n == 1
		})
	}
}

// In Chromium behind IAP, a moderator's page: the member list, pushed as
// people come, offers Remove by every other name (the page adds it to the
// list the server pushes to everyone), reachable and worked with the
// keyboard; axe finds nothing serious on it. Enter on Remove takes the
// person out of the room: their socket is told why and closes with 1008.
func TestBrowserModeratorRemovesFromTheMemberList(t *testing.T) {
	axe := axeSource(t)
	iap := newFakeIAP(t)
	env := iap.env(sharedEnv(""))
	env["MODERATORS"] = "mod@example.com"
	inst := startInstance(t, env)
	browser := newBrowser(t)
	room := testkit.Room()

	mod := newTab(t, browser)
	mod.behindIAP(iap.token(t, "accounts.google.com:mod"))
	mod.signIn(inst.URL, "Moderator", room)
	mod.waitJS(socketOpen)

	troll := chattest.NewUser(t, inst.URL)
	troll.SetHeader(iapHeader, iap.token(t, "accounts.google.com:troll"))
	troll.SignIn("Troll", room)
	sock := troll.Dial(room)
	sock.Next()

	const button = `#members button.remove[value="Troll"]`
	mod.waitJS(`!!document.querySelector('` + button + `') && !document.querySelector('#members button.remove[value="Moderator"]')`)
	if v := mod.axeViolations(axe); len(v) > 0 {
		t.Errorf("axe on the moderator's page: %v", v)
	}
	mod.do(chromedp.Focus(chromedp.CSS(button)), chromedp.KeyEvent(kb.Enter))
	sock.Until("A moderator removed you from this room.")
	if code := sock.CloseStatus(); code != websocket.StatusPolicyViolation {
		t.Fatalf("the removed person's socket closed with %d, want 1008", code)
	}
	mod.waitJS(`location.pathname === '/rooms/` + room + `'`)
}
