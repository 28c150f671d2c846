package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/coder/websocket"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
)

// Everyday reading and writing (issue 16), in Chromium.

// zone makes the tab's clock read in tz, with locale's conventions.
func (p *tab) zone(tz, locale string) {
	p.t.Helper()
	if _, err := chromedp.Call(p.ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: tz}); err != nil {
		p.t.Fatal(err)
	}
	if _, err := chromedp.Call(p.ctx, emulation.SetLocaleOverride, emulation.SetLocaleOverrideParams{Locale: locale}); err != nil {
		p.t.Fatal(err)
	}
}

// hover moves the mouse over the middle of the element sel selects.
func (p *tab) hover(sel string) {
	p.t.Helper()
	xy := evalJS[[]float64](p, fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`, sel))
	if _, err := chromedp.Call(p.ctx, input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: input.DispatchMouseEventTypeMouseMoved, X: xy[0], Y: xy[1]}); err != nil {
		p.t.Fatal(err)
	}
}

// hide tells the page its tab is hidden (or shown again), as the browser
// does when the reader switches tabs: headless tabs are never hidden.
func (p *tab) hide(hidden bool) {
	p.t.Helper()
	state := map[bool]string{true: "hidden", false: "visible"}[hidden]
	p.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		Object.defineProperty(document, 'hidden', {configurable: true, get: () => %t});
		Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => %q});
		document.dispatchEvent(new Event('visibilitychange'));
	})()`, hidden, state)))
}

// Times show in the reader's own zone: two readers, in Los Angeles and in
// Tokyo, see the same message at their own local time, under "Today", with
// the full date and time on hover and on focus; older messages fall under
// "Yesterday" and their date. Without JavaScript the time is UTC, marked so.
func TestBrowserTimesInReadersZone(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	b := newBrowser(t)
	room := testkit.Room()
	bob := chattest.NewUser(t, inst.URL)
	bob.SignIn("Bob", room)
	ws := bob.Dial(room)
	ws.Next()
	ws.Send("what time is it there?", "t1")
	ws.Until(`id="msg-1"`)

	for _, reader := range []struct{ tz, locale, layout string }{
		{"America/Los_Angeles", "en-US", "03:04 PM"},
		{"Asia/Tokyo", "ja-JP", "15:04"},
	} {
		p := newTab(t, b)
		p.zone(reader.tz, reader.locale)
		p.signIn(inst.URL, "Reader "+reader.locale, room)
		p.waitJS(socketOpen)
		datetime := evalJS[string](p, `document.querySelector('#msg-1 time').getAttribute('datetime')`)
		at, err := time.Parse(time.RFC3339, datetime)
		if err != nil || !strings.HasSuffix(datetime, "Z") {
			t.Fatalf("%s: datetime %q is not RFC 3339 in UTC (%v)", reader.tz, datetime, err)
		}
		loc, err := time.LoadLocation(reader.tz)
		if err != nil {
			t.Fatal(err)
		}
		want := at.In(loc).Format(reader.layout)
		p.waitJS(fmt.Sprintf(`document.querySelector('#msg-1 time').textContent === %q`, want))
		// "Today" is the reader's today.
		today := at.In(loc).Format("2006-01-02") == time.Now().In(loc).Format("2006-01-02")
		if day := evalJS[string](p, `document.querySelector('#msg-1').dataset.day`); today && day != "Today" {
			t.Errorf("%s: the first message's day says %q, want Today", reader.tz, day)
		}
		// The full date and time: on hover, and on keyboard focus (the log is
		// one tab stop; the arrow keys move through its messages).
		full := fmt.Sprint(at.In(loc).Year())
		after := `getComputedStyle(document.querySelector('#msg-1 time'), '::after').content`
		if c := evalJS[string](p, after); strings.Contains(c, full) {
			t.Fatalf("%s: the full date shows without hover or focus: %s", reader.tz, c)
		}
		p.hover("#msg-1")
		p.waitJS(fmt.Sprintf(`%s.includes(%q) && %s.includes(%q)`, after, full, after, strings.TrimLeft(at.In(loc).Format("4"), "0")))
		p.hover("#send")
		p.do(chromedp.Focus(chromedp.CSS(".log")), chromedp.KeyEvent(kb.ArrowUp))
		p.waitJS(`document.activeElement.id === 'msg-1'`)
		p.waitJS(fmt.Sprintf(`%s.includes(%q)`, after, full))

		// Messages from before today, laid out by the page's own script.
		p.do(chromedp.Evaluate[chromedp.Void](`(() => {
			const day = 24 * 3600 * 1000, now = Date.now();
			const item = (seq, ms) => {
				const li = document.createElement('li');
				li.id = 'msg-' + seq; li.dataset.name = 'Old';
				const t = document.createElement('time');
				t.setAttribute('datetime', new Date(ms).toISOString());
				const p = document.createElement('p'); p.className = 'text'; p.textContent = 'old ' + seq;
				li.append(t, p);
				return li;
			};
			document.querySelector('#scrollback').append(item(900, now - 9 * day), item(901, now - day));
		})()`))
		p.waitJS(`document.querySelector('#msg-901').dataset.day === 'Yesterday'`)
		week := time.Now().Add(-9 * 24 * time.Hour).In(loc)
		p.waitJS(fmt.Sprintf(`document.querySelector('#msg-900').dataset.day.includes(%q)`, fmt.Sprint(week.Year())))
	}

	// Without JavaScript: UTC, and it says so.
	p := newTab(t, b)
	p.zone("Asia/Tokyo", "ja-JP")
	p.noScript()
	p.signIn(inst.URL, "NoScript", room)
	datetime := evalJS[string](p, `document.querySelector('#msg-1 time').getAttribute('datetime')`)
	at, _ := time.Parse(time.RFC3339, datetime)
	if got, want := evalJS[string](p, `document.querySelector('#msg-1 time').textContent`), at.UTC().Format("15:04")+" UTC"; got != want {
		t.Errorf("without JavaScript the time shows %q, want %q", got, want)
	}
}

// Links, lines and directions: an http(s) address becomes a link that opens
// in a new tab, javascript: stays text; Shift+Enter starts a new line and
// Enter sends; the lines arrive as written; right-to-left text and names
// take their own direction. Without JavaScript the box posts lines too, and
// more than 40 lines are refused with the text kept.
func TestBrowserLinksLinesAndDirections(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	b := newBrowser(t)
	room := testkit.Room()
	p := newTab(t, b)
	p.signIn(inst.URL, "Ann", room)
	p.waitJS(connected)
	p.do(chromedp.Click(chromedp.CSS("#text")))
	shiftEnter := chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierShift))
	p.do(chromedp.KeyEvent("first line https://example.com/a_(b)."), shiftEnter,
		chromedp.KeyEvent("javascript:alert(1) stays text"), shiftEnter,
		chromedp.KeyEvent("שלום עולם"))
	if v := evalJS[string](p, `document.querySelector('#text').value`); v != "first line https://example.com/a_(b).\njavascript:alert(1) stays text\nשלום עולם" {
		t.Fatalf("Shift+Enter: the box holds %q", v)
	}
	p.do(chromedp.KeyEvent(kb.Enter))
	p.waitIDs("msg-1")
	if got := evalJS[string](p, `document.querySelector('#msg-1 .text').textContent`); got != "first line https://example.com/a_(b).\njavascript:alert(1) stays text\nשלום עולם" {
		t.Errorf("the message reads %q", got)
	}
	if lines := evalJS[float64](p, `(() => { const e = document.querySelector('#msg-1 .text'); return e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight); })()`); lines < 2.9 {
		t.Errorf("the message shows as %.1f lines, want 3", lines)
	}
	links := evalJS[[]map[string]string](p, `[...document.querySelectorAll('#msg-1 .text a')].map(a => ({href: a.getAttribute('href'), rel: a.rel, target: a.target, text: a.textContent}))`)
	if len(links) != 1 || links[0]["href"] != "https://example.com/a_(b)" || links[0]["text"] != "https://example.com/a_(b)" ||
		links[0]["rel"] != "noopener noreferrer nofollow ugc" || links[0]["target"] != "_blank" {
		t.Errorf("links: %v, want one to https://example.com/a_(b), rel noopener noreferrer nofollow ugc, target _blank", links)
	}
	for _, sel := range []string{"#msg-1 .text", "#msg-1 .from"} {
		if d := evalJS[string](p, fmt.Sprintf(`document.querySelector(%q).getAttribute('dir')`, sel)); d != "auto" {
			t.Errorf("%s: dir=%q, want auto", sel, d)
		}
	}
	// A right-to-left message is laid out right to left.
	p.do(chromedp.KeyEvent("مرحبا بالعالم"), chromedp.KeyEvent(kb.Enter))
	p.waitIDs("msg-1", "msg-2")
	if d := evalJS[string](p, `getComputedStyle(document.querySelector('#msg-2 .text')).direction`); d != "rtl" {
		t.Errorf("an Arabic message is laid out %s, want rtl", d)
	}

	// Without JavaScript.
	q := newTab(t, b)
	q.noScript()
	q.signIn(inst.URL, "Carol", room)
	q.do(chromedp.SetValue(chromedp.CSS("#text"), "no script\nsecond line"), chromedp.Click(chromedp.CSS("#send button")))
	q.waitIDs("msg-1", "msg-2", "msg-3")
	if got := evalJS[string](q, `document.querySelector('#msg-3 .text').textContent`); got != "no script\nsecond line" {
		t.Errorf("no-JS post reads %q, want two lines", got)
	}
	many := strings.TrimSuffix(strings.Repeat("line\n", 41), "\n")
	js, _ := json.Marshal(many)
	q.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#text').value = `+string(js)), chromedp.Click(chromedp.CSS("#send button")))
	q.waitJS(`document.querySelector('#send-error').textContent.includes('at most 40 lines')`)
	if v := evalJS[string](q, `document.querySelector('#text').value`); v != many {
		t.Errorf("the refused 41 lines were not kept: %q", v)
	}
	// With JavaScript the page says so before sending, and keeps the text.
	p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#text').value = `+string(js)), chromedp.Focus(chromedp.CSS("#text")), chromedp.KeyEvent(kb.Enter))
	p.waitJS(`document.querySelector('#send-error').textContent.includes('at most 40 lines')`)
	if v := evalJS[string](p, `document.querySelector('#text').value`); v != many {
		t.Errorf("41 lines: the box holds %d characters, want them kept", len(v))
	}
}

// At 360 CSS pixels a 32-character name and a long unbroken word wrap: no
// sideways scrolling anywhere.
func TestBrowserNarrowScreenWraps(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	b := newBrowser(t)
	room := strings.Repeat("r", 64)
	name := strings.Repeat("W", 32)
	p := newTab(t, b)
	p.do(chromedp.EmulateViewport(360, 740))
	p.signIn(inst.URL, name, room)
	p.waitJS(connected)
	p.do(chromedp.SendKeys(chromedp.CSS("#text"), strings.Repeat("supercalifragilistic", 30)+"\r"))
	p.waitIDs("msg-1")
	for _, sel := range []string{"document.documentElement", "document.querySelector('.log')", "document.querySelector('#msg-1')", "document.querySelector('.bar')"} {
		if evalJS[bool](p, sel+`.scrollWidth > `+sel+`.clientWidth + 1`) {
			t.Errorf("%s scrolls sideways at 360 px: %v > %v", sel, evalJS[float64](p, sel+".scrollWidth"), evalJS[float64](p, sel+".clientWidth"))
		}
	}
}

// Reading a conversation: messages from one sender within a few minutes
// sit under one name; when the reader has scrolled up, new arrivals show
// "New messages" and leave the view where it is; coming back to a hidden
// tab shows where the unread messages start.
func TestBrowserReadingAConversation(t *testing.T) {
	inst := startInstance(t, burst(sharedEnv("")))
	b := newBrowser(t)
	room := testkit.Room()
	ws := talker(t, inst.URL, "Bob", room, numbered("line %d from bob", 30)...)
	p := newTab(t, b)
	p.signIn(inst.URL, "Ann", room)
	p.waitJS(connected)
	if got := evalJS[[]bool](p, `[...document.querySelectorAll('#messages > li')].slice(0, 3).map(li => li.classList.contains('cont'))`); len(got) != 3 || got[0] || !got[1] || !got[2] {
		t.Errorf("Bob's first three messages: cont %v, want [false true true] (one name over them)", got)
	}
	if shown := evalJS[bool](p, `getComputedStyle(document.querySelector('#msg-2 .from')).clip !== 'auto' || document.querySelector('#msg-2 .from').getBoundingClientRect().width <= 1`); !shown {
		t.Error("the name shows again on a message that continues its sender's")
	}
	p.do(chromedp.SendKeys(chromedp.CSS("#text"), "ann breaks the group\r"))
	p.waitIDs(func() []string {
		var ids []string
		for i := range 31 {
			ids = append(ids, fmt.Sprint("msg-", i+1))
		}
		return ids
	}()...)
	ws.Send("bob again", "b30")
	p.waitJS(`document.querySelector('#msg-32')`)
	if evalJS[bool](p, `document.querySelector('#msg-32').classList.contains('cont')`) {
		t.Error("Bob's message after Ann's sits under Ann's name")
	}

	// Scrolled up: a new message leaves the view, and says it came.
	p.scrollLogTop()
	p.waitJS(`document.querySelector('#new-messages').hidden`)
	ws.Send("while you read", "b31")
	p.waitJS(`document.querySelector('#msg-33')`)
	p.waitJS(`!document.querySelector('#new-messages').hidden`)
	if top := evalJS[float64](p, `document.querySelector('.log').scrollTop`); top != 0 {
		t.Errorf("a new message moved the view of a reader who had scrolled up (scrollTop %v)", top)
	}
	p.do(chromedp.Click(chromedp.CSS("#new-messages")))
	p.waitJS(`(() => { const l = document.querySelector('.log'); return l.scrollHeight - l.scrollTop - l.clientHeight < 2; })()`)
	p.waitJS(`document.querySelector('#new-messages').hidden`)

	// Away and back: the first unread message is marked.
	p.hide(true)
	ws.Send("unread one", "b32")
	ws.Send("unread two", "b33")
	p.waitJS(`document.querySelector('#msg-35')`)
	p.waitJS(`document.title.startsWith('(2) ')`)
	p.hide(false)
	p.waitJS(`document.querySelectorAll('li.first-unread').length === 1 && document.querySelector('li.first-unread').id === 'msg-34'`)
	if !evalJS[bool](p, `(() => { const l = document.querySelector('.log').getBoundingClientRect(), m = document.querySelector('#msg-34').getBoundingClientRect(); return m.top >= l.top && m.bottom <= l.bottom; })()`) {
		t.Error("the first unread message is not in view")
	}
	if title := evalJS[string](p, `document.title`); strings.HasPrefix(title, "(") {
		t.Errorf("the title still counts unread messages: %q", title)
	}
}

// The newest notice is always in view, the server's "Sign in again" too.
func TestBrowserNewestNoticeInView(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	b := newBrowser(t)
	room := testkit.Room()
	p := newTab(t, b)
	p.signIn(inst.URL, "Ann", room)
	p.waitJS(connected)
	for i := range 6 {
		u := chattest.NewUser(t, inst.URL)
		u.SignIn(fmt.Sprint("Visitor", i), room)
		c := u.Dial(room)
		c.Next()
		p.waitJS(fmt.Sprintf(`document.querySelector('#notices').textContent.includes('Visitor%d')`, i))
		c.Conn.Close(websocket.StatusNormalClosure, "")
	}
	inView := `(() => { const n = document.querySelector('#notices'), last = n.lastElementChild; const a = n.getBoundingClientRect(), b = last.getBoundingClientRect(); return b.top >= a.top - 1 && b.bottom <= a.bottom + 1; })()`
	p.waitJS(inView)
	// What the server adds itself: the session's end, with its link.
	p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#notices').insertAdjacentHTML('beforeend', '<p>Your session has ended. <a href="/">Sign in again</a>.</p>')`))
	p.waitJS(`document.querySelector('#notices').lastElementChild.textContent.includes('Sign in again')`)
	p.waitJS(inView)
}

// A first visit explains itself: an empty room shows its link with a copy
// button that copies it; the page has a real favicon.
func TestBrowserFirstVisit(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	b := newBrowser(t)
	room := testkit.Room()
	p := newTab(t, b)
	p.grant(browser.PermissionSettingGranted, "clipboard-read", "clipboard-write")
	p.signIn(inst.URL, "Ann", room)
	p.waitJS(connected)
	link := inst.URL + "/rooms/" + room
	if got := evalJS[string](p, `document.querySelector('#empty-hint #room-link').value`); got != link {
		t.Fatalf("the empty room's link is %q, want %q", got, link)
	}
	p.do(chromedp.Click(chromedp.CSS("#copy-link")))
	p.waitJS(`document.querySelector('#copy-status').textContent === 'Link copied.'`)
	if got, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); err != nil || got != link {
		t.Errorf("the clipboard holds %q (%v), want %q", got, err, link)
	}
	// The hint goes once the room has a message.
	p.do(chromedp.SendKeys(chromedp.CSS("#text"), "hello\r"))
	p.waitIDs("msg-1")
	p.waitJS(`document.querySelector('#empty-hint').hidden`)

	icon := evalJS[string](p, `document.querySelector('link[rel="icon"]').href`)
	resp, err := http.Get(icon)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" {
		t.Errorf("favicon %s: %d %s", icon, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	w, err := chromedp.Run(p.ctx, chromedp.Evaluate[float64](fmt.Sprintf(`new Promise(ok => { const i = new Image(); i.onload = () => ok(i.naturalWidth); i.onerror = () => ok(0); i.src = %q; })`, icon), chromedp.EvalAwaitPromise))
	if err != nil || w == 0 {
		t.Errorf("the favicon is not an image the browser can draw (%v)", err)
	}
}

// Without JavaScript the room opens at its newest message, and after a post
// the reader's own message is in view.
func TestBrowserWithoutJavaScriptOpensAtTheNewest(t *testing.T) {
	inst := startInstance(t, burst(sharedEnv("")))
	b := newBrowser(t)
	room := testkit.Room()
	talker(t, inst.URL, "Bob", room, numbered("message %d", 60)...)
	p := newTab(t, b)
	p.noScript()
	p.signIn(inst.URL, "Ann", room)
	visible := func(id string) string {
		return fmt.Sprintf(`(() => { const l = document.querySelector('.log').getBoundingClientRect(), m = document.querySelector('#%s').getBoundingClientRect(); return m.bottom > l.top && m.top < l.bottom; })()`, id)
	}
	if !evalJS[bool](p, visible("msg-60")) || evalJS[bool](p, visible("msg-1")) {
		t.Error("without JavaScript the room does not open at its newest message")
	}
	p.do(chromedp.SendKeys(chromedp.CSS("#text"), "mine, at the bottom"), chromedp.Click(chromedp.CSS("#send button")))
	p.waitJS(`document.querySelector('#msg-61')`)
	if !evalJS[bool](p, visible("msg-61")) {
		t.Error("after posting, the reader's own message is not in view")
	}
}

// Mentions: "@Ann" is highlighted on Ann's page (not on Bob's), counts in
// the title while the tab is hidden, and notifies only once Ann asked for
// notifications.
func TestBrowserMentions(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	b := newBrowser(t)
	room := testkit.Room()
	p := newTab(t, b)
	// Watch the Notification API from before the page's own script runs.
	if _, err := chromedp.Call(p.ctx, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: `
		window.__asked = 0; window.__notes = [];
		const N = window.Notification;
		const ask = N.requestPermission.bind(N);
		window.Notification = class extends N {
			constructor(title, options) { window.__notes.push(title); super(title, options); }
			static requestPermission(...a) { window.__asked++; return ask(...a); }
		};`}); err != nil {
		t.Fatal(err)
	}
	p.grant(browser.PermissionSettingPrompt, "notifications")
	p.signIn(inst.URL, "Ann", room)
	p.waitJS(connected)
	bob := chattest.NewUser(t, inst.URL)
	bob.SignIn("Bob", room)
	ws := bob.Dial(room)
	ws.Next()
	ws.Send("hi @ann, look at this (and @annabel is someone else)", "m1")
	p.waitJS(`document.querySelector('#msg-1')`)
	p.waitJS(`document.querySelector('#msg-1').classList.contains('mentions-me')`)
	if marks := evalJS[[]string](p, `[...document.querySelectorAll('#msg-1 mark.mention')].map(m => m.textContent)`); len(marks) != 1 || marks[0] != "@ann" {
		t.Errorf("marked mentions %q, want [@ann]", marks)
	}
	if got := evalJS[string](p, `document.querySelector('#msg-1 .text').textContent`); got != "hi @ann, look at this (and @annabel is someone else)" {
		t.Errorf("highlighting changed the text: %q", got)
	}
	// Nothing asks for notifications until Ann does.
	if asked := evalJS[float64](p, `window.__asked`); asked != 0 {
		t.Fatalf("the page asked for notifications %v times by itself", asked)
	}
	p.hide(true)
	ws.Send("@Ann are you there?", "m2")
	ws.Send("no mention here", "m3")
	p.waitJS(`document.querySelector('#msg-3')`)
	p.waitJS(`document.title.startsWith('(2, 1 @) ')`)
	if n := evalJS[float64](p, `window.__notes.length`); n != 0 {
		t.Errorf("%v notifications before Ann asked for them", n)
	}
	p.hide(false)

	p.grant(browser.PermissionSettingGranted, "notifications")
	p.do(chromedp.Click(chromedp.CSS("#notify")))
	p.waitJS(`window.__asked === 1 && document.querySelector('#notify').hidden`)
	p.hide(true)
	ws.Send("@Ann now you get a notification", "m4")
	ws.Send("and this is not one", "m5")
	p.waitJS(`document.querySelector('#msg-5')`)
	p.waitJS(`window.__notes.length === 1 && window.__notes[0].startsWith('Bob mentioned you')`)
}
