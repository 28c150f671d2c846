package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
)

// POST /signout without JavaScript: the cookie goes, the sign-in page for
// the room comes, and the room then needs a new sign-in. A post from
// another site is refused (403) and signs nobody out.
func TestSignOutWithoutJavaScript(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	room := testkit.Room()
	ann := chattest.NewUser(t, inst.URL)
	ann.SignIn("Ann", room)

	for _, h := range []http.Header{{"Origin": {"http://evil.example"}}, {"Sec-Fetch-Site": {"cross-site"}}} {
		req, _ := http.NewRequest(http.MethodPost, inst.URL+"/signout", strings.NewReader("room="+room))
		req.Header = h.Clone()
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := ann.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin sign-out %v: %d, want 403", h, resp.StatusCode)
		}
	}
	if resp, _ := ann.Get("/rooms/" + room); resp.StatusCode != http.StatusOK {
		t.Fatalf("a refused cross-origin sign-out signed Ann out (the room answers %d)", resp.StatusCode)
	}

	// "Change room" keeps the name filled in.
	if _, page := ann.Get("/"); !strings.Contains(page, `name="name" value="Ann"`) {
		t.Errorf("the sign-in page of a signed-in user does not keep the name:\n%s", page)
	}

	resp := ann.PostForm("/signout", url.Values{"room": {room}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?room="+room {
		t.Fatalf("sign-out: %d to %q, want 303 to /?room=%s", resp.StatusCode, resp.Header.Get("Location"), room)
	}
	cleared := false
	for _, c := range resp.Cookies() {
		cleared = cleared || (strings.HasSuffix(c.Name, "chat_session") && c.MaxAge < 0)
	}
	if !cleared {
		t.Errorf("sign-out does not clear the session cookie: %v", resp.Header.Values("Set-Cookie"))
	}
	if resp, _ := ann.Get("/rooms/" + room); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?room="+room {
		t.Fatalf("after signing out the room answers %d to %q, want 303 to the sign-in page", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, page := ann.Get("/?room=" + room); !strings.Contains(page, `action="/signin"`) || strings.Contains(page, `value="Ann"`) {
		t.Errorf("after signing out the sign-in page still fills in the name:\n%s", page)
	}
	post := ann.PostForm("/rooms/"+room+"/messages", url.Values{"text": {"after sign-out"}, "nonce": {"x"}})
	post.Body.Close()
	if post.StatusCode != http.StatusSeeOther || post.Header.Get("Location") != "/?room="+room {
		t.Errorf("a post after signing out: %d to %q, want 303 to the sign-in page", post.StatusCode, post.Header.Get("Location"))
	}
}

// In Chromium: "Change room" keeps the name; "Sign out" leads to the
// sign-in page, and going back to the room needs a new sign-in.
func TestBrowserSignOut(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	b := newBrowser(t)
	room := testkit.Room()
	p := newTab(t, b)
	p.signIn(inst.URL, "Ann", room)
	p.waitJS(connected)
	p.do(chromedp.Click(chromedp.CSS("#change-room")))
	p.waitJS(`location.pathname === '/' && document.querySelector('#name').value === 'Ann'`)
	// The room is what changes: the page starts there.
	p.waitJS(`document.activeElement.id === 'room'`)
	p.do(chromedp.NavigateBack())
	p.waitJS(connected)
	p.do(chromedp.Click(chromedp.CSS("#signout button")))
	p.waitJS(`location.pathname === '/' && document.querySelector('#name').value === '' && document.querySelector('#room').value === ` + "'" + room + "'")
	p.do(chromedp.Navigate(inst.URL + "/rooms/" + room))
	p.waitJS(`location.pathname === '/' && document.querySelector('form.signin')`)
}
