package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// Ann types on one instance without sending; Bob's page on the other shows
// "Ann is typing…" within 3 s, and not 10 s after she stopped. Her message
// takes it away at once. Nothing of it is stored: after a reload it is not
// in #messages.
func TestBrowserTypingAcrossInstances(t *testing.T) {
	env := sharedEnv(redistest.Addr(t))
	a, b := startInstance(t, env), startInstance(t, env)
	br := newBrowser(t)
	room := testkit.Room()
	ann, bob := newTab(t, br), newTab(t, br)
	ann.signIn(a.URL, "Ann", room)
	bob.signIn(b.URL, "Bob", room)
	ann.waitJS(connected)
	bob.waitJS(connected)

	ann.do(chromedp.Click(chromedp.CSS("#text")), chromedp.KeyEvent("I am writing a long answer"))
	bob.waitJSWithin(`document.querySelector('#typing').textContent === 'Ann is typing…'`, 3*time.Second)
	bob.waitJSWithin(`document.querySelector('#typing').textContent === ''`, 10*time.Second)
	if mine := evalJS[string](ann, `document.querySelector('#typing').textContent`); mine != "" {
		t.Errorf("Ann's own page says %q", mine)
	}
	// Typing again, then sending: the message takes the line away.
	ann.do(chromedp.KeyEvent(", done"))
	bob.waitJSWithin(`document.querySelector('#typing').textContent === 'Ann is typing…'`, 3*time.Second)
	ann.do(chromedp.KeyEvent("\r"))
	bob.waitJS(`document.querySelector('#msg-1')`)
	if line := evalJS[string](bob, `document.querySelector('#typing').textContent`); line != "" {
		t.Errorf("after Ann's message the typing line still says %q", line)
	}
	bob.do(chromedp.Reload())
	bob.waitJS(connected)
	if got := evalJS[string](bob, `document.querySelector('#messages').textContent + document.querySelector('#typing').textContent`); strings.Contains(got, "typing") {
		t.Errorf("after a reload the page shows typing: %q", got)
	}
}

// The typing frame is limited (per session and room, and per name): a page
// that sends 50 at once gets at most a few relayed, is not answered, and its socket stays usable.
// Several typists are summed up in one line.
func TestTypingIsLimitedAndSummedUp(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	room := testkit.Room()
	_, watcher := chattest.JoinAs(t, inst.URL, "Watcher", room)
	_, ann := chattest.JoinAs(t, inst.URL, "Ann", room)
	for range 50 {
		ann.SendRaw([]byte(`{"typing":true}`))
	}
	ann.Send("still works", "n1")
	ann.Until(`data-outcome="sent"`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	relayed := 0
	for {
		f, err := watcher.Read(ctx)
		if err != nil {
			t.Fatalf("the message did not reach the watcher: %v", err)
		}
		relayed += strings.Count(f, `data-signal="typing" data-name="Ann"`)
		if strings.Contains(f, `id="msg-1"`) {
			break
		}
	}
	if relayed < 1 || relayed > 3 {
		t.Errorf("%d of 50 typing frames relayed at once, want 1 to 3 (a burst of 2, one a second)", relayed)
	}

	b := newBrowser(t)
	p := newTab(t, b)
	p.signIn(inst.URL, "Reader", room)
	p.waitJS(connected)
	for _, name := range []string{"Bo", "Cy", "Di"} {
		_, s := chattest.JoinAs(t, inst.URL, name, room)
		s.SendRaw([]byte(`{"typing":true}`))
	}
	p.waitJSWithin(`document.querySelector('#typing').textContent.endsWith(' and 2 others are typing…')`, 4*time.Second)
	if got := evalJS[string](p, `document.querySelector('#typing').textContent`); !strings.HasPrefix(got, "Bo ") && !strings.HasPrefix(got, "Cy ") && !strings.HasPrefix(got, "Di ") {
		t.Errorf("the typing line says %q", got)
	}
}

// A page in a background tab is not sent who is typing: it says it is
// hidden, over its socket, and says so again when shown. Through a phone's
// 200 ms round trip: while Ann's page is hidden, Bob types and a page that
// is shown says so, and Ann's gets no typing signal before Bob's message,
// nor after a network cut it reconnects through while still hidden; shown
// again, it shows Bob typing.
func TestBrowserHiddenPageIsNotSentTyping(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	br := newBrowser(t)
	room := testkit.Room()
	ann, cat := newTab(t, br), newTab(t, br)
	proxy := phone(t, ann, inst, "Ann", room)
	cat.signIn(inst.URL, "Cat", room)
	cat.waitJS(connected)
	// Every typing signal Ann's page is sent, from now on.
	evalJS[bool](ann, `(() => {
		window.typingSeen = [];
		new MutationObserver((records) => {
			for (const r of records) for (const n of r.addedNodes) {
				for (const p of n.querySelectorAll ? [n, ...n.querySelectorAll('[data-signal="typing"]')] : []) {
					if (p.dataset?.signal === 'typing') window.typingSeen.push(p.dataset.name);
				}
			}
		}).observe(document.getElementById('signals'), { childList: true, subtree: true });
		return true;
	})()`)
	// The tab goes to the background, as the browser tells the page.
	setHidden := func(hidden bool) {
		t.Helper()
		evalJS[bool](ann, fmt.Sprintf(`(() => {
			Object.defineProperty(document, 'hidden', { configurable: true, get: () => %[1]t });
			Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => %[1]t ? 'hidden' : 'visible' });
			document.dispatchEvent(new Event('visibilitychange'));
			return true;
		})()`, hidden))
	}
	setHidden(true)
	// Her page's frames are read in order: once her message is stored,
	// the server has read that the page is hidden.
	ann.do(chromedp.Click(chromedp.CSS("#text")), chromedp.KeyEvent("brb\r"))
	ann.waitTexts("brb")
	ann.waitJS(outboxEmpty)

	bob := chattest.NewUser(t, inst.URL)
	bob.SignIn("Bob", room)
	ws := bob.Dial(room)
	ws.Next()
	ws.SendRaw([]byte(`{"typing": true}`))
	cat.waitJSWithin(`document.querySelector('#typing').textContent === 'Bob is typing…'`, 3*time.Second)
	ws.Send("hello", "h1")
	ann.waitTexts("brb", "hello")
	if seen := evalJS[[]string](ann, `window.typingSeen`); len(seen) != 0 {
		t.Errorf("the hidden page was sent typing: %q", seen)
	}

	// The network drops and comes back while the tab stays hidden: the
	// new socket is told so again when it joins.
	proxy.cut()
	ann.waitJS(`document.querySelector('#connection').textContent === 'Reconnecting…'`)
	proxy.restore()
	ann.retryNow()
	ann.waitJS(connected)
	ann.do(chromedp.KeyEvent("still away\r"))
	ann.waitTexts("brb", "hello", "still away")
	ann.waitJS(outboxEmpty)
	dan := chattest.NewUser(t, inst.URL)
	dan.SignIn("Dan", room)
	dws := dan.Dial(room)
	dws.Next()
	dws.SendRaw([]byte(`{"typing": true}`))
	cat.waitJSWithin(`document.querySelector('#typing').textContent.includes('Dan')`, 3*time.Second)
	dws.Send("hi all", "d1")
	ann.waitTexts("brb", "hello", "still away", "hi all")
	if seen := evalJS[[]string](ann, `window.typingSeen`); len(seen) != 0 {
		t.Errorf("the hidden page was sent typing after reconnecting: %q", seen)
	}

	// Shown again: Bob's next signal reaches it.
	setHidden(false)
	ann.do(chromedp.KeyEvent("back\r"))
	ann.waitTexts("brb", "hello", "still away", "hi all", "back")
	ann.waitJS(outboxEmpty)
	ws.SendRaw([]byte(`{"typing": true}`))
	ann.waitJSWithin(`document.querySelector('#typing').textContent === 'Bob is typing…'`, 5*time.Second)
}
