package main

import (
	"testing"
	"time"

	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"
)

// htmx's ws extension arriving late (a slow network, the service worker's
// extra hop) still connects the room: htmx and hx-ws.js run in order as
// the parser meets them, before htmx starts. Deferred, htmx started itself
// with a setTimeout that ran before a late hx-ws.js, and the page stayed
// "Connecting…" for good.
func TestBrowserLateWSExtensionStillConnects(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	p := newTab(t, newBrowser(t))
	if _, err := chromedp.Call(p.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/static/hx-ws.js*"}}}); err != nil {
		t.Fatal(err)
	}
	// Every hx-ws.js request is held 800 ms, then let go.
	go func() {
		for ev, err := range chromedp.Events(p.ctx, fetch.RequestPaused) {
			if err != nil {
				return
			}
			go func() {
				select {
				case <-time.After(800 * time.Millisecond): // the slow network the test stands for
				case <-p.ctx.Done():
					return
				}
				_, _ = chromedp.Call(p.ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
			}()
		}
	}()
	p.signIn(inst.URL, "Ann", "general")
	p.waitJS(socketOpen)
	p.waitJS(connected)
}
