package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// The human edge: a person typing on a phone, at an ordinary 200 ms round
// trip, on a network that drops. Every test here drives real Chromium with
// real key events through a netProxy that delays every byte by phoneDelay
// each way, or cuts the network.

// phoneDelay is each way's delay: a 200 ms round trip.
const phoneDelay = 100 * time.Millisecond

const connected = `document.querySelector('#connection').textContent === 'Connected'`

// phone signs name in to room on inst through a proxy that delays every
// byte by phoneDelay, and waits until the page says it is connected.
func phone(t *testing.T, browser *tab, inst *instance, name, room string) *netProxy {
	t.Helper()
	proxy := newNetProxy(t, inst.URL, phoneDelay)
	browser.signIn(proxy.URL(), name, room)
	browser.waitJS(connected)
	return proxy
}

// typeKeys types text as a person does, one real key event every gap
// ("\r" is Enter). The ticker paces the typing; it synchronises nothing.
func (p *tab) typeKeys(text string, gap time.Duration) {
	p.t.Helper()
	tick := time.NewTicker(gap)
	defer tick.Stop()
	for _, r := range text {
		p.do(chromedp.KeyEvent(string(r)))
		<-tick.C
	}
}

// texts returns the texts of #messages, in page order.
func (p *tab) texts() []string {
	p.t.Helper()
	return evalJS[[]string](p, `[...document.querySelectorAll('#messages > li .text')].map(e => e.textContent)`)
}

// waitTexts waits until #messages shows exactly want, in order.
func (p *tab) waitTexts(want ...string) {
	p.t.Helper()
	js, _ := json.Marshal(want)
	p.waitJS(fmt.Sprintf(`JSON.stringify([...document.querySelectorAll('#messages > li .text')].map(e => e.textContent)) === %q`, js))
}

// waitJSWithin is waitJS with a deadline of d: for what a person must see
// within d.
func (p *tab) waitJSWithin(expr string, d time.Duration) {
	p.t.Helper()
	js := "(() => { try { return !!(" + expr + ") } catch (e) { return false } })()"
	deadline := time.Now().Add(d)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("still false after %v: %s (last error: %v)", d, expr, err)
		}
		<-tick.C
	}
}

// online tells the page, as the operating system does, whether the device
// has a network.
func (p *tab) online(on bool) {
	p.t.Helper()
	if _, err := chromedp.Call(p.ctx, network.Enable, network.EnableParams{}); err != nil {
		p.t.Fatal(err)
	}
	if _, err := chromedp.Call(p.ctx, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: !on, DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
		p.t.Fatal(err)
	}
}

// paste puts text on the clipboard and pastes it with Ctrl+V, as a
// person does.
func (p *tab) paste(text string) {
	p.t.Helper()
	p.grant(browser.PermissionSettingGranted, "clipboard-read", "clipboard-write")
	js, _ := json.Marshal(text)
	if got, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`navigator.clipboard.writeText(`+string(js)+`).then(() => 'ok', String)`, chromedp.EvalAwaitPromise)); err != nil || got != "ok" {
		p.t.Fatalf("write the clipboard: %q %v", got, err)
	}
	p.do(chromedp.KeyEvent("v", chromedp.KeyModifiers(chromedp.ModifierCtrl)))
}

const outboxEmpty = `document.querySelector('#outbox').children.length === 0`

// An acknowledgement never destroys typing: a person who goes on typing
// after Enter keeps every key, and each message arrives once, as typed.
func TestBrowserTypingSurvivesTheReply(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	p := newTab(t, newBrowser(t))
	phone(t, p, inst, "Ann", testkit.Room())
	p.do(chromedp.Click(chromedp.CSS("#text")))

	p.typeKeys("ok\rsure, see you at 5\r", 90*time.Millisecond)
	p.waitTexts("ok", "sure, see you at 5")
	p.waitJS(outboxEmpty + ` && document.querySelector('#text').value === ''`)

	p.typeKeys("one\rtwo three four", 90*time.Millisecond)
	p.waitTexts("ok", "sure, see you at 5", "one")
	p.waitJS(outboxEmpty)
	if v := evalJS[string](p, `document.querySelector('#text').value`); v != "two three four" {
		t.Fatalf("the box holds %q, want %q", v, "two three four")
	}
	if id := evalJS[string](p, `document.activeElement.id`); id != "text" {
		t.Fatalf("focus moved to %q", id)
	}
}

// Every send has a nonce of its own: two messages sent 60 ms apart both
// arrive, each once, in order. A send whose reply was lost is sent again,
// with the same nonce, and still stored once.
func TestBrowserQuickMessagesArriveOnceEach(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	room := testkit.Room()
	p := newTab(t, newBrowser(t))
	proxy := phone(t, p, inst, "Ann", room)
	_, bobWS := chattest.JoinAs(t, inst.URL, "Bob", room)
	p.do(chromedp.Click(chromedp.CSS("#text")))

	// Enter, then Enter again 60 ms later.
	p.typeKeys("yes\rno\r", 20*time.Millisecond)
	p.waitTexts("yes", "no")
	p.waitJS(outboxEmpty)

	// The server stores the next message (Bob sees it) while its reply is
	// still on its way to Ann's phone; then the network drops.
	p.do(chromedp.KeyEvent("once\r"))
	bobWS.Until(">once<")
	proxy.cut()
	p.waitJS(`document.querySelector('#outbox li .text')?.textContent === 'once'`)
	proxy.restore()
	p.retryNow()
	p.waitJS(connected + ` && ` + outboxEmpty)
	p.waitTexts("yes", "no", "once")
	// Stored once: the next message is the fourth.
	p.do(chromedp.KeyEvent("after\r"))
	if f := bobWS.Until(">after<"); !strings.Contains(f, `id="msg-4"`) {
		t.Fatalf("the message after the replayed one is not msg-4: %s", f)
	}
	p.waitTexts("yes", "no", "once", "after")
}

// Messages written during a network cut all arrive once it is back, in
// order, each once, although there are more than the send burst.
func TestBrowserOfflineMessagesAllArrive(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	p := newTab(t, newBrowser(t))
	proxy := phone(t, p, inst, "Ann", testkit.Room())
	proxy.cut()
	p.waitJS(`document.querySelector('#connection').textContent === 'Reconnecting…'`)
	var want []string
	for i := range 15 {
		text := fmt.Sprintf("written offline %d", i+1)
		want = append(want, text)
		p.do(chromedp.SendKeys(chromedp.CSS("#text"), text+"\r"))
	}
	p.waitJS(`document.querySelectorAll('#outbox li').length === 15`)
	if s := evalJS[string](p, `document.querySelector('#outbox li').dataset.state`); s != "queued" {
		t.Errorf("a message written offline is %q, want queued", s)
	}
	proxy.restore()
	p.retryNow()
	p.waitTexts(want...)
	p.waitJS(outboxEmpty)
}

// A message the rate limit refuses stays on screen as not sent, with its
// text, the reason and a way to retry; retried, it arrives.
func TestBrowserRefusedMessageStaysWithRetry(t *testing.T) {
	env := sharedEnv("")
	// One message every 4 s: a second one at once would wait longer than
	// the server holds a message back.
	env["SEND_RATE"], env["SEND_BURST"] = "0.25", "1"
	inst := startInstance(t, env)
	p := newTab(t, newBrowser(t))
	phone(t, p, inst, "Ann", testkit.Room())
	p.do(chromedp.SendKeys(chromedp.CSS("#text"), "first\r"), chromedp.SendKeys(chromedp.CSS("#text"), "second\r"))
	p.waitTexts("first")
	failed := `document.querySelector('#outbox li[data-state="failed"]')`
	p.waitJS(failed + `?.querySelector('.text').textContent === 'second'`)
	if s := evalJS[string](p, failed+`.querySelector('.state').textContent`); !strings.Contains(s, "Not sent") || !strings.Contains(s, "too fast") {
		t.Errorf("the refused message says %q", s)
	}
	if !evalJS[bool](p, failed+`.querySelector('button[data-action="retry"]').checkVisibility()`) {
		t.Fatal("no visible Retry on the refused message")
	}
	// Retry until the limit lets it through, as a person would.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.Now().Add(15 * time.Second)
	for evalJS[int](p, `document.querySelectorAll('#messages > li').length`) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("retried for 15 s: the page shows %q", p.texts())
		}
		if evalJS[bool](p, failed+` !== null`) {
			p.do(chromedp.Click(chromedp.CSS(`#outbox li[data-state="failed"] button[data-action="retry"]`)))
		}
		<-tick.C
	}
	p.waitTexts("first", "second")
	p.waitJS(outboxEmpty)
}

// The box holds at most 2,000 characters and counts them; a 20,000-character
// paste (Ctrl+V) says what happened; a frame over the server's limit is answered
// with a visible error; the connection stays usable throughout.
func TestBrowserLimitsShowBeforeTheyBite(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	p := newTab(t, newBrowser(t))
	phone(t, p, inst, "Ann", testkit.Room())
	if !evalJS[bool](p, `document.querySelector('#text-count').checkVisibility() && document.querySelector('#text').maxLength === 2000`) {
		t.Fatal("no visible counter, or the box has no 2,000-character limit")
	}
	p.do(chromedp.Click(chromedp.CSS("#text")), chromedp.KeyEvent("hello"))
	p.waitJS(`document.querySelector('#text-count').textContent === '5 / 2,000'`)

	p.do(chromedp.KeyEvent(kb.Backspace + kb.Backspace + kb.Backspace + kb.Backspace + kb.Backspace))
	p.paste(strings.Repeat("x", 20_000))
	p.waitJS(`document.querySelector('#text').value.length === 2000`)
	p.waitJS(`document.querySelector('#send-error').textContent.includes('at most 2,000 characters')`)
	p.waitJS(`document.querySelector('#text-count').textContent === '2,000 / 2,000'`)
	// Select all and delete, then a short message.
	p.do(chromedp.KeyEvent("a", chromedp.KeyModifiers(chromedp.ModifierCtrl)), chromedp.KeyEvent(kb.Delete))
	p.waitJS(`document.querySelector('#text').value === ''`)
	p.do(chromedp.KeyEvent("short one\r"))
	p.waitTexts("short one")

	// A client that sends more than the server reads is told, and its
	// socket keeps working.
	p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#chat')._htmx.ws.connection.socket.send(JSON.stringify({text: 'x'.repeat(20000), nonce: 'raw'}))`))
	p.waitJS(`document.querySelector('#send-error').textContent.includes('too large')`)
	p.do(chromedp.KeyEvent("still here\r"))
	p.waitTexts("short one", "still here")
	p.waitJS(connected)
}

// The browser goes offline and comes back while its socket stays open:
// the page says Offline, then Connected within 5 s, and messages flow.
func TestBrowserOnlineAgainSaysConnected(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	p := newTab(t, newBrowser(t))
	phone(t, p, inst, "Ann", testkit.Room())
	p.online(false)
	p.waitJS(`document.querySelector('#connection').textContent === 'Offline'`)
	p.online(true)
	p.waitJSWithin(connected, 5*time.Second)
	p.do(chromedp.SendKeys(chromedp.CSS("#text"), "back\r"))
	p.waitTexts("back")
}

// After a long outage the reconnect back-off is long; the page comes back
// within 5 s of the browser coming online, and "Retry now" reconnects at
// once while it waits.
func TestBrowserReconnectsAtOnceWhenOnline(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	p := newTab(t, newBrowser(t))
	proxy := phone(t, p, inst, "Ann", testkit.Room())
	for _, how := range []string{"online", "retry now"} {
		proxy.cut()
		p.online(false)
		p.waitJS(`document.querySelector('#connection').textContent === 'Offline'`)
		// The page fails attempts until its next one is seconds away.
		start := proxy.refused()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		testkit.WaitFor(t, ctx, "four failed attempts", func() bool { return proxy.refused() >= start+4 })
		cancel()
		proxy.restore()
		if how == "online" {
			p.online(true)
		} else {
			p.retryNow()
		}
		p.waitJSWithin(connected, 5*time.Second)
		p.online(true)
	}
}

// While Redis is down the page says that sending is unavailable; what is
// written meanwhile waits on screen and arrives once Redis is back.
func TestBrowserSaysWhenSendingIsUnavailable(t *testing.T) {
	srv := redistest.StartPersistent(t)
	inst := startInstance(t, sharedEnv(srv.Addr))
	p := newTab(t, newBrowser(t))
	phone(t, p, inst, "Ann", testkit.Room())
	p.do(chromedp.SendKeys(chromedp.CSS("#text"), "before\r"))
	p.waitTexts("before")

	srv.Stop()
	p.waitJS(`document.querySelector('#connection').textContent === 'Sending unavailable'`)
	p.waitJS(`document.querySelector('#notices').textContent.includes('cannot store messages')`)
	p.do(chromedp.SendKeys(chromedp.CSS("#text"), "during the outage\r"))
	p.waitJS(`document.querySelector('#outbox li')?.dataset.state === 'waiting'`)

	srv.Restart()
	p.waitJS(connected)
	p.waitTexts("before", "during the outage")
	p.waitJS(outboxEmpty)
	if n := strings.Count(evalJS[string](p, `document.querySelector('#notices').textContent`), "Sending works again"); n != 1 {
		t.Errorf("the page said %d times that sending works again", n)
	}
}

// When the session is no longer valid (here: the deployment's secret
// changed), the page says so once, with a link to sign in again, never
// "Connection restored" first; it stops reconnecting, and a message typed
// then stays in the box with the reason.
func TestBrowserSaysOnceThatTheSessionEnded(t *testing.T) {
	a := startInstance(t, sharedEnv(""))
	b := startInstance(t, sharedEnv("")) // another secret
	room := testkit.Room()
	p := newTab(t, newBrowser(t))
	proxy := phone(t, p, a, "Ann", room)
	proxy.cut()
	p.waitJS(`document.querySelector('#connection').textContent === 'Reconnecting…'`)
	proxy.setBackend(b.URL)
	proxy.restore()
	p.retryNow()
	p.waitJS(`document.querySelector('#connection').textContent === 'Not connected'`)
	p.waitJS(`document.querySelector('#notices a[href="/?room=` + room + `"]') !== null`)
	notices := evalJS[string](p, `document.querySelector('#notices').textContent`)
	if strings.Contains(notices, "Connection restored") || strings.Count(notices, "session has ended") != 1 {
		t.Fatalf("notices: %q", notices)
	}
	// Coming online again does not reconnect; nothing offers to retry.
	if evalJS[bool](p, `window.dispatchEvent(new Event('online')), !!document.querySelector('#chat')._htmx.ws.connection`) {
		t.Error("the page reconnects after its session ended")
	}
	if !evalJS[bool](p, `document.querySelector('#retry').hidden`) {
		t.Error("Retry now is offered after the session ended")
	}
	p.do(chromedp.SendKeys(chromedp.CSS("#text"), "hello?\r"))
	p.waitJS(`document.querySelector('#send-error').textContent.includes('signed out')`)
	if v := evalJS[string](p, `document.querySelector('#text').value`); v != "hello?" {
		t.Fatalf("the box holds %q after a send while signed out", v)
	}
}

// Scrollback and typing on a phone (a 200 ms round trip): "Earlier
// messages" loads older pages in place and keeps the message being read
// where it was; with the network cut, the page says the load failed and
// the link stays to try again, which works once the network is back. What
// the phone types shows as typing on another page within 3 s.
func TestBrowserScrollbackAndTypingOnAPhone(t *testing.T) {
	env := burst(sharedEnv(""))
	env["HISTORY_SIZE"] = "20"
	inst := startInstance(t, env)
	room := testkit.Room()
	poster := chattest.NewUser(t, inst.URL)
	poster.SignIn("Poster", room)
	for i := range 45 {
		post(t, poster, room, fmt.Sprint("m", i+1))
	}
	br := newBrowser(t)
	p := newTab(t, br)
	proxy := phone(t, p, inst, "Phone", room)
	other := newTab(t, br)
	other.signIn(inst.URL, "Other", room)
	other.waitJS(connected)

	p.do(chromedp.Click(chromedp.CSS("#text")), chromedp.KeyEvent("thinking about it"))
	other.waitJSWithin(`document.querySelector('#typing').textContent === 'Phone is typing…'`, 3*time.Second)

	first := `document.querySelector('#scrollback > li, #messages > li').id`
	textTop := func(id string) float64 {
		return evalJS[float64](p, fmt.Sprintf(`document.querySelector('#%s .text').getBoundingClientRect().top`, id))
	}
	p.scrollLogTop()
	top := evalJS[string](p, first)
	before := textTop(top)
	p.do(chromedp.Click(chromedp.CSS("#earlier")))
	p.waitJS(first + ` !== '` + top + `'`)
	if d := textTop(top) - before; d < -2 || d > 2 {
		t.Errorf("on a phone, the message read moved by %.0f px", d)
	}

	proxy.cut()
	p.scrollLogTop()
	top = evalJS[string](p, first)
	p.do(chromedp.Click(chromedp.CSS("#earlier")))
	p.waitJS(`document.querySelector('#earlier-wrap .earlier-error')?.textContent.includes('Could not load earlier messages')`)
	if evalJS[string](p, first) != top {
		t.Fatal("a failed load changed the list")
	}
	proxy.restore()
	p.do(chromedp.Click(chromedp.CSS("#earlier")))
	p.waitJS(`document.querySelector('#earlier-wrap').textContent.includes('This is the start of the room.')`)
	if evalJS[bool](p, `!!document.querySelector('#earlier-wrap .earlier-error')`) {
		t.Error("the failure is still said after a load that worked")
	}
	ids := evalJS[[]string](p, `[...document.querySelectorAll('#scrollback > li, #messages > li')].map(li => li.id)`)
	if len(ids) != 45 || ids[0] != "msg-1" || ids[44] != "msg-45" {
		t.Errorf("after walking back the phone shows %d messages (%v…), want 1..45", len(ids), ids[:min(3, len(ids))])
	}
}

// retryNow clicks "Retry now" as a person does once the network is back.
// The page may have reconnected by itself first (its back-off timer ran
// between the restore and the click), and then there is no button to
// click: that is no failure, the assertions after it say where the page
// stands.
func (p *tab) retryNow() {
	p.t.Helper()
	const shown = `document.querySelector('#retry')?.checkVisibility() === true`
	if !evalJS[bool](p, shown) {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#retry"))); err != nil && evalJS[bool](p, shown) {
		p.t.Fatalf("click Retry now: %v", err)
	}
}
