package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// twoAgingInstances starts two instances on one Redis whose sockets are
// closed by the server after SOCKET_MAX_AGE=3s.
func twoAgingInstances(t *testing.T) (a, b *instance) {
	t.Helper()
	env := sharedEnv(redistest.Addr(t))
	env["SOCKET_MAX_AGE"] = "3s"
	return startInstance(t, env), startInstance(t, env)
}

// Every socket is closed by the server itself, with 1012, between 2.7 s
// and 3.3 s after it opened (SOCKET_MAX_AGE=3s, ±10 %), on both instances,
// and not all at once.
func TestSocketsCloseAtTheirMaxAge(t *testing.T) {
	a, b := twoAgingInstances(t)
	room := testkit.Room()
	type closed struct {
		after time.Duration
		code  websocket.StatusCode
	}
	var (
		mu    sync.Mutex
		got   []closed
		wg    sync.WaitGroup
		names int
	)
	for _, inst := range []*instance{a, b} {
		for range 4 {
			names++
			u := chattest.NewUser(t, inst.URL)
			u.SignIn(fmt.Sprint("Ager", names), room)
			s := u.Dial(room)
			opened := time.Now()
			wg.Go(func() {
				code := s.CloseStatus()
				c := closed{after: time.Since(opened), code: code}
				mu.Lock()
				got = append(got, c)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	var afters []time.Duration
	for _, c := range got {
		if c.code != websocket.StatusServiceRestart {
			t.Errorf("a socket closed with %v, want 1012", c.code)
		}
		if c.after < 2700*time.Millisecond || c.after > 3300*time.Millisecond {
			t.Errorf("a socket closed %v after it opened, want 2.7 s to 3.3 s", c.after)
		}
		afters = append(afters, c.after)
	}
	// Eight ages drawn over 540 ms all within 100 ms of each other: one
	// chance in more than ten thousand, unless they are not drawn at all.
	if spread := slices.Max(afters) - slices.Min(afters); spread < 100*time.Millisecond {
		t.Errorf("the 8 sockets closed within %v of each other: their ages are not spread", spread)
	}
	t.Logf("closed after %v", afters)
}

// installCloseLog makes the page record every close code its socket sees
// (closeCodes), and its socket's events with their times (closeLog).
func (p *tab) installCloseLog() {
	p.do(chromedp.Evaluate[chromedp.Void](`window.closeCodes = []; window.closeLog = [];
		const chat = document.querySelector('#chat');
		for (const ev of ['htmx:ws:close', 'htmx:ws:after:connection', 'htmx:ws:before:connection', 'htmx:ws:error']) chat.addEventListener(ev, (e) => closeLog.push(ev + ' ' + (e.detail?.code ?? '') + ' ' + (e.detail?.reason ?? '') + ' ' + Math.round(performance.now())));
		chat.addEventListener('htmx:ws:close', (e) => closeCodes.push(e.detail?.code))`))
}

// A person on a phone (a 200 ms round trip) writes a message every 300 ms,
// with real key events, while the server closes their socket and their
// reader's at their max age three times: every message shows exactly once,
// in order, on both pages, and neither page ever says the connection was
// lost or that anyone left.
func TestBrowserChatAcrossSocketMaxAge(t *testing.T) {
	a, b := twoAgingInstances(t)
	browser := newBrowser(t)
	room := testkit.Room()
	ann, bob := newTab(t, browser), newTab(t, browser)
	phone(t, ann, a, "Ann", room)
	bob.signIn(b.URL, "Bob", room)
	bob.waitJS(connected)
	ann.installCloseLog()
	bob.installCloseLog()
	ann.do(chromedp.Click(chromedp.CSS("#text")))

	const closes = `closeCodes.filter((c) => c === 1012).length`
	var sent []string
	tick := time.NewTicker(300 * time.Millisecond) // paces the typing; it synchronises nothing
	defer tick.Stop()
	for evalJS[int](ann, closes) < 3 || evalJS[int](bob, closes) < 3 {
		if len(sent) == 80 {
			t.Fatalf("after %d messages (24 s) the pages saw %d and %d closes with 1012, want 3 each",
				len(sent), evalJS[int](ann, closes), evalJS[int](bob, closes))
		}
		text := fmt.Sprintf("m%02d", len(sent)+1)
		ann.do(chromedp.SendKeys(chromedp.CSS("#text"), text+"\r"))
		sent = append(sent, text)
		<-tick.C
	}
	ann.waitJS(outboxEmpty)
	ann.waitTexts(sent...)
	bob.waitTexts(sent...)
	for _, p := range []*tab{ann, bob} {
		if codes := evalJS[[]int](p, `closeCodes`); slices.ContainsFunc(codes, func(c int) bool { return c != 1012 }) {
			t.Errorf("a socket closed with %v, want 1012 alone; the socket's events: %v", codes, evalJS[[]string](p, `closeLog`))
		}
		if evalJS[bool](p, `[...document.querySelectorAll('#notices p')].some((p) => p.textContent.includes('Connection lost'))`) {
			t.Error("a page said the connection was lost across a planned reconnect")
		}
		if evalJS[bool](p, `document.querySelector('#notices').textContent.includes('left the room')`) {
			t.Error("a page said someone left the room across a planned reconnect")
		}
	}
	t.Logf("%d messages across the closes %v and %v", len(sent), evalJS[[]int](ann, `closeCodes`), evalJS[[]int](bob, `closeCodes`))
}

// setHeader makes the tab send name: value with every request from now on,
// the socket's handshake included.
func (p *tab) setHeader(name, value string) {
	p.t.Helper()
	if _, err := chromedp.Call(p.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{name: value},
	}); err != nil {
		p.t.Fatal(err)
	}
}

// When the session ends at the front door while the page is away (the
// network cut, then back), the handshake is refused: a 401 from the
// service behind IAP with an expired token, or IAP's redirect to its
// sign-in page. Within 5 s of the network's return the page stops
// retrying, says once "Your session has ended." with the link to sign in
// again, and keeps what was in the box. A cut alone, with the session
// whole, only makes it reconnect.
func TestBrowserSessionEndedAtTheFrontDoor(t *testing.T) {
	t.Run("iap-token-expired", func(t *testing.T) {
		iap := newFakeIAP(t)
		inst := startInstance(t, iap.env(sharedEnv("")))
		p := newTab(t, newBrowser(t))
		p.behindIAP(iap.token(t, "accounts.google.com:ann"))
		proxy := newNetProxy(t, inst.URL, phoneDelay)
		testSessionEndedAtTheFrontDoor(t, p, proxy, func() {
			expired := iap.spec("accounts.google.com:ann")
			expired.expiry = time.Now().Add(-time.Minute)
			p.setHeader(iapHeader, iap.sign(t, expired))
		})
	})
	t.Run("iap-redirects-to-sign-in", func(t *testing.T) {
		inst := startInstance(t, sharedEnv(""))
		backend, _ := url.Parse(inst.URL)
		forward := httputil.NewSingleHostReverseProxy(backend)
		var lapsed atomic.Bool
		front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if lapsed.Load() {
				// As IAP answers a browser whose sign-in there has lapsed.
				http.Redirect(w, r, "https://signin.invalid/iap?continue="+url.QueryEscape(r.URL.String()), http.StatusFound)
				return
			}
			forward.ServeHTTP(w, r)
		}))
		t.Cleanup(front.Close)
		p := newTab(t, newBrowser(t))
		proxy := newNetProxy(t, front.URL, phoneDelay)
		testSessionEndedAtTheFrontDoor(t, p, proxy, func() { lapsed.Store(true) })
	})
}

func testSessionEndedAtTheFrontDoor(t *testing.T, p *tab, proxy *netProxy, endSession func()) {
	room := testkit.Room()
	p.signIn(proxy.URL(), "Ann", room)
	p.waitJS(connected)
	p.do(chromedp.SendKeys(chromedp.CSS("#text"), "before the tunnel\r"))
	p.waitTexts("before the tunnel")
	p.do(chromedp.Evaluate[chromedp.Void](`window.attempts = 0;
		document.querySelector('#chat').addEventListener('htmx:ws:before:connection', () => attempts++)`))

	// A cut with the session whole: the page comes back by itself.
	proxy.cut()
	p.waitJS(`document.querySelector('#connection').textContent === 'Reconnecting…'`)
	proxy.restore()
	p.retryNow()
	p.waitJS(connected)

	// Now the front door refuses the session while the network is away.
	p.do(chromedp.SendKeys(chromedp.CSS("#text"), "half a thought"))
	proxy.cut()
	p.waitJS(`document.querySelector('#connection').textContent === 'Reconnecting…'`)
	endSession()
	proxy.restore()
	back := time.Now()
	p.retryNow()
	const endedNotice = `[...document.querySelectorAll('#notices p')].filter((p) => p.textContent === 'Your session has ended. Sign in again.')`
	p.waitJSWithin(endedNotice+`.length === 1 && document.querySelector('#connection').textContent === 'Not connected'`, 5*time.Second)
	t.Logf("the page said the session had ended %v after the network came back", time.Since(back).Round(time.Millisecond))

	href := evalJS[string](p, endedNotice+`[0].querySelector('a').getAttribute('href')`)
	if want := "/?room=" + room; href != want {
		t.Errorf("the notice links to %q, want %q", href, want)
	}
	if v := evalJS[string](p, `document.querySelector('#text').value`); v != "half a thought" {
		t.Errorf("the box holds %q, want what was typed, %q", v, "half a thought")
	}
	if evalJS[bool](p, `!document.querySelector('#retry').hidden`) {
		t.Error("Retry now still shows after the session ended")
	}
	// It has stopped: over the next 2 s (two back-off delays) it opens
	// no socket and says it no second time.
	attempts := evalJS[int](p, `attempts`)
	window := time.NewTimer(2 * time.Second) // an observation window, not a synchronisation
	<-window.C
	if n := evalJS[int](p, `attempts`); n != attempts {
		t.Errorf("the page tried to connect %d more times after it said the session had ended", n-attempts)
	}
	if n := evalJS[int](p, endedNotice+`.length`); n != 1 {
		t.Errorf("the page said the session had ended %d times, want once", n)
	}
}

// GET /session tells a page whether its session holds: 401 before sign-in,
// 204 after, 401 again after sign-out; behind IAP, 401 for another
// identity carrying the session's cookie.
func TestSessionCheck(t *testing.T) {
	check := func(u *chattest.User, want int) {
		t.Helper()
		resp, _ := u.Get("/session")
		if resp.StatusCode != want || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET /session: %d, Cache-Control %q; want %d, no-store", resp.StatusCode, resp.Header.Get("Cache-Control"), want)
		}
	}
	inst := startInstance(t, sharedEnv(""))
	room := testkit.Room()
	ann := chattest.NewUser(t, inst.URL)
	check(ann, http.StatusUnauthorized)
	ann.SignIn("Ann", room)
	check(ann, http.StatusNoContent)
	ann.PostForm("/signout", url.Values{"room": {room}})
	check(ann, http.StatusUnauthorized)

	iap := newFakeIAP(t)
	behind := startInstance(t, iap.env(sharedEnv("")))
	bob := chattest.NewUser(t, behind.URL)
	bob.SetHeader(iapHeader, iap.token(t, "accounts.google.com:bob"))
	bob.SignIn("Bob", room)
	check(bob, http.StatusNoContent)
	bob.SetHeader(iapHeader, iap.token(t, "accounts.google.com:mallory"))
	check(bob, http.StatusUnauthorized)
}
