package main

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// zh is the Chinese catalog, for the sentences tests expect.
func zh(id string, args ...any) string {
	return i18n.Default().Printer(i18n.TraditionalChinese).T(id, args...)
}

// en is the English catalog.
func en(id string, args ...any) string {
	return i18n.Default().Printer(i18n.English).T(id, args...)
}

// The sign-in page speaks the reader's language: Accept-Language picks
// it, and the switch (a form, no JavaScript) overrides it either way and
// is remembered.
func TestLanguageFromAcceptLanguageAndSwitch(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	get := func(u *chattest.User) string {
		t.Helper()
		resp, page := u.Get("/")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /: %d", resp.StatusCode)
		}
		return page
	}
	chinese := func(page string) bool {
		return strings.Contains(page, `<html lang="zh-Hant-TW">`) && strings.Contains(page, ">"+zh("signin.enter")+"<")
	}
	english := func(page string) bool {
		return strings.Contains(page, `<html lang="en">`) && strings.Contains(page, ">"+en("signin.enter")+"<")
	}

	xiaoming := chattest.NewUser(t, inst.URL)
	xiaoming.SetHeader("Accept-Language", "zh-TW,zh;q=0.9")
	if page := get(xiaoming); !chinese(page) {
		t.Fatalf("Accept-Language zh-TW: the sign-in page is not in Chinese:\n%s", page)
	}
	ann := chattest.NewUser(t, inst.URL)
	ann.SetHeader("Accept-Language", "en-US")
	if page := get(ann); !english(page) {
		t.Fatalf("Accept-Language en-US: the sign-in page is not in English:\n%s", page)
	}
	if zh("signin.enter") == en("signin.enter") {
		t.Fatal("the sign-in button says the same in both languages")
	}

	// The switch overrides Accept-Language, both ways, and brings the
	// reader back to the page it was on.
	for _, c := range []struct {
		u    *chattest.User
		lang string
		want func(string) bool
	}{{xiaoming, "en", english}, {ann, "zh-TW", chinese}} {
		resp := c.u.PostForm("/lang", url.Values{"lang": {c.lang}, "back": {"/?room=lobby"}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?room=lobby" {
			t.Fatalf("POST /lang: %d to %q, want 303 to /?room=lobby", resp.StatusCode, resp.Header.Get("Location"))
		}
		if page := get(c.u); !c.want(page) {
			t.Fatalf("after switching to %s the page is in the other language:\n%s", c.lang, page)
		}
	}
	// Nothing sends the reader off the site, and a language the chat does
	// not speak is refused.
	resp := ann.PostForm("/lang", url.Values{"lang": {"en"}, "back": {"//evil.example/"}})
	resp.Body.Close()
	if resp.Header.Get("Location") != "/" {
		t.Fatalf("back to another site: sent to %q, want /", resp.Header.Get("Location"))
	}
	resp = ann.PostForm("/lang", url.Values{"lang": {"fr"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("POST /lang lang=fr: %d, want 400", resp.StatusCode)
	}
}

// One room read in two languages, on two instances: 小明 (Chinese) and
// Ann (English) each get a third person's entering in their own language
// in the same pushed event, and the message itself as written.
func TestNoticesInEachReadersLanguage(t *testing.T) {
	env := sharedEnv(redistest.Addr(t))
	a, b := startInstance(t, env), startInstance(t, env)
	room := testkit.Room()

	xiaoming := chattest.NewUser(t, a.URL)
	xiaoming.SetHeader("Accept-Language", "zh-TW,zh;q=0.9")
	xiaoming.SignIn("小明", room)
	ann := chattest.NewUser(t, b.URL)
	ann.SetHeader("Accept-Language", "en-US,en;q=0.9")
	ann.SignIn("Ann", room)
	xmWS, annWS := xiaoming.Dial(room), ann.Dial(room)
	xmWS.Until(`id="messages"`)
	annWS.Until(`id="messages"`)

	// Carol enters on a third path: her first socket is on b.
	_, carolWS := chattest.JoinAs(t, b.URL, "Carol", room)
	zhNotice, enNotice := zh("notice.entered", "Name", "Carol"), en("notice.entered", "Name", "Carol")
	if zhNotice == enNotice || !strings.Contains(zhNotice, "進入") {
		t.Fatalf("the Chinese notice is %q", zhNotice)
	}
	if f := xmWS.Until("Carol"); !strings.Contains(f, zhNotice) || strings.Contains(f, enNotice) {
		t.Fatalf("小明 got Carol's entering as:\n%s\nwant %q", f, zhNotice)
	}
	if f := annWS.Until("Carol"); !strings.Contains(f, enNotice) || strings.Contains(f, zhNotice) {
		t.Fatalf("Ann got Carol's entering as:\n%s\nwant %q", f, enNotice)
	}

	// A message is shown as written, to both, with the page's words
	// around it in each reader's language.
	carolWS.Send("你好 hello", "c1")
	xmMsg, annMsg := xmWS.Until(`id="msg-1"`), annWS.Until(`id="msg-1"`)
	for _, f := range []string{xmMsg, annMsg} {
		if !strings.Contains(f, "你好 hello") {
			t.Fatalf("message frame without the text as written:\n%s", f)
		}
	}
	if xmMsg == annMsg {
		t.Fatal("小明 and Ann got the same bytes for the message: its buttons are in one language")
	}
	// Its full date, for hover and screen readers, is in each reader's.
	at, err := time.Parse(time.RFC3339, regexp.MustCompile(`datetime="([^"]+)"`).FindStringSubmatch(annMsg)[1])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(xmMsg, `data-full="`+at.Format("2006年1月2日")) || !strings.Contains(annMsg, `data-full="`+at.Format("Monday 2 January 2006")) {
		t.Fatalf("the message's date is not in each reader's language:\n%s\n%s", xmMsg, annMsg)
	}
}
