package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// Sign-out revokes, on one Redis and on a cluster: a copy of the cookie taken before POST /signout opens
// no room, posts nothing and opens no socket afterwards, on either
// instance, and the session's sockets already open on the other instance
// are told "Your session has ended." and closed with 1008. Signing in
// again works.
func TestSignOutRevokesTheSessionEverywhere(t *testing.T) {
	forEachStore(t, testSignOutRevokesTheSessionEverywhere)
}

func testSignOutRevokesTheSessionEverywhere(t *testing.T, st store) {
	env := st.shared()
	a, b := startInstance(t, env), startInstance(t, env)
	room := testkit.Room()
	ann := chattest.NewUser(t, a.URL)
	ann.SignIn("Ann", room)
	copied := ann.On(b.URL) // the cookie as saved before sign-out, used elsewhere
	open := ann.On(b.URL).Dial(room)
	open.Next()
	watcher := chattest.NewUser(t, b.URL)
	watcher.SignIn("Watcher", room)
	// The pages' polls of the lists, which trust a session found not
	// signed out for a few seconds: listed before, not after.
	ann.Get("/rooms/" + room) // read: the room is in "Your rooms"
	poller := ann.On(b.URL)
	poller.SetHeader("HX-Request", "true")
	polls := []string{"/rooms?current=" + room, "/my-rooms?current=" + room}
	for _, p := range polls {
		if _, frag := poller.Get(p); !strings.Contains(frag, `data-room="`+room+`"`) {
			t.Fatalf("GET %s before sign-out does not list the room: %s", p, frag)
		}
	}

	resp := ann.PostForm("/signout", url.Values{"room": {room}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d, want 303", resp.StatusCode)
	}

	open.Until("Your session has ended.")
	if code := open.CloseStatus(); code != websocket.StatusPolicyViolation {
		t.Errorf("Ann's socket on the other instance closed with %v, want 1008", code)
	}

	// Instance b has heard of the sign-out (it closed the socket): its
	// polls no longer trust the session.
	for _, p := range polls {
		if _, frag := poller.Get(p); strings.Contains(frag, "data-room=") {
			t.Errorf("GET %s with the copied cookie after sign-out still lists rooms: %s", p, frag)
		}
	}
	if resp, _ := copied.Get("/rooms/" + room); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the copied cookie opens the room: %d, want 303 to sign in", resp.StatusCode)
	}
	// A read report trusts its session as the polls do: no longer.
	read := copied.PostForm("/rooms/"+room+"/read", url.Values{"seq": {"1"}, "focused": {"1"}})
	read.Body.Close()
	if read.StatusCode != http.StatusSeeOther {
		t.Errorf("a read report with the copied cookie: %d, want 303 to sign in", read.StatusCode)
	}
	if resp, _ := copied.Get("/session"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /session with the copied cookie: %d, want 401", resp.StatusCode)
	}
	post := copied.PostForm("/rooms/"+room+"/messages", url.Values{"text": {"after sign-out"}, "nonce": {"n1"}})
	post.Body.Close()
	if post.StatusCode != http.StatusSeeOther || !strings.HasPrefix(post.Header.Get("Location"), "/?room=") {
		t.Errorf("a post with the copied cookie: %d to %q, want 303 to sign in", post.StatusCode, post.Header.Get("Location"))
	}
	again := copied.Dial(room)
	if frame := again.Next(); !strings.Contains(frame, "Your session has ended.") {
		t.Errorf("the copied cookie's socket got %q, want the session-ended notice", frame)
	}
	if code := again.CloseStatus(); code != websocket.StatusPolicyViolation {
		t.Errorf("the copied cookie's socket closed with %v, want 1008", code)
	}
	if _, page := watcher.Get("/rooms/" + room); strings.Contains(page, "after sign-out") {
		t.Error("the post with the copied cookie was stored")
	}

	// Signing in again is a session that holds. (In another room: the
	// name stays claimed in this one for the claim's life after its
	// sockets left, as after any sign-out.)
	other := testkit.Room()
	ann.SignIn("Ann", other)
	if resp, _ := ann.Get("/rooms/" + other); resp.StatusCode != http.StatusOK {
		t.Errorf("after signing in again the room answers %d", resp.StatusCode)
	}
}

// Behind IAP a person's browsers share one session: signing out in one
// signs out the others (their cookies were issued before), and signing in
// again in either makes a session that holds.
func TestSignOutEndsAVerifiedPersonsSessionInEveryBrowser(t *testing.T) {
	iap := newFakeIAP(t)
	inst := startInstance(t, iap.env(sharedEnv("")))
	room := testkit.Room()
	token := iap.token(t, "accounts.google.com:ann")
	laptop, phone := chattest.NewUser(t, inst.URL), chattest.NewUser(t, inst.URL)
	for _, u := range []*chattest.User{laptop, phone} {
		u.SetHeader(iapHeader, token)
		u.SignIn("Ann", room)
	}
	resp := laptop.PostForm("/signout", url.Values{"room": {room}})
	resp.Body.Close()
	if resp, _ := phone.Get("/session"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the phone's session after signing out on the laptop: %d, want 401", resp.StatusCode)
	}
	phone.SignIn("Ann", room)
	if resp, _ := phone.Get("/session"); resp.StatusCode != http.StatusNoContent {
		t.Errorf("the phone signed in again: %d, want 204", resp.StatusCode)
	}
}

// With AUTH=oidc, sign-out also ends the service's own identity cookie on
// every instance: a copy saved before signs nobody in again (the sign-in
// page offers the provider, the form is refused), while a new sign-in
// with the provider works.
func TestSignOutRevokesTheProvidersSignIn(t *testing.T) {
	prov := newFakeProvider(t)
	env := prov.env(sharedEnv(redistest.Addr(t)))
	a, b := startInstance(t, env), startInstance(t, env)
	room := testkit.Room()
	prov.as("revoked-sub", "revoked@example.com")
	ann := chattest.NewUser(t, a.URL)
	if code, _ := finishLogin(t, ann, startLogin(t, ann, room)); code != http.StatusSeeOther {
		t.Fatalf("sign-in with the provider: %d", code)
	}
	ann.SignIn("Ann", room)
	copied := ann.On(b.URL)
	if !signedInWithProvider(t, copied) {
		t.Fatal("the copied cookies are not signed in with the provider before sign-out")
	}
	resp := ann.PostForm("/signout", url.Values{"room": {room}})
	resp.Body.Close()
	if signedInWithProvider(t, copied) {
		t.Error("a copy of the identity cookie saved before sign-out is still signed in with the provider")
	}
	post := copied.PostForm("/signin", url.Values{"name": {"Ann"}, "room": {room}})
	post.Body.Close()
	if post.StatusCode != http.StatusUnauthorized {
		t.Errorf("signing in with the copied identity cookie: %d, want 401", post.StatusCode)
	}
	if code, _ := finishLogin(t, ann, startLogin(t, ann, room)); code != http.StatusSeeOther || !signedInWithProvider(t, ann) {
		t.Errorf("signing in with the provider again: %d", code)
	}
}
