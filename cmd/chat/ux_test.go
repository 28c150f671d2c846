package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
)

// theme makes the tab prefer a light or dark color scheme.
func (p *tab) theme(scheme string) {
	p.t.Helper()
	if _, err := chromedp.Call(p.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	}); err != nil {
		p.t.Fatal(err)
	}
}

// axeSource returns axe-core's script, which .ci/run installs from the npm
// registry outside the repository and names in CHAT_TEST_AXE.
func axeSource(t *testing.T) string {
	t.Helper()
	path := os.Getenv("CHAT_TEST_AXE")
	if path == "" {
		testkit.Require(t, "axe", "CHAT_TEST_AXE does not name axe.min.js (npm install axe-core; .ci/run does)")
	}
	src, err := os.ReadFile(path)
	if err != nil {
		testkit.Require(t, "axe", err.Error())
	}
	return string(src)
}

// axeViolations runs axe-core on the tab's page and returns the violations
// of serious or critical impact, one line each.
func (p *tab) axeViolations(axe string) []string {
	p.t.Helper()
	p.do(chromedp.Evaluate[chromedp.Void](axe))
	ctx, cancel := context.WithTimeout(p.ctx, 60*time.Second)
	defer cancel()
	found, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`
		axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
			.filter(v => v.impact === 'serious' || v.impact === 'critical')
			.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', ')))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("axe: %v", err)
	}
	return found
}

// axe-core finds nothing serious or critical on the sign-in page, an empty
// room and a room with history, in both themes.
func TestBrowserAccessibility(t *testing.T) {
	axe := axeSource(t)
	inst := startInstance(t, sharedEnv(""))
	browser := newBrowser(t)
	empty, full := testkit.Room(), testkit.Room()
	// Grouped under one name, with a link, several lines and mentions, and
	// enough to scroll.
	texts := append([]string{"message 0", "see https://example.com/docs", "two\nlines for @Ann-light and @Ann-dark"}, numbered("more %d", 20)...)
	ws := talker(t, inst.URL, "Bob", full, texts...)

	for _, scheme := range []string{"light", "dark"} {
		p := newTab(t, browser)
		p.theme(scheme)
		p.do(chromedp.Navigate(inst.URL + "/"))
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("sign-in page, %s: %q", scheme, v)
		}
		p.signIn(inst.URL, "Ann-"+scheme, empty)
		p.waitJS(socketOpen)
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("empty room, %s: %q", scheme, v)
		}
		p.do(chromedp.Navigate(inst.URL + "/rooms/" + full))
		p.waitJS(socketOpen)
		p.waitJS(`document.querySelector('#msg-23')`)
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("room with history, %s: %q", scheme, v)
		}
		// Scrolled up, with "New messages" showing and a message focused.
		p.scrollLogTop()
		ws.Send("while "+scheme+" reads", "r-"+scheme)
		p.waitJS(`!document.querySelector('#new-messages').hidden`)
		ws.SendRaw([]byte(`{"typing":true}`))
		p.waitJS(`document.querySelector('#typing').textContent === 'Bob is typing…'`)
		p.waitJS(`document.querySelector('#rooms li[data-members]')`)
		p.do(chromedp.Focus(chromedp.CSS(".log")), chromedp.KeyEvent(kb.ArrowUp))
		p.waitJS(`document.activeElement.id.startsWith('msg-')`)
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("room read while new messages come, %s: %q", scheme, v)
		}
		// Usable at 200% zoom: half the width, no sideways scrolling.
		p.do(chromedp.EmulateViewport(640, 400))
		if evalJS[bool](p, `document.documentElement.scrollWidth > document.documentElement.clientWidth`) {
			t.Errorf("%s: the room scrolls sideways at 640 CSS pixels (200%% zoom)", scheme)
		}
		// The check can fail: an image without alternative text is critical.
		p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#notices').append(Object.assign(document.createElement('img'), {src: 'data:,'}))`))
		if v := p.axeViolations(axe); len(v) == 0 {
			t.Errorf("%s: axe did not report an image without alt text", scheme)
		}
	}
}

// Sign in and send a message with the keyboard alone: typing, Tab and Enter.
func TestBrowserKeyboardOnly(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	browser := newBrowser(t)
	room := testkit.Room()
	p := newTab(t, browser)
	p.do(chromedp.Navigate(inst.URL + "/"))
	p.waitJS(`document.activeElement && document.activeElement.id === 'name'`)
	p.do(
		chromedp.KeyEvent("Ann"), chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent(room), chromedp.KeyEvent(kb.Enter),
	)
	p.waitJS(fmt.Sprintf(`location.pathname === '/rooms/%s'`, room))
	p.waitJS(socketOpen)
	// The room page starts in the message box.
	p.waitJS(`document.activeElement.id === 'text'`)
	p.do(chromedp.KeyEvent("typed, not clicked"), chromedp.KeyEvent(kb.Enter))
	p.waitIDs("msg-1")
	// The field is cleared and keeps the focus: the next message needs no
	// key but its own.
	p.waitJS(`document.querySelector('#text').value === '' && document.activeElement.id === 'text'`)
	p.do(chromedp.KeyEvent("and again"), chromedp.KeyEvent(kb.Enter))
	p.waitIDs("msg-1", "msg-2")
	p.waitJS(`document.querySelector('#text').value === '' && document.activeElement.id === 'text'`)
	// Tab from the box reaches the Send button; the skip link, the first
	// stop of the page, leads back to the box.
	p.do(chromedp.KeyEvent(kb.Tab))
	p.waitJS(`document.activeElement.matches('#send button')`)
	p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('.skip-link').focus()`), chromedp.KeyEvent(kb.Enter))
	p.waitJS(`document.activeElement.id === 'text'`)
	if texts := evalJS[[]string](p, `[...document.querySelectorAll('#messages .text')].map(e => e.textContent)`); strings.Join(texts, "|") != "typed, not clicked|and again" {
		t.Fatalf("messages: %q", texts)
	}
}

// The page's connection is cut while another user sends two messages and
// the page's user sends one: the page says it is reconnecting and shows its
// own message as pending; once the connection is back, all three appear,
// once each, and the page says it is connected.
func TestBrowserReconnectAfterCut(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	proxy := newNetProxy(t, inst.URL, 0)
	browser := newBrowser(t)
	room := testkit.Room()
	p := newTab(t, browser)
	p.signIn(proxy.URL(), "Ann", room)
	p.waitJS(socketOpen)
	p.waitJS(`document.querySelector('#connection').textContent === 'Connected'`)
	// A hidden tab keeps its socket (hx-ws would close it by default).
	if !evalJS[bool](p, `document.querySelector('#chat')._htmx.ws.connection.config.pauseOnBackground === false`) {
		t.Error("pauseOnBackground is on: every tab switch would drop the socket")
	}
	bob := chattest.NewUser(t, inst.URL)
	bob.SignIn("Bob", room)
	bobWS := bob.Dial(room)
	bobWS.Next()

	proxy.cut()
	p.waitJS(`document.querySelector('#connection').textContent === 'Reconnecting…'`)
	p.waitJS(`document.querySelector('#notices').textContent.includes('Connection lost')`)
	bobWS.Send("missed one", "b1")
	bobWS.Send("missed two", "b2")
	bobWS.Until(`id="msg-2"`)
	p.do(chromedp.SendKeys(chromedp.CSS("#text"), "sent while cut\r"))
	p.waitJS(`document.querySelector('#outbox li') !== null`)
	p.waitJS(`document.querySelector('#text').value === ''`)
	// While it waits, the page offers to reconnect at once.
	p.waitJS(`!document.querySelector('#retry').hidden`)

	proxy.restore()
	p.waitJS(`document.querySelector('#connection').textContent === 'Connected'`)
	p.waitIDs("msg-1", "msg-2", "msg-3")
	texts := evalJS[[]string](p, `[...document.querySelectorAll('#messages li')].map(e => e.querySelector('.text').textContent)`)
	if strings.Join(texts, "|") != "missed one|missed two|sent while cut" {
		t.Fatalf("after the reconnect the page shows %q", texts)
	}
	p.waitJS(`document.querySelector('#notices').textContent.includes('Connection restored')`)
	p.waitJS(`document.querySelector('#outbox').children.length === 0 && document.querySelector('#retry').hidden`)
	// Delivered once: Bob sees it once too, and nothing after it.
	bobWS.Send("sentinel", "b3")
	p.waitIDs("msg-1", "msg-2", "msg-3", "msg-4")
}

// With JavaScript off: sign in, read, post, and see a refusal explained,
// with a way to refresh and nothing that pretends to be live.
func TestBrowserWithoutJavaScript(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	browser := newBrowser(t)
	room := testkit.Room()
	p := newTab(t, browser)
	p.noScript()
	p.signIn(inst.URL, "Ann", room)
	if !evalJS[bool](p, `document.querySelector('#connection').hidden`) {
		t.Error("the connection status shows without JavaScript")
	}
	if !evalJS[bool](p, `[...document.querySelectorAll('noscript')].some(n => n.textContent.includes('Refresh to see new messages'))`) {
		t.Error("no refresh link without JavaScript")
	}
	p.do(chromedp.SendKeys(chromedp.CSS("#text"), "no script here"), chromedp.Click(chromedp.CSS("#send button")))
	p.waitIDs("msg-1")
	long := strings.Repeat("y", 2001)
	p.do(chromedp.SetValue(chromedp.CSS("#text"), long), chromedp.Click(chromedp.CSS("#send button")))
	p.waitJS(`document.querySelector('#send-error').textContent.includes('at most 2,000 characters')`)
	if v := evalJS[string](p, `document.querySelector('#text').value`); v != long {
		t.Errorf("the refused text was not kept (%d characters)", len(v))
	}
	if d := evalJS[string](p, `document.querySelector('#text').getAttribute('aria-describedby')`); d != "send-error" {
		t.Errorf("the error is not tied to the field: aria-describedby=%q", d)
	}
	p.waitIDs("msg-1")
}

// Screenshots of the sign-in page and a conversation, desktop and phone,
// light and dark. They go to CHAT_SCREENSHOTS_DIR when set (the README's
// come from docs/screenshots), else to a temporary folder.
func TestBrowserScreenshots(t *testing.T) {
	dir := os.Getenv("CHAT_SCREENSHOTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	inst := startInstance(t, sharedEnv(""))
	browser := newBrowser(t)
	room := "general"
	bob := chattest.NewUser(t, inst.URL)
	bob.SignIn("Bob", room)
	bobWS := bob.Dial(room)
	bobWS.Next()
	ann := newTab(t, browser)
	ann.signIn(inst.URL, "Ann", room)
	ann.waitJS(socketOpen)
	for i, line := range []struct{ who, text string }{
		{"bob", "Morning! Is the deploy still on for today?"},
		{"bob", "The checklist is at https://example.com/deploy-checklist"},
		{"ann", "Yes, after lunch.\nThe new instances drain in under a second."},
		{"bob", "@Ann nice. I'll keep an eye on the logs."},
	} {
		if line.who == "bob" {
			bobWS.Send(line.text, fmt.Sprintf("s%d", i))
		} else {
			first, second, _ := strings.Cut(line.text, "\n")
			ann.do(chromedp.Focus(chromedp.CSS("#text")), chromedp.KeyEvent(first),
				chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierShift)),
				chromedp.KeyEvent(second), chromedp.KeyEvent(kb.Enter))
		}
		ann.waitJS(fmt.Sprintf(`document.querySelectorAll('#messages > li').length === %d`, i+1))
	}
	shots := 0
	for _, scheme := range []string{"light", "dark"} {
		for _, size := range []struct {
			name string
			w, h int64
		}{{"desktop", 1280, 800}, {"phone", 390, 844}} {
			signin := newTab(t, browser)
			signin.theme(scheme)
			signin.do(chromedp.EmulateViewport(size.w, size.h), chromedp.Navigate(inst.URL+"/?room="+room))
			ann.theme(scheme)
			ann.do(chromedp.EmulateViewport(size.w, size.h))
			ann.waitJS(`document.querySelector('#connection').textContent === 'Connected'`)
			for page, p := range map[string]*tab{"signin": signin, "conversation": ann} {
				png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
				if err != nil {
					t.Fatal(err)
				}
				name := filepath.Join(dir, fmt.Sprintf("%s-%s-%s.png", page, size.name, scheme))
				if err := os.WriteFile(name, png, 0o644); err != nil {
					t.Fatal(err)
				}
				shots++
			}
		}
	}
	if shots != 8 {
		t.Fatalf("%d screenshots, want 8", shots)
	}
}
