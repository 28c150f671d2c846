package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// Unread rooms (issue 31): "Your rooms" counts each room's unread messages
// and mentions per person, shared by their devices.

// focusAlways makes the tab's page focused, as the reader's window is:
// headless tabs are never focused by themselves.
func (p *tab) focusAlways() {
	p.t.Helper()
	if _, err := chromedp.Call(p.ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		p.t.Fatal(err)
	}
}

// sameSession gives p, for the instance at to, the cookies from has for
// the instance at at: one person on two devices.
func (p *tab) sameSession(from *tab, at, to string) {
	p.t.Helper()
	got, err := chromedp.Call(from.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{at}})
	if err != nil || len(got.Cookies) == 0 {
		p.t.Fatalf("read device 1's cookies: %v (%+v)", err, got)
	}
	for _, c := range got.Cookies {
		if _, err := chromedp.Call(p.ctx, network.SetCookie, network.SetCookieParams{Name: c.Name, Value: c.Value, URL: to, Path: c.Path, HTTPOnly: &c.HTTPOnly, Secure: &c.Secure, SameSite: c.SameSite}); err != nil {
			p.t.Fatal(err)
		}
	}
}

// waitStored waits until the store says of room, in GET /my-rooms as
// the tab's session reads it, what want says.
func (p *tab) waitStored(room, want string) {
	p.t.Helper()
	js := fmt.Sprintf(`fetch('/my-rooms', {headers: {'HX-Request': 'true'}}).then(r => r.text()).then(t => {
		const li = new DOMParser().parseFromString(t, 'text/html').querySelector('li[data-room=%q]');
		return li ? li.outerHTML : '';
	})`, room)
	var got string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		got, _ = chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		cancel()
		if strings.Contains(got, want) {
			return
		}
		time.Sleep(50 * time.Millisecond) // a poll of the store, not a wait for it
	}
	p.t.Fatalf("%s in /my-rooms: %s, want %s", room, got, want)
}

// unreadOf is the expression of room's data-unread in #my-rooms.
func unreadOf(room string) string {
	return fmt.Sprintf(`document.querySelector('#my-rooms li[data-room=%q]')?.dataset.unread`, room)
}

// waitWithin waits for expr, failing the test when it took over limit.
func (p *tab) waitWithin(limit time.Duration, expr string) {
	p.t.Helper()
	start := time.Now()
	p.waitJS(expr)
	if took := time.Since(start); took > limit {
		p.t.Errorf("%s took %v, want within %v", expr, took, limit)
	}
}

// Two devices of one person: a message in room B raises B's count on the
// device reading room A within 10 s; reading B on the other device clears
// it on the first. In memory, and on Redis with each device on an
// instance of its own.
func TestBrowserUnreadAcrossDevices(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		inst := startInstance(t, sharedEnv(""))
		testUnreadAcrossDevices(t, inst, inst)
	})
	t.Run("redis", func(t *testing.T) {
		env := sharedEnv(redistest.Addr(t))
		testUnreadAcrossDevices(t, startInstance(t, env), startInstance(t, env))
	})
}

func testUnreadAcrossDevices(t *testing.T, a, b *instance) {
	browser := newBrowser(t)
	roomA, roomB := testkit.Room(), testkit.Room()
	one := newTab(t, browser)
	one.focusAlways()
	// Ann has been in B (empty yet), and reads A.
	one.signIn(a.URL, "Ann", roomB)
	one.do(chromedp.Navigate(a.URL + "/rooms/" + roomA))
	one.waitJS(socketOpen)
	one.waitJS(unreadOf(roomB) + ` === '0'`)
	if got := evalJS[string](one, `document.title`); strings.HasPrefix(got, "(") {
		t.Errorf("title with nothing unread: %q", got)
	}

	// Bob writes in B, mentioning her, on the other instance.
	talker(t, b.URL, "Bob", roomB, "hello @ann, are you there?")
	one.waitWithin(10*time.Second, unreadOf(roomB)+` === '1'`)
	one.waitJS(fmt.Sprintf(`document.querySelector('#my-rooms li[data-room=%q]').dataset.mentions === '1'`, roomB))
	one.waitJS(`document.title.startsWith('(1, 1 @) ')`)
	if !evalJS[bool](one, fmt.Sprintf(`document.querySelector('#my-rooms li[data-room=%q]').classList.contains('unread')`, roomB)) {
		t.Error("an unread room is not marked unread (bold)")
	}

	// Her second device (the same session) reads B on the other instance.
	two := newTab(t, browser)
	two.focusAlways()
	two.sameSession(one, a.URL, b.URL)
	two.do(chromedp.Navigate(b.URL + "/rooms/" + roomB))
	two.waitJS(socketOpen)
	two.waitJS(`document.querySelector('#msg-1')`)
	two.waitJS(unreadOf(roomB) + ` === '0'`)
	one.waitWithin(10*time.Second, unreadOf(roomB)+` === '0'`)
	one.waitJS(`!document.title.startsWith('(')`)

	// A message read as it comes in a focused page stays read: the page
	// reports it.
	bob := chattest.NewUser(t, b.URL)
	bob.SignIn("Bob2", roomB)
	ws := bob.Dial(roomB)
	ws.Next()
	ws.Send("one more", "m2")
	two.waitJS(`document.querySelector('#msg-2')`)
	two.waitStored(roomB, `data-unread="0"`)
}

// The level control and "Your rooms" leave nothing serious for axe, in
// both themes, on a room page with unread rooms and mentions.
func TestBrowserUnreadAccessibility(t *testing.T) {
	axe := axeSource(t)
	inst := startInstance(t, sharedEnv(""))
	browser := newBrowser(t)
	roomA, roomB := testkit.Room(), testkit.Room()
	for _, scheme := range []string{"light", "dark"} {
		p := newTab(t, browser)
		p.theme(scheme)
		p.signIn(inst.URL, "Ann-"+scheme, roomB)
		p.do(chromedp.Navigate(inst.URL + "/rooms/" + roomA))
		p.waitJS(socketOpen)
		talker(t, inst.URL, "Bob-"+scheme, testkit.Room()) // a stranger's room: not hers
		ws := chattest.NewUser(t, inst.URL)
		ws.SignIn("Cat-"+scheme, roomB)
		s := ws.Dial(roomB)
		s.Next()
		s.Send("@Ann-"+scheme+" look", "l1")
		p.waitJS(fmt.Sprintf(`document.querySelector('#my-rooms li[data-room=%q]')?.dataset.mentions === '1'`, roomB))
		p.waitJS(`document.querySelector('#my-rooms select[name="level"]')`)
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("room page with Your rooms, %s: %q", scheme, v)
		}
		p.do(chromedp.Navigate(inst.URL + "/"))
		p.waitJS(`document.querySelector('#my-rooms')`)
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("sign-in page with Your rooms, %s: %q", scheme, v)
		}
	}
}

// liOf finds room's item in a #my-rooms fragment.
func liOf(body, room string) string {
	return regexp.MustCompile(`<li data-room="` + regexp.QuoteMeta(room) + `"[^>]*>`).FindString(body)
}

// Without JavaScript: loading room B's page clears B's count; the level
// form posts and comes back; GET /my-rooms answers with and without a
// session.
func TestUnreadWithoutJS(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	roomA, roomB := testkit.Room(), testkit.Room()
	ann := chattest.NewUser(t, inst.URL)
	ann.SignIn("ann", roomB)
	mine := func() string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, inst.URL+"/my-rooms", nil)
		req.Header.Set("HX-Request", "true")
		resp, err := ann.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if err != nil {
				break
			}
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /my-rooms: %d", resp.StatusCode)
		}
		return sb.String()
	}
	// Loading B's page lists it.
	if resp, _ := ann.Get("/rooms/" + roomB); resp.StatusCode != http.StatusOK {
		t.Fatalf("room B: %d", resp.StatusCode)
	}
	if resp, body := ann.Get("/rooms/" + roomA); resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="my-rooms"`) || liOf(body, roomB) == "" {
		t.Fatalf("room A's page: %d, want Your rooms listing B:\n%s", resp.StatusCode, body)
	}
	// Bob writes two messages in B, one mentioning ann.
	_, ws := chattest.JoinAs(t, inst.URL, "bob", roomB)
	ws.Send("hi all", "b1")
	ws.Until(`id="msg-1"`)
	ws.Send("@Ann: lunch?", "b2")
	ws.Until(`id="msg-2"`)
	want := fmt.Sprintf(`<li data-room="%s" data-unread="2" data-mentions="1" class="unread">`, roomB)
	for deadline := time.Now().Add(10 * time.Second); liOf(mine(), roomB) != want; {
		if time.Now().After(deadline) {
			t.Fatalf("B in /my-rooms: %s, want %s", liOf(mine(), roomB), want)
		}
		time.Sleep(20 * time.Millisecond) // the mention is counted off the send path
	}
	if _, body := ann.Get("/"); liOf(body, roomB) != want {
		t.Errorf("B on the sign-in page: %s, want %s", liOf(body, roomB), want)
	}
	// Reading B's page without JavaScript clears its count.
	if resp, _ := ann.Get("/rooms/" + roomB); resp.StatusCode != http.StatusOK {
		t.Fatalf("room B: %d", resp.StatusCode)
	}
	if got, want := liOf(mine(), roomB), fmt.Sprintf(`<li data-room="%s" data-unread="0" data-mentions="0">`, roomB); got != want {
		t.Errorf("B after reading it: %s, want %s", got, want)
	}
	// The level form, without and with htmx.
	resp := ann.PostForm("/rooms/"+roomB+"/level", url.Values{"level": {"all"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/rooms/"+roomB {
		t.Errorf("POST level: %d to %q, want 303 to the room", resp.StatusCode, resp.Header.Get("Location"))
	}
	if body := mine(); !strings.Contains(body, `<option value="all" selected>`) {
		t.Errorf("the level after setting all: %s", body)
	}
	req, _ := http.NewRequest(http.MethodPost, inst.URL+"/rooms/"+roomB+"/level", strings.NewReader("level=none"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("Origin", inst.URL)
	if resp, err := ann.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusNoContent {
		t.Errorf("POST level with htmx: %d, want 204", resp.StatusCode)
	}
	if resp := ann.PostForm("/rooms/"+roomB+"/level", url.Values{"level": {"loud"}}); resp.Body.Close() != nil || resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("POST level loud: %d, want 422", resp.StatusCode)
	}
	// The read marker and heartbeat, as the page's script posts them.
	if resp := ann.PostForm("/rooms/"+roomB+"/read", url.Values{"seq": {"2"}, "focused": {"1"}}); resp.Body.Close() != nil || resp.StatusCode != http.StatusNoContent {
		t.Errorf("POST read: %d, want 204", resp.StatusCode)
	}
	if resp := ann.PostForm("/rooms/"+roomB+"/read", url.Values{"seq": {"x"}}); resp.Body.Close() != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST read x: %d, want 400", resp.StatusCode)
	}
	// Without a session: an empty list for htmx, the sign-in page else.
	stranger := chattest.NewUser(t, inst.URL)
	if resp, _ := stranger.Get("/my-rooms"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET /my-rooms without a session: %d, want 303", resp.StatusCode)
	}
}

// A focused page reports what it read 300 ms after messages stop coming
// and at most once every 3 s while they keep coming, through a phone's
// 200 ms round trip: eight messages 400 ms apart are two or three
// reports, not eight, the last of them the newest message, said focused.
func TestBrowserReadReportsGathered(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	room := testkit.Room()
	ann := newTab(t, newBrowser(t))
	ann.focusAlways()
	phone(t, ann, inst, "Ann", room)
	// Every report the page's script posts, as it posts it.
	evalJS[bool](ann, `(() => {
		window.readReports = [];
		const realFetch = window.fetch;
		window.fetch = (url, opts) => {
			if (String(url).endsWith('/read') && opts && opts.body) window.readReports.push(String(opts.body));
			return realFetch(url, opts);
		};
		return true;
	})()`)

	bob := chattest.NewUser(t, inst.URL)
	bob.SignIn("Bob", room)
	ws := bob.Dial(room)
	ws.Next()
	const n = 8
	tick := time.NewTicker(400 * time.Millisecond) // paces the talk; synchronises nothing
	defer tick.Stop()
	for i := range n {
		ws.Send(fmt.Sprint("message ", i+1), fmt.Sprint("r", i))
		<-tick.C
	}
	ann.waitJS(fmt.Sprintf(`document.querySelector('#msg-%d')`, n))
	last := fmt.Sprintf("seq=%d&focused=1", n)
	ann.waitJS(fmt.Sprintf(`window.readReports.includes(%q)`, last))
	reports := evalJS[[]string](ann, `window.readReports.filter(b => b.startsWith('seq='))`)
	if len(reports) > 3 || reports[len(reports)-1] != last {
		t.Errorf("read reports for %d messages 400 ms apart: %q, want at most 3, the last %q", n, reports, last)
	}
	// And the store has it, through the proxy as the page posted it.
	ann.waitStored(room, `data-unread="0"`)
}
