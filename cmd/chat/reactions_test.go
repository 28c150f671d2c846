package main

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// The sentences of a refused reaction or reply (handlers/validate.go and
// handlers/reactions.go).
const (
	invalidEmojiSentence = "A reaction is one emoji, such as 👍: not text, not several emoji."
	tooManySentence      = "You have given this message 20 different reactions: take one back first."
	noOriginalSentence   = "The message you are replying to was deleted, or it is no longer kept. Cancel the reply to send your message."
	noReactionSentence   = "That message cannot take reactions: it was deleted, or it is no longer kept."
)

// refusedEmoji are reactions that are not one emoji: text, two emoji,
// markup, and a zero-width joiner alone.
var refusedEmoji = []string{"ok", "👍👍", "<b>", "\u200d"}

// distinctEmoji are 21 different emoji: one past what one person may give
// one message.
var distinctEmoji = []string{
	"👍", "❤️", "😂", "🎉", "😮", "🙏", "😀", "😎", "🔥", "🚀",
	"👀", "💯", "✅", "🌟", "🍕", "🐱", "🐶", "🌈", "⚽", "🎵", "🍩",
}

// reactJSON is the frame the page sends to toggle emoji under message seq.
func reactJSON(seq, emoji, nonce string) []byte {
	b, _ := json.Marshal(map[string]any{"react": seq, "emoji": emoji, "nonce": nonce})
	return b
}

// replyJSON is the frame of a message that answers message replyTo.
func replyJSON(text, nonce, replyTo string) []byte {
	b, _ := json.Marshal(map[string]any{"text": text, "nonce": nonce, "reply_to": replyTo, "headers": map[string]string{"HX-Request": "true"}})
	return b
}

// messageItem is message seq's item in a page or frame: from its <li> to
// the next message's, or the end of the list; "" when it is not there.
func messageItem(page string, seq int) string {
	start := strings.Index(page, `<li id="msg-`+strconv.Itoa(seq)+`"`)
	if start < 0 {
		return ""
	}
	rest := page[start:]
	end := len(rest)
	for _, stop := range []string{`<li id="msg-`, `</ol>`} {
		if i := strings.Index(rest[1:], stop); i >= 0 && i+1 < end {
			end = i + 1
		}
	}
	return rest[:end]
}

var reactionButton = regexp.MustCompile(`(?s)<button[^>]*class="reaction"[^>]*data-emoji="([^"]*)"[^>]*aria-pressed="(true|false)"[^>]*>.*?<span class="count">(\d+)</span></button>`)

// reactionsShown is what a page shows under message seq, as
// reactions_browser_test's reactionsJS says it: "emoji count pressed" of
// each reaction, joined by "|"; "" for none.
func reactionsShown(page string, seq int) string {
	var out []string
	for _, m := range reactionButton.FindAllStringSubmatch(messageItem(page, seq), -1) {
		out = append(out, html.UnescapeString(m[1])+" "+m[3]+" "+m[2])
	}
	return strings.Join(out, "|")
}

// quoteIn is the reply quote in s (a message item, or a quote signal):
// from <blockquote class="reply" to its end; "" when there is none.
func quoteIn(s string) string {
	start := strings.Index(s, `<blockquote class="reply"`)
	if start < 0 {
		return ""
	}
	end := strings.Index(s[start:], `</blockquote>`)
	if end < 0 {
		return s[start:]
	}
	return s[start : start+end+len(`</blockquote>`)]
}

// reactionsEnvs runs body on the in-memory broker and on Redis, with a
// send limit that 21 reactions in a row do not reach.
func reactionsEnvs(t *testing.T, body func(t *testing.T, env map[string]string)) {
	fast := func(env map[string]string) map[string]string {
		env["SEND_RATE"], env["SEND_BURST"] = "1000", "1000"
		return env
	}
	t.Run("memory", func(t *testing.T) { body(t, fast(sharedEnv(""))) })
	t.Run("redis", func(t *testing.T) { body(t, fast(sharedEnv(redistest.Addr(t)))) })
}

// Done item 2 of issue 29: a reaction that is not one emoji is refused
// with a clear sentence, over the socket and through the form, and
// nothing is stored or sent to anyone; one person gives at most 20
// different reactions to one message.
func TestReactionsRefusedClearly(t *testing.T) {
	reactionsEnvs(t, testReactionsRefusedClearly)
}

func testReactionsRefusedClearly(t *testing.T, env map[string]string) {
	inst := startInstance(t, env)
	room := testkit.Room()
	ann, annWS := chattest.JoinAs(t, inst.URL, "Ann", room)
	bob, bobWS := chattest.JoinAs(t, inst.URL, "Bob", room)
	annWS.Send("react to me", "m1")
	annWS.UntilAll(`id="msg-1"`, `data-nonce="m1" data-outcome="sent"`)
	bobWS.Until(`id="msg-1"`)
	roomPath := "/rooms/" + room
	reactPath := roomPath + "/messages/1/reactions"

	// Over the socket: refused, with the sentence, each under its nonce.
	for i, e := range refusedEmoji {
		nonce := fmt.Sprint("bad-", i)
		annWS.SendRaw(reactJSON("1", e, nonce))
		f := annWS.Until(`data-nonce="` + nonce + `"`)
		if !strings.Contains(f, `data-signal="reply"`) || !strings.Contains(f, `data-outcome="refused"`) || !strings.Contains(f, ">"+html.EscapeString(invalidEmojiSentence)+"</p>") {
			t.Errorf("the reaction %q over the socket: %s", e, f)
		}
	}
	// Through the form: 422, the sentence, the emoji kept in its box.
	for i, e := range refusedEmoji {
		resp := ann.PostForm(reactPath, url.Values{"emoji": {e}, "nonce": {fmt.Sprint("form-", i)}})
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, html.EscapeString(invalidEmojiSentence)) {
			t.Errorf("the reaction %q by form: %d\n%s", e, resp.StatusCode, body)
		}
		if !strings.Contains(body, `value="`+html.EscapeString(e)+`"`) {
			t.Errorf("the reaction page does not keep %q in its box", e)
		}
	}
	// Nothing stored: no reactions on any page; nothing sent: Bob's socket
	// gets no change of msg-1 before his sentinel.
	for _, u := range []*chattest.User{ann, bob} {
		resp, page := u.Get(roomPath)
		if item := messageItem(page, 1); resp.StatusCode != http.StatusOK || item == "" || strings.Contains(item, `class="reactions"`) {
			t.Errorf("the room page after refused reactions: %d\n%s", resp.StatusCode, item)
		}
	}
	bobWS.Send("sentinel", "s1")
	for {
		f := bobWS.Next()
		if strings.Contains(f, "target:#msg-1") || strings.Contains(f, `class="reactions"`) {
			t.Fatalf("a refused reaction reached Bob: %s", f)
		}
		if strings.Contains(f, `id="msg-2"`) {
			break
		}
	}

	// 20 different reactions from Ann are taken; the 21st is refused.
	for i, e := range distinctEmoji[:20] {
		nonce := fmt.Sprint("ok-", i)
		annWS.SendRaw(reactJSON("1", e, nonce))
		if f := annWS.Until(`data-nonce="` + nonce + `"`); !strings.Contains(f, `data-outcome="sent"`) {
			t.Fatalf("reaction %d (%s): %s", i+1, e, f)
		}
	}
	last := distinctEmoji[20]
	annWS.SendRaw(reactJSON("1", last, "ok-20"))
	if f := annWS.Until(`data-nonce="ok-20"`); !strings.Contains(f, `data-outcome="refused"`) || !strings.Contains(f, ">"+html.EscapeString(tooManySentence)+"</p>") {
		t.Errorf("the 21st reaction over the socket: %s", f)
	}
	resp := ann.PostForm(reactPath, url.Values{"emoji": {last}, "nonce": {"form-21"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, html.EscapeString(tooManySentence)) {
		t.Errorf("the 21st reaction by form: %d\n%s", resp.StatusCode, body)
	}
	var want []string
	for _, e := range distinctEmoji[:20] {
		want = append(want, e+" 1 true")
	}
	_, page := ann.Get(roomPath)
	if got := reactionsShown(page, 1); got != strings.Join(want, "|") {
		t.Errorf("Ann's page shows %q under the message, want her 20 reactions %q", got, strings.Join(want, "|"))
	}
	// The limit is each person's: Bob may give the 21st.
	bobWS.SendRaw(reactJSON("1", last, "bob-1"))
	if f := bobWS.Until(`data-nonce="bob-1"`); !strings.Contains(f, `data-outcome="sent"`) {
		t.Errorf("Bob's reaction past Ann's 20: %s", f)
	}
	_, page = ann.Get(roomPath)
	if got := reactionsShown(page, 1); got != strings.Join(append(want, last+" 1 false"), "|") {
		t.Errorf("Ann's page after Bob's reaction: %q", got)
	}
}

// Done item 4 of issue 29: without JavaScript, a reaction is a form post
// that toggles it, shown pressed for its giver only; a reply is a Reply
// link's page and its form, quoted on the room page; a reply to a deleted
// message is refused, its text kept; the reaction page offers the quick
// reactions.
func TestNoJSReactionAndReply(t *testing.T) {
	reactionsEnvs(t, testNoJSReactionAndReply)
}

func testNoJSReactionAndReply(t *testing.T, env map[string]string) {
	inst := startInstance(t, env)
	room := testkit.Room()
	roomPath := "/rooms/" + room
	ann := chattest.NewUser(t, inst.URL)
	ann.SignIn("Ann", room)
	bob := chattest.NewUser(t, inst.URL)
	bob.SignIn("Bob", room)
	post(t, ann, room, "lunch at noon?")
	reactPath := roomPath + "/messages/1/reactions"

	// The room page offers Reply and React on the message.
	_, page := bob.Get(roomPath)
	for _, want := range []string{
		`<a class="reply-link" href="/rooms/` + room + `?reply_to=1#text">Reply</a>`,
		`<a class="react-link" href="` + reactPath + `">React</a>`,
	} {
		if !strings.Contains(messageItem(page, 1), want) {
			t.Errorf("the message lacks %s:\n%s", want, messageItem(page, 1))
		}
	}

	// The reaction page: the quick reactions as buttons of its form.
	resp, body := bob.Get(reactPath)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<form id="quick-reactions" class="change" method="post" action="`+reactPath+`"`) || !strings.Contains(body, "lunch at noon?") || !strings.Contains(body, "Ann") {
		t.Fatalf("the reaction page: %d\n%s", resp.StatusCode, body)
	}
	for _, e := range []string{"👍", "❤️", "😂", "🎉", "😮", "🙏"} {
		if !strings.Contains(body, `<button type="submit" name="emoji" value="`+e+`"`) {
			t.Errorf("the reaction page lacks the quick reaction %s", e)
		}
	}

	// 👍 by form: 303 back to the room; pressed on Ann's page only.
	react := func(u *chattest.User, form url.Values) {
		t.Helper()
		resp := u.PostForm(reactPath, form)
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), roomPath) {
			t.Fatalf("reaction %v: %d to %q\n%s", form, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	shown := func(u *chattest.User, want string) {
		t.Helper()
		_, page := u.Get(roomPath)
		item := messageItem(page, 1)
		if got := reactionsShown(page, 1); got != want {
			t.Errorf("the page shows %q under the message, want %q:\n%s", got, want, item)
		}
		if hasList := strings.Contains(item, `<ul class="reactions"`); hasList != (want != "") {
			t.Errorf("the reactions list shown: %v, want %v", hasList, want != "")
		}
		if want != "" && !strings.Contains(item, `<form class="react-form" method="post" action="`+reactPath+`">`) {
			t.Errorf("the reactions are not the buttons of a form posting to %s:\n%s", reactPath, item)
		}
	}
	react(ann, url.Values{"emoji": {"👍"}, "nonce": {"r1"}})
	shown(ann, "👍 1 true")
	shown(bob, "👍 1 false")
	// The same form posted again (its nonce) counts once.
	react(ann, url.Values{"emoji": {"👍"}, "nonce": {"r1"}})
	shown(ann, "👍 1 true")
	// The button under the message (no nonce) takes it back.
	react(ann, url.Values{"emoji": {"👍"}})
	shown(ann, "")
	shown(bob, "")

	// Reply: the Reply link's page shows whom the box answers.
	resp, body = bob.Get(roomPath + "?reply_to=1")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the Reply link's page: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`<div id="replying" class="replying">`,
		`Replying to <strong dir="auto">Ann</strong>`,
		"lunch at noon?",
		`name="reply_to" value="1"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the Reply link's page lacks %s", want)
		}
	}
	resp = bob.PostForm(roomPath+"/messages", url.Values{"text": {"noon works"}, "nonce": {"b1"}, "reply_to": {"1"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the reply: %d\n%s", resp.StatusCode, body)
	}
	_, page = ann.Get(roomPath)
	q := quoteIn(messageItem(page, 2))
	for _, want := range []string{`<blockquote class="reply" data-seq="1">`, `href="#msg-1"`, `<span class="reply-name" dir="auto">Ann</span>`, `>lunch at noon?</span>`} {
		if !strings.Contains(q, want) {
			t.Errorf("the reply's quote lacks %s:\n%s", want, messageItem(page, 2))
		}
	}
	if !strings.Contains(messageItem(page, 2), "noon works") {
		t.Errorf("the reply's text is missing:\n%s", messageItem(page, 2))
	}
	if quoteIn(messageItem(page, 1)) != "" {
		t.Error("the original shows a quote")
	}

	// A reply to a deleted message is refused; its text stays in the box.
	post(t, ann, room, "soon gone")
	resp = ann.PostForm(roomPath+"/messages/3/delete", url.Values{"nonce": {"d1"}})
	if readBody(t, resp); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("deleting message 3: %d", resp.StatusCode)
	}
	resp = bob.PostForm(roomPath+"/messages", url.Values{"text": {"too late now"}, "nonce": {"b2"}, "reply_to": {"3"}})
	body = readBody(t, resp)
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, html.EscapeString(noOriginalSentence)) || !strings.Contains(body, ">too late now</textarea>") {
		t.Errorf("a reply to a deleted message: %d\n%s", resp.StatusCode, body)
	}
	_, page = bob.Get(roomPath)
	if ids := strings.Join(idsIn(page), ","); ids != "1,2,3" || strings.Contains(page, "too late now") {
		t.Errorf("after the refused reply the room shows %s", ids)
	}
	// Its Reply link, followed late, says so; a made-up one is not found.
	if resp, body := bob.Get(roomPath + "?reply_to=3"); resp.StatusCode != http.StatusOK || !strings.Contains(body, html.EscapeString(noOriginalSentence)) || !strings.Contains(body, `name="reply_to" value=""`) {
		t.Errorf("the Reply link of a deleted message: %d", resp.StatusCode)
	}
	if resp, _ := bob.Get(roomPath + "?reply_to=x"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("?reply_to=x: %d, want 404", resp.StatusCode)
	}
	// A deleted message takes no reactions.
	if resp, body := bob.Get(roomPath + "/messages/3/reactions"); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, html.EscapeString(noReactionSentence)) {
		t.Errorf("the reaction page of a deleted message: %d", resp.StatusCode)
	}
	resp = bob.PostForm(roomPath+"/messages/3/reactions", url.Values{"emoji": {"👍"}, "nonce": {"b3"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, html.EscapeString(noReactionSentence)) {
		t.Errorf("a reaction to a deleted message: %d", resp.StatusCode)
	}
}

// A reply's quote follows its original: every socket, on either instance,
// gets the changed original and the quote signal with the new quote, and a
// reloaded page quotes the edit, then "Message deleted.", and keeps no
// trace of the old texts (nor does Redis).
func TestReplyQuoteFollowsTheOriginal(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		inst := startInstance(t, sharedEnv(""))
		testReplyQuoteFollowsTheOriginal(t, inst.URL, inst.URL, nil)
	})
	t.Run("redis", func(t *testing.T) {
		addr := redistest.Addr(t)
		env := sharedEnv(addr)
		a, b := startInstance(t, env), startInstance(t, env)
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { rdb.Close() })
		testReplyQuoteFollowsTheOriginal(t, a.URL, b.URL, rdb)
	})
}

func testReplyQuoteFollowsTheOriginal(t *testing.T, a, b string, rdb *redis.Client) {
	const (
		original = "the original words"
		edited   = "the edited words"
		reply    = "my answer to it"
	)
	room := testkit.Room()
	roomPath := "/rooms/" + room
	ann, annWS := chattest.JoinAs(t, a, "Ann", room)
	bob, bobWS := chattest.JoinAs(t, b, "Bob", room)
	_, carolWS := chattest.JoinAs(t, a, "Carol", room)
	sockets := map[string]*chattest.Socket{"Ann": annWS, "Bob": bobWS, "Carol": carolWS}

	annWS.Send(original, "a1")
	for _, s := range sockets {
		s.Until(`id="msg-1"`)
	}
	bobWS.SendRaw(replyJSON(reply, "b1", "1"))
	for name, s := range sockets {
		wants := []string{`id="msg-2"`}
		if name == "Bob" {
			wants = append(wants, `data-nonce="b1" data-outcome="sent" data-seq="2"`)
		}
		q := quoteIn(messageItem(s.UntilAll(wants...)[`id="msg-2"`], 2))
		if !strings.Contains(q, `data-seq="1"`) || !strings.Contains(q, ">Ann</span>") || !strings.Contains(q, ">"+original+"</span>") || !strings.Contains(q, `href="#msg-1"`) {
			t.Errorf("%s's reply frame quotes: %s", name, q)
		}
	}

	// Each page gets the original changed, and the quote signal.
	changed := func(nonce, wantQuote, gone string) {
		t.Helper()
		for name, s := range sockets {
			wants := []string{`data-signal="quote"`}
			if name == "Ann" {
				wants = append(wants, `data-nonce="`+nonce+`" data-outcome="sent" data-seq="1"`)
			}
			f := s.UntilAll(wants...)[`data-signal="quote"`]
			signal := f[strings.Index(f, `data-signal="quote"`):]
			q := quoteIn(signal)
			if !strings.Contains(f, "target:#msg-1") || !strings.HasPrefix(signal, `data-signal="quote" data-seq="1"`) || !strings.Contains(q, ">"+wantQuote+"</span>") || strings.Contains(f, gone) {
				t.Errorf("%s's frame after %s: %s", name, nonce, f)
			}
		}
	}
	pagesQuote := func(want string, gone ...string) {
		t.Helper()
		for _, u := range []*chattest.User{ann, bob, ann.On(b), bob.On(a)} {
			resp, page := u.Get(roomPath)
			item := messageItem(page, 2)
			q := quoteIn(item)
			if resp.StatusCode != http.StatusOK || !strings.Contains(q, `<blockquote class="reply" data-seq="1">`) || !strings.Contains(q, ">"+want+"</span>") || !strings.Contains(item, reply) {
				t.Errorf("the page on %s quotes: %d %s", u.Base, resp.StatusCode, item)
			}
			for _, g := range gone {
				if strings.Contains(page, g) {
					t.Errorf("the page on %s still holds %q", u.Base, g)
				}
			}
		}
	}
	annWS.SendRaw([]byte(`{"edit":"1","text":"` + edited + `","nonce":"a2"}`))
	changed("a2", edited, original)
	pagesQuote(edited, original)

	annWS.SendRaw([]byte(`{"delete":"1","nonce":"a3"}`))
	changed("a3", "Message deleted.", edited)
	pagesQuote("Message deleted.", original, edited)

	// A newcomer's history quotes it deleted; a reply to it is refused.
	dee := chattest.NewUser(t, b)
	dee.SignIn("Dee", room)
	history := dee.Dial(room).Next()
	if q := quoteIn(messageItem(history, 2)); !strings.Contains(q, ">Message deleted.</span>") || strings.Contains(history, original) || strings.Contains(history, edited) {
		t.Errorf("a newcomer's history quotes: %s", q)
	}
	bobWS.SendRaw(replyJSON("another answer", "b2", "1"))
	if f := bobWS.Until(`data-nonce="b2"`); !strings.Contains(f, `data-outcome="refused"`) || !strings.Contains(f, html.EscapeString(noOriginalSentence)) {
		t.Errorf("a reply to the deleted message over the socket: %s", f)
	}
	if rdb != nil {
		if k := redisHolding(t, rdb, room, original, edited); k != "" {
			t.Errorf("Redis still holds the original's text in %s", k)
		}
	}
}
