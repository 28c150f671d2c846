package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/chatrun/chat/testkit/chattest"
)

// acceptLanguage makes the tab ask for languages h, as a browser set to
// them does, on every request and WebSocket handshake.
func (p *tab) acceptLanguage(h, locale string) {
	p.t.Helper()
	ua := evalJS[string](p, `navigator.userAgent`)
	if _, err := chromedp.Call(p.ctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: h}); err != nil {
		p.t.Fatal(err)
	}
	p.zone("Asia/Taipei", locale)
}

// chineseText is a JavaScript test that a text is Chinese: it has Han
// characters and no English word (names excepted, given as a regexp).
func chineseText(expr, names string) string {
	return fmt.Sprintf(`((s) => /\p{Script=Han}/u.test(s) && !/[A-Za-z]{3,}/.test(s.replace(%s, '')))(%s)`, names, expr)
}

// The chat in Traditional Chinese, in Chromium set to zh-TW: the page
// says it is Chinese, the times say 今天, the status line, the typing
// line and the outbox's states are Chinese, a long Chinese message wraps
// at 360 px, axe finds nothing in either language or theme, and the
// switch (with JavaScript) turns the page to English.
func TestBrowserTraditionalChinese(t *testing.T) {
	axe := axeSource(t)
	inst := startInstance(t, sharedEnv(""))
	browser := newBrowser(t)
	room := "general" // the instance is the test's own
	proxy := newNetProxy(t, inst.URL, 0)

	p := newTab(t, browser)
	p.acceptLanguage("zh-TW,zh,en", "zh-TW")
	p.do(chromedp.EmulateViewport(360, 740))
	p.signIn(proxy.URL(), "小明", room)
	p.waitJS(socketOpen)
	if lang := evalJS[string](p, `document.documentElement.lang`); lang != "zh-Hant-TW" {
		t.Fatalf("<html lang=%q>, want zh-Hant-TW", lang)
	}
	p.waitJS(chineseText(`document.querySelector('#connection').textContent`, `/x/g`))

	// A conversation in Chinese, with a word of English: messages are
	// shown as written.
	_, bob := chattest.JoinAs(t, inst.URL, "Bob", room)
	bob.Send("早安！今天下午還要部署嗎？ Morning!", "b1")
	p.waitIDs("msg-1")
	if got := evalJS[string](p, `document.querySelector('#msg-1 .text').textContent`); got != "早安！今天下午還要部署嗎？ Morning!" {
		t.Fatalf("Bob's message reads %q", got)
	}
	p.do(chromedp.Focus(chromedp.CSS("#text")), chromedp.KeyEvent("要，午餐後。新的執行個體不到一秒就能接手。\r"))
	p.waitIDs("msg-1", "msg-2")
	bob.Send("@小明 好，我會盯著日誌。", "b2")
	p.waitIDs("msg-1", "msg-2", "msg-3")
	// Times through Intl in the page's language: today's messages say 今天.
	p.waitJS(`document.querySelector('#msg-1').dataset.day === '今天'`)

	// Screenshots of both languages (docs/screenshots keeps them when
	// CHAT_SCREENSHOTS_DIR points there).
	dir := os.Getenv("CHAT_SCREENSHOTS_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	shoot := func(p *tab, name string) {
		t.Helper()
		png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p.do(chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	shoot(p, "conversation-phone-light-zh-TW.png")

	// Chinese wraps inside the 360 px screen: nothing scrolls sideways.
	long := strings.Repeat("這是一則很長的中文訊息，沒有任何空格也要正確換行。", 12)
	bob.Send(long, "b3")
	p.waitIDs("msg-1", "msg-2", "msg-3", "msg-4")
	if w := evalJS[[]int](p, `[document.documentElement.scrollWidth, window.innerWidth, document.querySelector('#msg-4 .text').scrollWidth, document.querySelector('#msg-4 .text').clientWidth]`); w[0] > w[1] || w[2] > w[3] {
		t.Fatalf("a long Chinese message overflows at 360 px: page %d of %d px, message %d of %d px", w[0], w[1], w[2], w[3])
	}
	if lines := evalJS[int](p, `Math.round(document.querySelector('#msg-4 .text').getBoundingClientRect().height / parseFloat(getComputedStyle(document.querySelector('#msg-4 .text')).lineHeight))`); lines < 5 {
		t.Fatalf("a long Chinese message takes %d lines at 360 px: it does not wrap", lines)
	}

	// Bob is typing: the typing line is Chinese, with his name.
	bob.SendRaw([]byte(`{"typing":true}`))
	p.waitJS(chineseText(`document.querySelector('#typing').textContent`, `/Bob/g`) + ` && document.querySelector('#typing').textContent.includes('Bob')`)

	// The network drops: the status line and the outbox say so in Chinese.
	proxy.cut()
	p.waitJS(`document.querySelector('#connection').dataset.state !== 'connected'`)
	p.waitJS(chineseText(`document.querySelector('#connection').textContent`, `/x/g`))
	p.do(chromedp.Focus(chromedp.CSS("#text")), chromedp.KeyEvent("離線時寫的\r"))
	p.waitJS(`document.querySelector('#outbox li')`)
	p.waitJS(chineseText(`document.querySelector('#outbox li').innerText.replace('離線時寫的', '')`, `/x/g`))
	proxy.restore()
	p.retryNow()
	p.waitJS(`document.querySelectorAll('#messages > li').length === 5 && document.querySelector('#outbox').children.length === 0`)

	// axe in both languages and both themes, on the room and the sign-in
	// page.
	for _, scheme := range []string{"light", "dark"} {
		p.theme(scheme)
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("room in Chinese, %s: %q", scheme, v)
		}
		s := newTab(t, browser)
		s.acceptLanguage("zh-TW", "zh-TW")
		s.theme(scheme)
		s.do(chromedp.EmulateViewport(360, 740), chromedp.Navigate(inst.URL+"/?room="+room))
		if lang := evalJS[string](s, `document.documentElement.lang`); lang != "zh-Hant-TW" {
			t.Fatalf("sign-in page <html lang=%q>, want zh-Hant-TW", lang)
		}
		if v := s.axeViolations(axe); len(v) > 0 {
			t.Errorf("sign-in page in Chinese, %s: %q", scheme, v)
		}
		if scheme == "light" {
			shoot(s, "signin-phone-light-zh-TW.png")
		}
	}

	// The switch, with JavaScript: English, on the same room, connected.
	p.theme("light")
	p.do(chromedp.Click(chromedp.CSS(`#lang-switch button[value="en"]`)))
	p.waitJS(`document.documentElement.lang === 'en'`)
	p.waitJS(connected)
	p.waitJS(`document.querySelector('#msg-1').dataset.day === 'Today'`)
	if got := evalJS[string](p, `location.pathname`); got != "/rooms/"+room {
		t.Fatalf("the switch brought the reader to %s, want the room", got)
	}
	for _, scheme := range []string{"light", "dark"} {
		p.theme(scheme)
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("room in English after the switch, %s: %q", scheme, v)
		}
	}
}
