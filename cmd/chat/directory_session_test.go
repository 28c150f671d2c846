package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
)

// directoryShown reports what u is shown of the room directory: on the
// sign-in page, at GET /rooms (a page), and at GET /rooms as the pages'
// list asks for it (htmx). It fails the test when one names room and
// another does not.
func directoryShown(t *testing.T, u *chattest.User, room string) bool {
	t.Helper()
	_, signIn := u.Get("/")
	pageResp, page := u.Get("/rooms")
	u.SetHeader("HX-Request", "true")
	_, list := u.Get("/rooms?current=" + room)
	u.SetHeader("HX-Request", "")
	shown := []bool{strings.Contains(signIn, `data-room="`+room+`"`), strings.Contains(page, `data-room="`+room+`"`), strings.Contains(list, `data-room="`+room+`"`)}
	if shown[0] != shown[1] || shown[1] != shown[2] {
		t.Fatalf("the sign-in page, GET /rooms and its htmx list name the room: %v", shown)
	}
	if !shown[0] {
		if strings.Contains(signIn, `id="rooms"`) {
			t.Error("the sign-in page has a room directory for someone not signed in")
		}
		if pageResp.StatusCode != http.StatusSeeOther || pageResp.Header.Get("Location") != "/" {
			t.Errorf("GET /rooms without a session: %d to %q, want 303 to /", pageResp.StatusCode, pageResp.Header.Get("Location"))
		}
		if !strings.Contains(list, `<ul id="rooms" class="rooms" aria-labelledby="rooms-heading"><li class="none"><a href="/">Sign in</a> to see the rooms in use.</li></ul>`) {
			t.Errorf("the htmx list without a session:\n%s", list)
		}
	}
	return shown[0]
}

// waitListed waits until the sign-in page lists room for u, who has a
// session: the directory is read a moment after someone enters.
func waitListed(t *testing.T, u *chattest.User, room string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	testkit.WaitFor(t, ctx, "the room listed", func() bool {
		return strings.Contains(getBody(u, "/"), `data-room="`+room+`"`)
	})
}

// The room directory is for people in the chat: a visitor without a
// session is shown no room's name (not on the sign-in page, not at
// GET /rooms, not in the list the pages refresh), and is shown them once
// signed in; signed out, no more.
func TestRoomDirectoryNeedsASession(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	room := testkit.Room()
	waitListed(t, first(chattest.JoinAs(t, inst.URL, "Ann", room)), room)

	visitor := chattest.NewUser(t, inst.URL)
	if directoryShown(t, visitor, room) {
		t.Error("a visitor without a session is shown the room")
	}
	visitor.SignIn("Visitor", testkit.Room())
	if !directoryShown(t, visitor, room) {
		t.Error("a signed-in visitor is not shown the room")
	}
	resp := visitor.PostForm("/signout", nil)
	resp.Body.Close()
	if directoryShown(t, visitor, room) {
		t.Error("a visitor signed out is shown the room")
	}
}

// With AUTH=oidc, an anonymous visitor is asked to sign in with the
// provider and shown no room's name; a session cookie without the
// provider's sign-in that made it is no session for the directory either;
// the person signed in with the provider and the chat sees the rooms.
func TestRoomDirectoryUnderOIDCNeedsAVerifiedSession(t *testing.T) {
	prov := newFakeProvider(t)
	inst := startInstance(t, prov.env(sharedEnv("")))
	room := "board-layoffs-q3-" + testkit.Room()

	ann := chattest.NewUser(t, inst.URL)
	prov.as("ann-sub", "ann@example.com")
	if code, _ := finishLogin(t, ann, startLogin(t, ann, room)); code != http.StatusSeeOther {
		t.Fatalf("the callback: %d, want 303", code)
	}
	ann.SignIn("Ann", room)
	ann.Dial(room)
	waitListed(t, ann, room)
	if !directoryShown(t, ann, room) {
		t.Fatal("the person signed in is not shown the room")
	}

	anonymous := chattest.NewUser(t, inst.URL)
	if _, body := anonymous.Get("/"); !strings.Contains(body, `id="signin-provider"`) {
		t.Fatal("the anonymous visitor is not offered to sign in with the provider")
	}
	if directoryShown(t, anonymous, room) || strings.Contains(getBody(anonymous, "/"), "board-layoffs") {
		t.Error("an anonymous visitor is shown the room")
	}

	// Ann's session cookie alone, without her sign-in with the provider.
	copied := chattest.NewUser(t, inst.URL)
	for _, c := range ann.Client.Jar.Cookies(mustURL(t, inst.URL)) {
		if c.Name == "chat_session" {
			copied.Client.Jar.SetCookies(mustURL(t, inst.URL), []*http.Cookie{c})
		}
	}
	if directoryShown(t, copied, room) {
		t.Error("a session cookie without its verified identity is shown the room")
	}
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func first[A, B any](a A, _ B) A { return a }

func getBody(u *chattest.User, path string) string {
	_, body := u.Get(path)
	return body
}

// In Chromium: the sign-in page of a new browser shows no directory; once
// signed in, the room page's list is there, and after the session is
// signed out the list says to sign in and names no room.
func TestBrowserRoomDirectoryNeedsASession(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	room := testkit.Room()
	waitListed(t, first(chattest.JoinAs(t, inst.URL, "Ann", room)), room)
	br := newBrowser(t)
	p := newTab(t, br)
	p.do(chromedp.Navigate(inst.URL + "/"))
	p.waitJS(`document.querySelector('form.signin')`)
	if evalJS[bool](p, `!!document.querySelector('#rooms') || document.body.textContent.includes('`+room+`')`) {
		t.Error("a new browser's sign-in page shows the room directory")
	}
	p.signIn(inst.URL, "Bob", testkit.Room())
	li := `document.querySelector('#rooms li[data-room="` + room + `"]')`
	p.waitJS(li)
	// Signed out behind the page's back (as from another tab): the list,
	// refreshing itself, says so and names no room.
	evalJS[bool](p, `(fetch('/signout', {method: 'POST', redirect: 'manual'}), true)`)
	p.waitJS(`document.querySelector('#rooms')?.textContent.trim() === 'Sign in to see the rooms in use.'`)
	if evalJS[bool](p, li+` !== null`) {
		t.Error("the signed-out page still lists the room")
	}
}
