package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/serviceworker"
	"github.com/chromedp/chromedp"

	"github.com/chatrun/chat/testkit"
)

// waitAsync polls a JavaScript expression that gives a promise until it
// resolves to true, for at most 15 s.
func (p *tab) waitAsync(expr string) {
	p.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("(async () => { try { return !!(await ("+expr+")) } catch (e) { return false } })()", chromedp.EvalAwaitPromise))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("still false after 15 s: %s (last error: %v)", expr, err)
		}
		<-tick.C
	}
}

// awaitJS evaluates a JavaScript expression that gives a promise and
// returns what it resolves to.
func awaitJS[T any](p *tab, expr string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// The chat is an installable app in Chromium: the manifest is found and
// parsed without errors, in the page's language; DevTools reports no
// installability error at all; the service worker
// registers with scope /; it keeps the offline page and its files and
// nothing else; with the network cut, reloading the room shows the
// offline page in the page's language, and when the network is back the
// room comes back by itself. In English, and in Traditional Chinese.
func TestBrowserInstallableApp(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	for _, c := range []struct {
		lang, accept, locale, tag, name, heading string
	}{
		{"en", "", "", "en", "Chat", "The chat is offline"},
		// Chromium's override takes languages without weights.
		{"zh-TW", "zh-TW,zh,en", "zh-TW", "zh-Hant-TW", "聊天", "聊天目前離線"},
	} {
		t.Run(c.lang, func(t *testing.T) {
			proxy := newNetProxy(t, inst.URL, 0)
			room := testkit.Room()
			// The browser's own first tab: its default profile, where apps
			// install (newTab's contexts are off the record, where
			// Chromium reports in-incognito and installs nothing).
			p := &tab{t: t, ctx: newBrowser(t)}
			if c.accept != "" {
				p.acceptLanguage(c.accept, c.locale)
			}
			p.signIn(proxy.URL(), "Ann", room)
			p.waitJS(socketOpen)
			if got := evalJS[string](p, `document.documentElement.lang`); got != c.tag {
				t.Fatalf("the room page is in %q, want %q", got, c.tag)
			}

			// The manifest, as the browser read it.
			ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
			m, err := chromedp.Call(ctx, cdppage.GetAppManifest, cdppage.GetAppManifestParams{})
			cancel()
			if err != nil {
				t.Fatalf("Page.getAppManifest: %v", err)
			}
			if !strings.HasSuffix(m.URL, "/manifest.webmanifest") {
				t.Errorf("manifest URL %q", m.URL)
			}
			for _, e := range m.Errors {
				t.Errorf("manifest error at %d:%d (critical %d): %s", e.Line, e.Column, e.Critical, e.Message)
			}
			if m.Manifest == nil {
				t.Fatalf("no parsed manifest; data %q", m.Data)
			}
			// DevTools gives the display mode by its C++ name
			// (kStandalone), and no short name: that one is read from
			// the text it fetched.
			mf := m.Manifest
			if mf.Name != c.name || !strings.EqualFold(strings.TrimPrefix(mf.Display, "k"), "standalone") ||
				mf.StartURL != proxy.URL()+"/" || mf.Scope != proxy.URL()+"/" || len(mf.Icons) != 3 {
				t.Errorf("parsed manifest: name %q, display %q, start %q, scope %q, %d icons",
					mf.Name, mf.Display, mf.StartURL, mf.Scope, len(mf.Icons))
			}
			var raw struct {
				ShortName string `json:"short_name"`
				Lang      string `json:"lang"`
			}
			if err := json.Unmarshal([]byte(m.Data), &raw); err != nil || raw.ShortName != c.name || raw.Lang != c.tag {
				t.Errorf("manifest text: short_name %q, lang %q (%v)", raw.ShortName, raw.Lang, err)
			}

			// The worker, registered by static/app.js for the whole site,
			// controls the page.
			if scope := awaitJS[string](p, `navigator.serviceWorker.ready.then(r => r.scope)`); scope != proxy.URL()+"/" {
				t.Errorf("service worker scope %q, want %q", scope, proxy.URL()+"/")
			}
			// A page loaded while the worker was installing may stay
			// uncontrolled (the sign-in's redirect raced its activation):
			// the next load is the worker's.
			if !evalJS[bool](p, `navigator.serviceWorker.controller !== null`) {
				p.do(chromedp.Reload())
				p.waitJS(socketOpen)
			}
			p.waitJS(`navigator.serviceWorker.controller !== null`)

			ctx, cancel = context.WithTimeout(p.ctx, 20*time.Second)
			ie, err := chromedp.Call(ctx, cdppage.GetInstallabilityErrors, cdp.Empty{})
			cancel()
			if err != nil {
				t.Fatalf("Page.getInstallabilityErrors: %v", err)
			}
			// Headless Chromium 156 reports none here, so none is
			// ignored. (In an off-the-record context, as newTab makes, it
			// reports in-incognito: the environment's, not the service's;
			// this test avoids it rather than ignores it. Loopback http
			// is a secure context: no HTTPS error.)
			for _, e := range ie.InstallabilityErrors {
				var args []string
				for _, a := range e.ErrorArguments {
					args = append(args, a.Name+"="+a.Value)
				}
				t.Errorf("installability error %s %v", e.ErrorID, args)
			}

			// The offline page is kept in the page's language, with its
			// files, and nothing else is: no room, no answer with data.
			p.waitAsync(`caches.match('/offline').then(r => r && r.headers.get('Content-Language') === '` + c.tag + `')`)
			kept := awaitJS[[]string](p, `caches.keys().then(ns => Promise.all(ns.map(n => caches.open(n).then(c => c.keys()))))
				.then(all => all.flat().map(r => new URL(r.url).pathname))`)
			slices.Sort(kept)
			if want := []string{"/offline", "/static/app.js", "/static/chat.css", "/static/favicon.svg", "/static/icons/icon-192.png"}; !slices.Equal(kept, want) {
				t.Errorf("the caches hold %q, want %q", kept, want)
			}

			// Cut: the room, reloaded, is the offline page, in the page's
			// language, at the room's address.
			proxy.cut()
			p.do(chromedp.Reload())
			p.waitJS(`document.querySelector('#offline h1')`)
			if got := evalJS[string](p, `document.querySelector('#offline h1').textContent`); got != c.heading {
				t.Errorf("offline heading %q, want %q", got, c.heading)
			}
			if got := evalJS[string](p, `document.documentElement.lang`); got != c.tag {
				t.Errorf("the offline page is in %q, want %q", got, c.tag)
			}
			if got := evalJS[string](p, `document.querySelector('#offline-retry').href`); got != proxy.URL()+"/rooms/"+room {
				t.Errorf("Try again leads to %q, want the room", got)
			}

			// Back: the room comes back by itself, its socket open.
			proxy.restore()
			p.waitJS(`!document.querySelector('#offline') && document.querySelector('#messages')`)
			p.waitJS(socketOpen)
		})
	}
}

// axe-core finds nothing serious or critical on the offline page, in
// either theme or language.
func TestBrowserOfflinePageAccessibility(t *testing.T) {
	axe := axeSource(t)
	inst := startInstance(t, sharedEnv(""))
	browser := newBrowser(t)
	for _, accept := range []string{"en", "zh-TW,zh,en"} {
		for _, scheme := range []string{"light", "dark"} {
			p := newTab(t, browser)
			p.acceptLanguage(accept, strings.Split(accept, ",")[0])
			p.theme(scheme)
			p.do(chromedp.Navigate(inst.URL + "/offline"))
			p.waitJS(`document.querySelector('#offline')`)
			if v := p.axeViolations(axe); len(v) > 0 {
				t.Errorf("offline page, %s, %s: %q", accept, scheme, v)
			}
		}
	}
}

// A push the service worker is handed (through DevTools, as the push
// service would) shows a notification as the push sender's contract
// says: its title and body, the room as its tag, the room's address at
// the message, the app's icon and badge; an address on another site
// becomes the site's root.
func TestBrowserPushShowsNotification(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	p := &tab{t: t, ctx: newBrowser(t)}
	regs := make(chan string, 16)
	// The registration whose worker is activated: a push handed to it
	// before that may find no worker to run.
	scoped := map[string]bool{}
	if err := chromedp.Listen(p.ctx, func(ev any) {
		switch e := ev.(type) {
		case *serviceworker.EventWorkerRegistrationUpdated:
			for _, r := range e.Registrations {
				if !r.IsDeleted && r.ScopeURL == inst.URL+"/" {
					scoped[string(r.RegistrationID)] = true
				}
			}
		case *serviceworker.EventWorkerVersionUpdated:
			for _, v := range e.Versions {
				if scoped[string(v.RegistrationID)] && v.Status == serviceworker.VersionStatusActivated && v.RunningStatus == serviceworker.VersionRunningStatusRunning {
					select {
					case regs <- string(v.RegistrationID):
					default:
					}
				}
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(p.ctx, serviceworker.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	p.do(chromedp.Navigate(inst.URL + "/"))
	p.grant(browser.PermissionSettingGranted, "notifications")
	if scope := awaitJS[string](p, `navigator.serviceWorker.ready.then(r => r.scope)`); scope != inst.URL+"/" {
		t.Fatalf("scope %q", scope)
	}
	var reg string
	select {
	case reg = <-regs:
	case <-time.After(15 * time.Second):
		t.Fatal("DevTools reported no registration of the worker")
	}
	push := func(data string) {
		t.Helper()
		if _, err := chromedp.Call(p.ctx, serviceworker.DeliverPushMessage, serviceworker.DeliverPushMessageParams{
			Origin: inst.URL, RegistrationID: serviceworker.RegistrationID(reg), Data: data,
		}); err != nil {
			t.Fatal(err)
		}
	}
	const shown = `navigator.serviceWorker.ready.then(r => r.getNotifications()).then(ns => JSON.stringify(ns.map(n =>
		[n.title, n.body, n.tag, n.data.url, new URL(n.icon).pathname, new URL(n.badge).pathname])))`
	push(`{"title": "Bob in #general", "body": "@Ann lunch?", "url": "/rooms/general#msg-7", "tag": "general"}`)
	p.waitAsync(shown + ` .then(s => s !== '[]')`)
	want := `[["Bob in #general","@Ann lunch?","general","` + inst.URL + `/rooms/general#msg-7","/static/icons/icon-192.png","/static/icons/badge-96.png"]]`
	if got := awaitJS[string](p, shown); got != want {
		t.Errorf("notifications %s, want %s", got, want)
	}
	// The same room: one notification, the newer one; an address
	// elsewhere is the site's root.
	push(`{"title": "Bob in #general", "body": "still there?", "url": "https://evil.example/phish", "tag": "general"}`)
	p.waitAsync(shown + ` .then(s => s.includes('still there?'))`)
	want = `[["Bob in #general","still there?","general","` + inst.URL + `/","/static/icons/icon-192.png","/static/icons/badge-96.png"]]`
	if got := awaitJS[string](p, shown); got != want {
		t.Errorf("notifications %s, want %s", got, want)
	}
}
