package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
)

// newBrowser starts headless Chromium (Debian's package) for the test and
// returns a context to make browser contexts from.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		testkit.Require(t, "chromium", "no chromium on PATH (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	// The first Run starts the browser; it must have no deadline.
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return browserCtx
}

// tab is a page in a browser context of its own (its own cookies).
type tab struct {
	t   *testing.T
	ctx context.Context
}

func newTab(t *testing.T, browser context.Context) *tab {
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first Run opens the tab for the context's lifetime: no deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab: %v", err)
	}
	return &tab{t: t, ctx: ctx}
}

func (p *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

// waitJS polls a JavaScript expression until it is truthy. It evaluates in
// the page's own world (chromedp's Poll does not), where htmx's state lives.
// While the tab navigates, an evaluation may fail or the document may lack
// what expr reads: that counts as not yet.
func (p *tab) waitJS(expr string) {
	p.t.Helper()
	js := "(() => { try { return !!(" + expr + ") } catch (e) { return false } })()"
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("still false after 15 s: %s (last error: %v)\npage: %s", expr, err, p.state())
		}
		<-tick.C
	}
}

// state says where the page stands, for a failure's message: its address,
// the status line, the last notices and the socket.
func (p *tab) state() string {
	ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({href: location.href, ready: document.readyState,
		status: document.querySelector('#connection')?.textContent, state: document.querySelector('#connection')?.dataset.state,
		notices: document.querySelector('#notices')?.innerText.slice(-300), socket: document.querySelector('#chat')?._htmx?.ws?.connection?.socket?.readyState,
		worker: !!navigator.serviceWorker?.controller, visible: document.visibilityState})`))
	if err != nil {
		return "unreadable: " + err.Error()
	}
	return s
}

func evalJS[T any](p *tab, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// messageIDs returns the ids of the items in #messages, in page order.
func (p *tab) messageIDs() []string {
	return evalJS[[]string](p, `[...document.querySelectorAll('#messages > li')].map(li => li.id)`)
}

// scrollLogTop scrolls the message log to its top, as a reader does, and
// returns once the page has seen the scroll (its handler runs before this
// one's, which is added later).
func (p *tab) scrollLogTop() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`new Promise(done => {
		const log = document.querySelector('.log');
		if (log.scrollTop === 0) return done(true);
		log.addEventListener('scroll', () => done(true), {once: true});
		log.scrollTop = 0;
	})`, chromedp.EvalAwaitPromise)); err != nil {
		p.t.Fatalf("scroll the log: %v", err)
	}
}

// talker signs name in to room on base over a socket and sends texts in
// order, each stored before the next (the room's first messages, so
// msg-1 up); the socket stays open for more.
func talker(t *testing.T, base, name, room string, texts ...string) *chattest.Socket {
	t.Helper()
	u := chattest.NewUser(t, base)
	u.SignIn(name, room)
	ws := u.Dial(room)
	ws.Next()
	for i, text := range texts {
		ws.Send(text, fmt.Sprint("t", i))
		ws.Until(fmt.Sprintf(`id="msg-%d"`, i+1))
	}
	return ws
}

// numbered is n texts made by format from 1 to n.
func numbered(format string, n int) []string {
	texts := make([]string, n)
	for i := range texts {
		texts[i] = fmt.Sprintf(format, i+1)
	}
	return texts
}

// noScript turns JavaScript off in the tab, as a reader may.
func (p *tab) noScript() {
	p.t.Helper()
	if _, err := chromedp.Call(p.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		p.t.Fatal(err)
	}
}

// grant gives the tab's browser context permissions by name
// ("clipboard-read", "notifications"), or sets them to setting.
func (p *tab) grant(setting browser.PermissionSetting, names ...string) {
	p.t.Helper()
	c := chromedp.FromContext(p.ctx)
	for _, name := range names {
		if _, err := chromedp.CallBrowser(p.ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: setting,
			BrowserContextID: c.BrowserContextID,
		}); err != nil {
			p.t.Fatal(err)
		}
	}
}

func (p *tab) signIn(base, name, room string) {
	p.do(
		chromedp.Navigate(base+"/?room="+room),
		// A tab signed in already finds its name filled in.
		chromedp.Evaluate[chromedp.Void](`document.querySelector('#name').value = ''`),
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.Click(chromedp.CSS(`form.signin button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#messages")),
	)
}

const socketOpen = `document.querySelector('#chat')?._htmx?.ws?.connection?.socket?.readyState === 1`

// waitIDs waits until #messages holds exactly ids, in order.
func (p *tab) waitIDs(ids ...string) {
	p.t.Helper()
	want, _ := json.Marshal(ids)
	p.waitJS(fmt.Sprintf(`JSON.stringify([...document.querySelectorAll('#messages > li')].map(li => li.id)) === %q`, want))
}

// Two users in separate browser contexts on two instances chat live; a third
// with JavaScript disabled reads the history and posts with the form.
func TestBrowserChatAcrossInstancesAndWithoutJS(t *testing.T) {
	forEachStore(t, testBrowserChatAcrossInstancesAndWithoutJS)
}

func testBrowserChatAcrossInstancesAndWithoutJS(t *testing.T, st store) {
	env := st.shared()
	a, b := startInstance(t, env), startInstance(t, env)
	browser := newBrowser(t)
	room := testkit.Room()

	ann, bob := newTab(t, browser), newTab(t, browser)
	ann.signIn(a.URL, "Ann", room)
	ann.waitJS(socketOpen)
	bob.signIn(b.URL, "Bob", room)
	bob.waitJS(socketOpen)
	ann.waitJS(`document.querySelector('#notices').textContent.includes('Bob entered the room.')`)

	ann.do(chromedp.SendKeys(chromedp.CSS("#text"), "hello bob\r"))
	ann.waitIDs("msg-1")
	bob.waitIDs("msg-1")
	// The sender's form came back empty with a new nonce.
	ann.waitJS(`document.querySelector('#text').value === ''`)

	bob.do(chromedp.SendKeys(chromedp.CSS("#text"), "hi ann"), chromedp.Click(chromedp.CSS("#send button")))
	ann.waitIDs("msg-1", "msg-2")
	bob.waitIDs("msg-1", "msg-2")
	// A sentinel: anything doubled would have arrived before it.
	ann.do(chromedp.SendKeys(chromedp.CSS("#text"), "third\r"))
	for _, p := range []*tab{ann, bob} {
		p.waitIDs("msg-1", "msg-2", "msg-3")
		texts := evalJS[[]string](p, `[...document.querySelectorAll('#messages > li .text')].map(e => e.textContent)`)
		if strings.Join(texts, "|") != "hello bob|hi ann|third" {
			t.Fatalf("messages on the page: %q", texts)
		}
	}

	// JavaScript off: the same page, served and posted over plain HTTP.
	carol := newTab(t, browser)
	carol.do(chromedp.Navigate("about:blank"))
	carol.noScript()
	carol.signIn(a.URL, "Carol", room)
	if js := evalJS[bool](carol, `typeof htmx !== 'undefined'`); js {
		t.Fatal("scripts ran in the no-JS context")
	}
	if ids := carol.messageIDs(); strings.Join(ids, ",") != "msg-1,msg-2,msg-3" {
		t.Fatalf("no-JS history: %v", ids)
	}
	carol.do(
		chromedp.SendKeys(chromedp.CSS("#text"), "posted without js"),
		chromedp.Click(chromedp.CSS("#send button")),
	)
	carol.waitJS(`document.querySelectorAll('#messages > li').length === 4`)
	if loc := evalJS[string](carol, `location.pathname`); loc != "/rooms/"+room {
		t.Fatalf("after posting, the page is %s, want the room (POST-redirect-GET)", loc)
	}
	for _, p := range []*tab{ann, bob} {
		p.waitIDs("msg-1", "msg-2", "msg-3", "msg-4")
	}
}

// console collects what a tab writes to its console, browser log included.
type console struct {
	mu   sync.Mutex
	msgs []string
}

func (p *tab) console() *console {
	ctx, cancel := context.WithCancel(p.ctx)
	msgs := chromedp.Console(ctx)
	c := &console{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, string(m.Type)+": "+m.Text)
			c.mu.Unlock()
		}
	}()
	p.t.Cleanup(func() {
		cancel()
		<-done
	})
	return c
}

// violations returns the console lines that report a blocked resource or
// script, as Chromium words a Content-Security-Policy violation.
func (c *console) violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var v []string
	for _, m := range c.msgs {
		if strings.Contains(m, "Content Security Policy") || strings.Contains(m, "Refused to") {
			v = append(v, m)
		}
	}
	return v
}

// The room page, chatting, receives every kind of fragment with no
// Content-Security-Policy violation.
func TestBrowserRoomHasNoCSPViolations(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	browser := newBrowser(t)
	room := testkit.Room()
	p := newTab(t, browser)
	con := p.console()
	p.signIn(inst.URL, "Ann", room)
	p.waitJS(socketOpen)
	// Count violations in the page too, from now on.
	p.do(chromedp.Evaluate[chromedp.Void](`window.cspViolations = []; document.addEventListener('securitypolicyviolation', e => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI))`))

	// Every fragment kind: a message and the fresh form, an entry notice
	// and the member list, a refusal.
	p.do(chromedp.SendKeys(chromedp.CSS("#text"), "hello\r"))
	p.waitIDs("msg-1")
	bob := chattest.NewUser(t, inst.URL)
	bob.SignIn("Bob", room)
	bob.Dial(room).Next()
	p.waitJS(`document.querySelector('#notices').textContent.includes('Bob entered')`)
	p.waitJS(`document.querySelector('#members').textContent.includes('Bob')`)
	p.do(chromedp.SetValue(chromedp.CSS("#text"), strings.Repeat("x", 2001)), chromedp.SendKeys(chromedp.CSS("#text"), "\r"))
	p.waitJS(`document.querySelector('#send-error').textContent.includes('2,000')`)

	if v := con.violations(); len(v) > 0 {
		t.Fatalf("CSP violations in the console: %q", v)
	}
	if n := evalJS[int](p, `window.cspViolations.length`); n != 0 {
		t.Fatalf("%d CSP violations reported in the page", n)
	}

	// The check can fail: an inline style is a violation, and it is seen.
	p.do(chromedp.Evaluate[chromedp.Void](`document.body.insertAdjacentHTML('beforeend', '<p style="color: red">x</p>')`))
	p.waitJS(`window.cspViolations.length > 0`)
	deadline := time.Now().Add(10 * time.Second)
	for len(con.violations()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the console never reported the inline style")
		}
		time.Sleep(20 * time.Millisecond) // polling what the console goroutine gathered
	}
}
