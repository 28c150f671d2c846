package main

import (
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/chatrun/chat/testkit/chattest"
)

// Every page and every state of the room in Chinese leaves no English
// word on screen or in accessible names, titles and placeholders: the
// names and texts people wrote, the switch's "English", key names and
// time zones aside.
func TestBrowserChineseLeavesNoEnglish(t *testing.T) {
	env := sharedEnv("")
	env["ROOM_DIRECTORY"] = "on"
	inst := startInstance(t, env)
	p := newTab(t, newBrowser(t))
	p.acceptLanguage("zh-TW,zh,en", "zh-TW")
	p.signIn(inst.URL, "小明", "general")
	p.waitJS(socketOpen)
	_, bob := chattest.JoinAs(t, inst.URL, "Bob", "general")
	bob.Send("hello there", "b1")
	p.waitIDs("msg-1")
	p.do(chromedp.Focus(chromedp.CSS("#text")), chromedp.KeyEvent("mine\r"))
	p.waitIDs("msg-1", "msg-2")
	bob.SendRaw([]byte(`{"typing":true}`))
	p.waitJS(`document.querySelector('#typing').textContent.includes('Bob')`)
	// Lines and attributes with a word of three Latin letters or more.
	const audit = `(() => { const out = []; const walk = (n) => { for (const e of n.querySelectorAll('*')) { for (const a of ['aria-label','title','placeholder','alt','data-full','aria-description']) { const v = e.getAttribute(a); if (v && /[A-Za-z]{3,}/.test(v.replace(/Bob|general|Enter|Shift|Esc|UTC|GMT/g,''))) out.push(e.tagName + '[' + a + ']=' + v); } } }; walk(document); const txt = document.body.innerText.split('\n').filter(l => /[A-Za-z]{3,}/.test(l.replace(/Bob|general|hello there|mine|English|Enter|Shift|Esc|UTC/g,''))); return out.concat(txt).join('\n'); })()`
	check := func(where string) {
		t.Helper()
		if left := evalJS[string](p, audit); left != "" {
			t.Errorf("%s in Chinese still says in English:\n%s", where, left)
		}
	}
	check("room")
	p.do(chromedp.Click(chromedp.CSS("#msg-1 a.react-link")))
	p.waitJS(`document.querySelector('.picker')`)
	check("picker")
	p.do(chromedp.Click(chromedp.CSS("#msg-1 a.reply-link")))
	check("reply")
	p.do(chromedp.Click(chromedp.CSS("#msg-2 a.edit")))
	check("edit inline")
	p.do(chromedp.KeyEvent("\x1b"))
	p.do(chromedp.Click(chromedp.CSS("#msg-2 a.delete")))
	check("delete inline")
	p.do(chromedp.Navigate(inst.URL + "/"))
	check("signin")
	p.do(chromedp.Navigate(inst.URL + "/rooms/general/messages/2/edit"))
	check("edit")
	p.do(chromedp.Navigate(inst.URL + "/rooms/general/messages/2/delete"))
	check("delete")
	p.do(chromedp.Navigate(inst.URL + "/rooms/general/messages/1/reactions"))
	check("react")
	p.do(chromedp.Navigate(inst.URL + "/rooms"))
	check("rooms")
	p.do(chromedp.Navigate(inst.URL + "/nope"))
	check("404")
	// The same check finds the English of an English page.
	p.do(chromedp.Navigate(inst.URL+"/"), chromedp.Click(chromedp.CSS(`#lang-switch button[value="en"]`)))
	p.waitJS(`document.documentElement.lang === 'en'`)
	if evalJS[string](p, audit) == "" {
		t.Error("the check finds no English on the English sign-in page")
	}
}
