package main

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
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

// status posts form to path as u and returns the status and body.
func status(t *testing.T, u *chattest.User, path string, form url.Values) (int, string) {
	t.Helper()
	resp := u.PostForm(path, form)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// Behind IAP, on two instances sharing Redis: Ann creates a private room
// and writes in it. Carol, not a member, gets 404 for its page, its
// socket's handshake (no upgrade) and a post, and does not see it in the
// directory. Ann makes an invitation; Bob follows it on the other
// instance, becomes a member and reads Ann's history; Ann sees the room
// in her directory, marked private. Ann removes Bob: his open socket is
// told why and closed with 1008 within 2 s, and the room is gone for him.
func TestPrivateRoomMembersAndInvitations(t *testing.T) {
	iap := newFakeIAP(t)
	env := iap.env(sharedEnv(redistest.Addr(t)))
	a, b := startInstance(t, env), startInstance(t, env)
	room := testkit.Room()
	// Names and identities of this run alone: a name is bound to an
	// identity for good, and tests share one Redis under CI.
	tag := strings.TrimPrefix(room, "room-")[:6]
	annName, bobName := "Ann "+tag, "Bob "+tag
	as := func(base, subject string) *chattest.User {
		u := chattest.NewUser(t, base)
		u.SetHeader(iapHeader, iap.token(t, "accounts.google.com:"+subject+"-"+tag))
		return u
	}
	ann, bob, carol := as(a.URL, "ann"), as(b.URL, "bob"), as(b.URL, "carol")

	if code, _ := status(t, ann, "/rooms", url.Values{"room": {room}, "visibility": {"private"}}); code != http.StatusSeeOther {
		t.Fatalf("create a private room: %d, want 303", code)
	}
	if code, body := status(t, carol, "/rooms", url.Values{"room": {room}, "visibility": {"private"}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, "That name is taken.") {
		t.Fatalf("create it again: %d, want 422 saying the name is taken", code)
	}
	ann.SignIn(annName, room)
	annSock := ann.Dial(room)
	annSock.Next()
	if code, _ := status(t, ann, "/rooms/"+room+"/messages", url.Values{"text": {"the secret plan"}, "nonce": {"a1"}}); code != http.StatusSeeOther {
		t.Fatalf("Ann's post: %d", code)
	}

	carol.SignIn("Carol "+tag, room) // as for any room name: nothing to tell
	if resp, body := carol.Get("/rooms/" + room); resp.StatusCode != http.StatusNotFound || strings.Contains(body, "secret plan") {
		t.Fatalf("Carol's page of the private room: %d, want 404", resp.StatusCode)
	}
	if code, _ := handshakeStatus(t, carol, room); code != http.StatusNotFound {
		t.Fatalf("Carol's handshake: %d, want 404 and no upgrade", code)
	}
	if resp, body := carol.Get("/rooms/" + room + "?before=5"); resp.StatusCode != http.StatusNotFound || strings.Contains(body, "secret plan") {
		t.Fatalf("Carol's scrollback of the private room: %d, want 404", resp.StatusCode)
	}
	if code, _ := status(t, carol, "/rooms/"+room+"/messages", url.Values{"text": {"let me in"}, "nonce": {"c1"}}); code != http.StatusNotFound {
		t.Fatalf("Carol's post: %d, want 404", code)
	}
	if code, _ := status(t, carol, "/rooms/"+room+"/invites", nil); code != http.StatusNotFound {
		t.Fatalf("Carol's invitation: %d, want 404", code)
	}
	if _, body := carol.Get("/rooms"); strings.Contains(body, room) {
		t.Fatal("the private room is in Carol's directory")
	}

	resp := ann.PostForm("/rooms/"+room+"/invites", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("Ann's invitation: %d, want 303", resp.StatusCode)
	}
	_, page := ann.Get(resp.Header.Get("Location"))
	m := regexp.MustCompile(`id="invite-link" readonly value="[^"]*(/join/[^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the room page shows no invitation link after making one")
	}
	join := m[1]
	if resp, _ := bob.Get(join); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/rooms/"+room {
		t.Fatalf("Bob follows the link: %d to %q, want 303 to the room", resp.StatusCode, resp.Header.Get("Location"))
	}
	bob.SignIn(bobName, room)
	if resp, body := bob.Get("/rooms/" + room); resp.StatusCode != http.StatusOK || !strings.Contains(body, "the secret plan") {
		t.Fatalf("Bob's page of the room he joined: %d", resp.StatusCode)
	}
	bobSock := bob.Dial(room)
	if h := bobSock.Next(); !strings.Contains(h, "the secret plan") {
		t.Fatalf("Bob's history frame: %.200s", h)
	}
	if _, body := ann.Get("/rooms"); !strings.Contains(body, room) || !strings.Contains(body, "private") {
		t.Fatal("Ann's directory does not list her private room, marked private")
	}
	if _, body := carol.Get("/rooms"); strings.Contains(body, room) {
		t.Fatal("the private room is in Carol's directory")
	}

	// The creator sees the room's members, each with Remove; nobody else.
	listed := func(body, name string) bool {
		i := strings.Index(body, `id="room-members"`)
		if i < 0 {
			return false
		}
		list := body[i:]
		list = list[:strings.Index(list, "</ul>")]
		return strings.Contains(list, name)
	}
	if _, body := ann.Get("/rooms/" + room); !listed(body, bobName) || !listed(body, annName) || !strings.Contains(body, `name="name" value="`+bobName+`"`) {
		t.Fatal("Ann, the creator, does not see Bob and herself among the room's members, with Remove by Bob")
	}
	if _, body := bob.Get("/rooms/" + room); strings.Contains(body, `id="room-members"`) {
		t.Fatal("Bob, not the creator, sees the list of members")
	}
	if code, _ := status(t, bob, "/rooms/"+room+"/members/remove", url.Values{"name": {annName}}); code != http.StatusForbidden {
		t.Fatalf("Bob, not the creator, removes Ann: %d, want 403", code)
	}
	start := time.Now()
	if code, _ := status(t, ann, "/rooms/"+room+"/members/remove", url.Values{"name": {bobName}}); code != http.StatusSeeOther {
		t.Fatalf("Ann removes Bob: %d, want 303", code)
	}
	bobSock.Until("You are no longer a member of this room.")
	if code := bobSock.CloseStatus(); code != websocket.StatusPolicyViolation {
		t.Fatalf("Bob's socket closed with %d, want 1008", code)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Bob's socket closed %v after the removal, want within 2 s", took)
	}
	t.Logf("Bob's socket closed %v after Ann removed him", time.Since(start))
	if resp, _ := bob.Get("/rooms/" + room); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("Bob's page after his removal: %d, want 404", resp.StatusCode)
	}
	if _, body := ann.Get("/rooms/" + room); listed(body, bobName) {
		t.Fatal("after his removal, Bob is still among the room's members on Ann's page")
	}
}

// An expired, a revoked and a tampered invitation are each refused with a
// page saying so, and make nobody a member.
func TestInvitationsThatDoNotHold(t *testing.T) {
	iap := newFakeIAP(t)
	env := iap.env(sharedEnv(redistest.Addr(t)))
	inst := startInstance(t, env)
	room := testkit.Room()
	tag := strings.TrimPrefix(room, "room-")[:6]
	as := func(subject string) *chattest.User {
		u := chattest.NewUser(t, inst.URL)
		u.SetHeader(iapHeader, iap.token(t, "accounts.google.com:"+subject+"-"+tag))
		return u
	}
	ann, dan := as("ann"), as("dan")
	if code, _ := status(t, ann, "/rooms", url.Values{"room": {room}, "visibility": {"private"}}); code != http.StatusSeeOther {
		t.Fatalf("create a private room: %d", code)
	}
	ann.SignIn("Ann "+tag, room)
	dan.SignIn("Dan "+tag, room)
	invite := func() string {
		resp := ann.PostForm("/rooms/"+room+"/invites", nil)
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		return loc.Query().Get("invite")
	}
	notMember := func(what string) {
		t.Helper()
		if resp, _ := dan.Get("/rooms/" + room); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("after %s, Dan's page of the room: %d, want 404", what, resp.StatusCode)
		}
	}

	// Tampered: one character of the signature changed.
	token := invite()
	i := len(token) - 5
	repl := "A"
	if token[i] == 'A' {
		repl = "B"
	}
	bad := token[:i] + repl + token[i+1:]
	if resp, body := dan.Get("/join/" + bad); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "This is not an invitation to any room.") {
		t.Fatalf("a tampered invitation: %d", resp.StatusCode)
	}
	notMember("a tampered invitation")

	// Revoked: made, then every open one revoked by the creator.
	token = invite()
	resp := ann.PostForm("/rooms/"+room+"/invites/revoke", nil)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if resp, body := dan.Get("/join/" + token); resp.StatusCode != http.StatusGone || !strings.Contains(body, "This invitation was revoked.") {
		t.Fatalf("a revoked invitation: %d", resp.StatusCode)
	}
	notMember("a revoked invitation")

	// Expired: signed as the service signs them, with a time past.
	key, err := hkdf.Key(sha256.New, []byte(env["SESSION_SECRET"]), nil, "chat invitation v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	payload := room + "|some-id|" + strconv.FormatInt(time.Now().Add(-time.Minute).Unix(), 10)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(payload))
	expired := base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	if resp, body := dan.Get("/join/" + expired); resp.StatusCode != http.StatusGone || !strings.Contains(body, "This invitation has expired.") {
		t.Fatalf("an expired invitation: %d", resp.StatusCode)
	}
	notMember("an expired invitation")

	// A good one still works.
	if resp, _ := dan.Get("/join/" + invite()); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("a good invitation: %d", resp.StatusCode)
	}
	if resp, _ := dan.Get("/rooms/" + room); resp.StatusCode != http.StatusOK {
		t.Fatalf("after a good invitation, Dan's page: %d, want 200", resp.StatusCode)
	}
}

// Without AUTH there is nobody to hold a membership: "New private room"
// makes an unlisted room, under a name of 130 random bits, which the
// directory never shows and whose page says that anyone with the link can
// enter; invitations do not exist.
func TestUnlistedRoomsWithoutAuth(t *testing.T) {
	// A Redis of its own: the directory lists at most 50 rooms, and the
	// shared one holds every other test's rooms, busier than this one.
	inst := startInstance(t, sharedEnv(redistest.Start(t).Addr))
	u := chattest.NewUser(t, inst.URL)
	if _, body := u.Get("/"); !strings.Contains(body, "Create an unlisted room") {
		t.Fatal("the sign-in page offers no unlisted room")
	}
	name := regexp.MustCompile(`^/rooms/([a-z2-7]{26})$`)
	var rooms []string
	for range 2 {
		resp := u.PostForm("/rooms", url.Values{"visibility": {"private"}, "room": {"ignored"}})
		resp.Body.Close()
		m := name.FindStringSubmatch(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || m == nil {
			t.Fatalf("create an unlisted room: %d to %q, want 303 to 26 base32 characters (130 bits)", resp.StatusCode, resp.Header.Get("Location"))
		}
		rooms = append(rooms, m[1])
	}
	if rooms[0] == rooms[1] {
		t.Fatal("two unlisted rooms got one name")
	}
	unlisted, public := rooms[0], testkit.Room()
	u.SignIn("Ann", unlisted)
	if resp, body := u.Get("/rooms/" + unlisted); resp.StatusCode != http.StatusOK || !strings.Contains(body, "anyone with its link can enter") {
		t.Fatalf("the unlisted room's page: %d, or it does not say who can enter", resp.StatusCode)
	}
	for _, room := range []string{unlisted, public} {
		u.SignIn("Ann", room)
		if code, _ := status(t, u, "/rooms/"+room+"/messages", url.Values{"text": {"hello " + room}, "nonce": {room}}); code != http.StatusSeeOther {
			t.Fatalf("post in %s: %d", room, code)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	testkit.WaitFor(t, ctx, "the public room in the directory", func() bool {
		_, body := u.Get("/rooms")
		return strings.Contains(body, public)
	})
	if _, body := u.Get("/rooms"); strings.Contains(body, unlisted) {
		t.Fatal("the unlisted room is in the directory")
	}
	for _, path := range []string{"/rooms/" + unlisted + "/invites", "/dm"} {
		if code, _ := status(t, u, path, url.Values{"name": {"Bob"}}); code != http.StatusNotFound {
			t.Errorf("POST %s without AUTH: %d, want 404", path, code)
		}
	}
}

// In Chromium, axe finds nothing serious on the sign-in page with "New
// private room", on a private room's page with its invitation link shown
// (copied with the keyboard), and on an unlisted room's page.
func TestBrowserPrivateRoomsAreAccessible(t *testing.T) {
	axe := axeSource(t)
	iap := newFakeIAP(t)
	inst := startInstance(t, iap.env(sharedEnv("")))
	plain := startInstance(t, sharedEnv(""))
	browser := newBrowser(t)
	room := testkit.Room()

	ann := newTab(t, browser)
	ann.behindIAP(iap.token(t, "accounts.google.com:ann"))
	ann.do(chromedp.Navigate(inst.URL + "/"))
	ann.waitJS(`!!document.querySelector('#private-room')`)
	if v := ann.axeViolations(axe); len(v) > 0 {
		t.Errorf("axe on the sign-in page with New private room: %v", v)
	}
	ann.do(
		chromedp.SendKeys(chromedp.CSS("#private-room"), room),
		chromedp.Focus(chromedp.CSS(".new-private button[type=submit]")),
		chromedp.KeyEvent(kb.Enter),
	)
	ann.waitJS(`location.pathname === '/' && new URLSearchParams(location.search).get('room') === '` + room + `'`)
	ann.signIn(inst.URL, "Ann", room)
	ann.waitJS(socketOpen)
	ann.do(chromedp.Focus(chromedp.CSS(".private form button")), chromedp.KeyEvent(kb.Enter))
	ann.waitJS(`!!document.querySelector('#invite-link') && document.querySelector('#invite-link').value.includes('/join/') && !document.querySelector('#copy-invite').hidden`)
	if v := ann.axeViolations(axe); len(v) > 0 {
		t.Errorf("axe on a private room with its invitation link: %v", v)
	}

	bob := newTab(t, browser)
	bob.do(chromedp.Navigate(plain.URL + "/"))
	bob.do(chromedp.Focus(chromedp.CSS(".new-private button")), chromedp.KeyEvent(kb.Enter))
	// Created, and on to signing in to it.
	bob.waitJS(`/^[a-z2-7]{26}$/.test(new URLSearchParams(location.search).get('room') || '')`)
	unlisted := evalJS[string](bob, `new URLSearchParams(location.search).get('room')`)
	bob.signIn(plain.URL, "Bob", unlisted)
	bob.waitJS(`!!document.querySelector('#unlisted-note')`)
	if v := bob.axeViolations(axe); len(v) > 0 {
		t.Errorf("axe on an unlisted room: %v", v)
	}
}

// In Chromium behind IAP: Ann opens direct messages with Bob from the
// member list (Message by his name, with the keyboard; axe finds nothing
// serious on the page). Both see the room
// under "Direct messages", named by the other; opening it again, from
// either side, is the same room; Carol can neither enter it nor see it.
func TestBrowserDirectMessages(t *testing.T) {
	axe := axeSource(t)
	iap := newFakeIAP(t)
	inst := startInstance(t, iap.env(sharedEnv("")))
	browser := newBrowser(t)
	room := testkit.Room()
	as := func(subject string) *chattest.User {
		u := chattest.NewUser(t, inst.URL)
		u.SetHeader(iapHeader, iap.token(t, "accounts.google.com:"+subject))
		return u
	}

	ann := newTab(t, browser)
	ann.behindIAP(iap.token(t, "accounts.google.com:ann"))
	ann.signIn(inst.URL, "Ann", room)
	ann.waitJS(socketOpen)
	bob, carol := as("bob"), as("carol")
	bob.SignIn("Bob", room)
	bobSock := bob.Dial(room)
	bobSock.Next()
	carol.SignIn("Carol", room)

	ann.waitJS(`!!document.querySelector('#members button.dm[value="Bob"]') && !document.querySelector('#members button.dm[value="Ann"]')`)
	ann.do(chromedp.Focus(chromedp.CSS(`#members button.dm[value="Bob"]`)), chromedp.KeyEvent(kb.Enter))
	ann.waitJS(`location.pathname.startsWith('/rooms/dm-') && (document.querySelector('#dm-note')?.textContent || '').includes('With Bob')`)
	dm := strings.TrimPrefix(evalJS[string](ann, `location.pathname`), "/rooms/")
	ann.waitJS(`[...document.querySelectorAll('#dms a')].some(a => a.textContent === 'Bob' && a.getAttribute('href') === '/rooms/` + dm + `')`)
	if v := ann.axeViolations(axe); len(v) > 0 {
		t.Errorf("axe on direct messages: %v", v)
	}

	resp := bob.PostForm("/dm", url.Values{"name": {"Ann"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/rooms/"+dm {
		t.Fatalf("Bob opens his direct messages with Ann: %d to %q, want 303 to /rooms/%s", resp.StatusCode, resp.Header.Get("Location"), dm)
	}
	if _, body := bob.Get("/rooms"); !strings.Contains(body, "Direct messages") || !strings.Contains(body, `href="/rooms/`+dm+`">Ann</a>`) {
		t.Fatal("Bob's directory does not list his direct messages with Ann under her name")
	}
	bob.SignIn("Bob", dm)
	if resp, _ := bob.Get("/rooms/" + dm); resp.StatusCode != http.StatusOK {
		t.Fatalf("Bob's page of the direct messages: %d", resp.StatusCode)
	}
	if resp, _ := carol.Get("/rooms/" + dm); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("Carol's page of Ann and Bob's direct messages: %d, want 404", resp.StatusCode)
	}
	if code, _ := handshakeStatus(t, carol, dm); code != http.StatusNotFound {
		t.Fatalf("Carol's handshake: %d, want 404", code)
	}
	if _, body := carol.Get("/rooms"); strings.Contains(body, dm) {
		t.Fatal("Ann and Bob's direct messages are in Carol's directory")
	}
	if code, _ := status(t, bob, "/rooms/"+dm+"/invites", nil); code != http.StatusNotFound {
		t.Fatalf("an invitation to direct messages: %d, want 404", code)
	}
	// Notes to oneself are direct messages too.
	resp = carol.PostForm("/dm", url.Values{"name": {"Carol"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/rooms/dm-") || resp.Header.Get("Location") == "/rooms/"+dm {
		t.Fatalf("Carol's notes: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
