package main

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// membersOf reads the count the sign-in page lists for room, or -1.
func membersOf(t *testing.T, u *chattest.User, room string) int {
	t.Helper()
	_, page := u.Get("/")
	m := regexp.MustCompile(`<li data-room="` + room + `" data-members="(\d+)">`).FindStringSubmatch(page)
	if m == nil {
		return -1
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n
}

// Three users on two instances: the sign-in page of someone signed in lists
// the room with 3 within 5 s, without JavaScript (right at load) and in
// Chromium (where the list refreshes itself); when one leaves, the count
// drops, on the open page too.
func TestRoomDirectory(t *testing.T) {
	env := sharedEnv(redistest.Addr(t))
	a, b := startInstance(t, env), startInstance(t, env)
	room := testkit.Room()
	var sockets []*chattest.Socket
	for i, base := range []string{a.URL, a.URL, b.URL} {
		_, s := chattest.JoinAs(t, base, fmt.Sprint("User", i), room)
		sockets = append(sockets, s)
	}
	visitor := chattest.NewUser(t, b.URL)
	visitor.SignIn("Visitor", testkit.Room()) // the directory needs a session
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	testkit.WaitFor(t, ctx, "the room listed with 3 members", func() bool { return membersOf(t, visitor, room) == 3 })

	br := newBrowser(t)
	p := newTab(t, br)
	p.signIn(a.URL, "Viewer", testkit.Room())
	p.do(chromedp.Navigate(a.URL + "/"))
	li := fmt.Sprintf(`document.querySelector('#rooms li[data-room=%q]')`, room)
	p.waitJS(li + `?.dataset.members === '3'`)
	if got := evalJS[string](p, li+`.querySelector('a').getAttribute('href')`); got != "/rooms/"+room {
		t.Errorf("the directory links to %q", got)
	}

	sockets[2].Conn.Close(websocket.StatusNormalClosure, "")
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	testkit.WaitFor(t, ctx2, "the count down to 2", func() bool { return membersOf(t, visitor, room) == 2 })
	// The open page, without a reload.
	p.waitJSWithin(li+`?.dataset.members === '2'`, 10*time.Second)
	if evalJS[string](p, `performance.getEntriesByType('navigation').length + ':' + location.pathname`) != "1:/" {
		t.Error("the page reloaded")
	}
	// The room page offers the same list, with its own room marked.
	q := newTab(t, br)
	q.signIn(b.URL, "Reader", room)
	q.waitJS(li + `?.querySelector('a[aria-current="page"]')`)
}

// ROOM_DIRECTORY=off keeps rooms unlisted: no list on the pages, and GET
// /rooms is a 404.
func TestRoomDirectoryOff(t *testing.T) {
	env := sharedEnv("")
	env["ROOM_DIRECTORY"] = "off"
	inst := startInstance(t, env)
	room := testkit.Room()
	u, _ := chattest.JoinAs(t, inst.URL, "Ann", room)
	if _, page := u.Get("/"); strings.Contains(page, `id="rooms"`) || strings.Contains(page, room+`"`) {
		t.Error("the sign-in page lists rooms with ROOM_DIRECTORY=off")
	}
	if _, page := u.Get("/rooms/" + room); strings.Contains(page, `id="rooms"`) {
		t.Error("the room page lists rooms with ROOM_DIRECTORY=off")
	}
	if resp, _ := u.Get("/rooms"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /rooms with ROOM_DIRECTORY=off: %d, want 404", resp.StatusCode)
	}
}

// A room page's socket brings the directory (ul#rooms[data-pushed]) and
// the changes to it, and the page sends no poll of its own while it
// does: on a phone's 200 ms round trip, a room opened on the other
// instance shows on the open page with no request for the list. After a
// cut, the page that reconnects has the list again at once, not at the
// next change.
func TestBrowserDirectoryComesOverTheSocket(t *testing.T) {
	// A Redis of its own: other packages' rooms would change the
	// directory (and could crowd a room of one out of its 50).
	env := sharedEnv(redistest.Start(t).Addr)
	a, b := startInstance(t, env), startInstance(t, env)
	p := newTab(t, newBrowser(t))
	proxy := phone(t, p, a, "Reader", testkit.Room())
	p.waitJS(`document.querySelector('#rooms[data-pushed]')`)
	const polls = `performance.getEntriesByType('resource').filter((e) => e.name.includes('/rooms?current=')).length`
	other := testkit.Room()
	_, s := chattest.JoinAs(t, b.URL, "Walker", other)
	defer s.Conn.Close(websocket.StatusNormalClosure, "")
	li := fmt.Sprintf(`document.querySelector('#rooms[data-pushed] li[data-room=%q]')`, other)
	p.waitJSWithin(li, 20*time.Second)
	before := evalJS[int](p, polls)
	// Long enough for the list's own 5 s poll to have gone, had it not
	// been held (the list came just now, and nothing changes after).
	evalJS[bool](p, `(window.testSince = performance.now(), true)`)
	p.waitJS(`performance.now() - window.testSince > 6000`)
	if after := evalJS[int](p, polls); after != before {
		t.Errorf("the page polled the directory %d times while its socket brought it", after-before)
	}
	if got := evalJS[string](p, li+`.querySelector('small').textContent`); got != "1 person" {
		t.Errorf("the pushed list says %q of the new room", got)
	}

	evalJS[bool](p, `(document.getElementById('rooms').dataset.old = '1', true)`)
	proxy.cut()
	p.waitJS(`document.querySelector('#connection').textContent === 'Reconnecting…'`)
	proxy.restore()
	p.retryNow()
	p.waitJS(connected)
	p.waitJSWithin(`document.querySelector('#rooms[data-pushed]:not([data-old])')`, 10*time.Second)
}

// A room page's socket brings "Your rooms" too (ul#my-rooms[data-pushed]):
// on a phone's 200 ms round trip, a message in another room the reader
// has been in shows as unread in the list and the tab's title, and the
// page sends no poll of the list while the socket brings it.
func TestBrowserYourRoomsComeOverTheSocket(t *testing.T) {
	env := sharedEnv(redistest.Start(t).Addr)
	a, b := startInstance(t, env), startInstance(t, env)
	p := newTab(t, newBrowser(t))
	other, here := testkit.Room(), testkit.Room()
	proxy := phone(t, p, a, "Reader", other) // read: in the list
	p.do(chromedp.Navigate(proxy.URL() + "/rooms/" + here))
	p.waitJS(connected)
	p.waitJSWithin(`document.querySelector('#my-rooms[data-pushed]')`, 20*time.Second)

	_, walker := chattest.JoinAs(t, b.URL, "Walker", other)
	defer walker.Conn.Close(websocket.StatusNormalClosure, "")
	walker.Send("news elsewhere", "n1")
	li := fmt.Sprintf(`document.querySelector('#my-rooms[data-pushed] li[data-room=%q][data-unread="1"]')`, other)
	p.waitJSWithin(li, 20*time.Second)
	p.waitJS(`document.title.startsWith('(1)')`)

	const polls = `performance.getEntriesByType('resource').filter((e) => e.name.includes('/my-rooms')).length`
	before := evalJS[int](p, polls)
	// Longer than the list's own 8 s poll, had it not been held.
	evalJS[bool](p, `(window.testSince = performance.now(), true)`)
	p.waitJSWithin(`performance.now() - window.testSince > 9000`, 15*time.Second)
	if after := evalJS[int](p, polls); after != before {
		t.Errorf("the page polled \"Your rooms\" %d times while its socket brought it", after-before)
	}
}
