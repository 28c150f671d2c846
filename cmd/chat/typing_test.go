package main

import (
	"context"
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
