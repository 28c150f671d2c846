package main

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/firestoretest"
	"github.com/chatrun/chat/testkit/redistest"
)

// The sentences of docs/SPEC.md for a refused change.
const (
	notYoursSentence  = "You can only change your own messages."
	noMessageSentence = "That message cannot be changed: it was deleted, or it is no longer in the room's recent history."
)

// withFirestore says whether the Firestore emulator is at hand (or
// required): then the changes tests keep the room in Firestore as well,
// and look for the old texts there too.
func withFirestore() bool {
	if os.Getenv("FIRESTORE_EMULATOR_HOST") != "" || slices.Contains(strings.Split(os.Getenv("CHAT_TEST_REQUIRE"), ","), "firestore") {
		return true
	}
	_, err := os.Stat(firestoretest.Script)
	return err == nil
}

// redisHolding returns the first of room's keys on rdb (one Redis) whose
// value holds one of texts, "" when none does.
func redisHolding(t *testing.T, rdb *redis.Client, room string, texts ...string) string {
	t.Helper()
	ctx := context.Background()
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, "chat:{"+room+"}:*", 100).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			var vals []string
			switch typ := rdb.Type(ctx, k).Val(); typ {
			case "string":
				vals = []string{rdb.Get(ctx, k).Val()}
			case "list":
				vals = rdb.LRange(ctx, k, 0, -1).Val()
			case "set":
				vals = rdb.SMembers(ctx, k).Val()
			case "zset":
				vals = rdb.ZRange(ctx, k, 0, -1).Val()
			case "hash":
				for f, v := range rdb.HGetAll(ctx, k).Val() {
					vals = append(vals, f, v)
				}
			case "stream":
				for _, e := range rdb.XRange(ctx, k, "-", "+").Val() {
					vals = append(vals, fmt.Sprint(e.Values))
				}
			}
			for _, v := range vals {
				for _, text := range texts {
					if strings.Contains(v, text) {
						return k
					}
				}
			}
		}
		if cursor = next; cursor == 0 {
			return ""
		}
	}
}

// firestoreDocs returns the room's message documents in Firestore, each
// as its fields printed.
func firestoreDocs(ctx context.Context, t *testing.T, fs *firestore.Client, room string) []string {
	docs, err := fs.Collection("rooms").Doc(room).Collection("messages").Documents(ctx).GetAll()
	if err != nil {
		return nil
	}
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = fmt.Sprint(d.Data())
	}
	return out
}

// The message texts of the two-instance test: both must be gone from
// every page and every store once changed.
const (
	typoText   = "typo in thsi one"
	fixedText  = "fixed: this one"
	secretText = "a secret I take back"
)

// Ann edits her last message with ↑ and Enter and deletes another, on one
// instance; Bob's page on the other instance shows the edit, "edited"
// with it, within a second, and "Message deleted." in place of the other
// with no trace of its text; a newcomer sees the same; and neither old
// text is left in Redis (nor, with the emulator, in Firestore).
func TestBrowserEditAndDeleteAcrossInstances(t *testing.T) {
	addr := redistest.Start(t).Addr // a Redis of its own: see firestoreEnv
	env := sharedEnv(addr)
	if withFirestore() {
		env = firestoreEnv(t, addr)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	a, b := startInstance(t, env), startInstance(t, env)
	browser := newBrowser(t)
	room := testkit.Room()

	ann, bob := newTab(t, browser), newTab(t, browser)
	ann.signIn(a.URL, "Ann", room)
	ann.waitJS(socketOpen)
	bob.signIn(b.URL, "Bob", room)
	bob.waitJS(socketOpen)
	ann.do(chromedp.Focus(chromedp.CSS("#text")), chromedp.KeyEvent(secretText), chromedp.KeyEvent(kb.Enter))
	ann.waitIDs("msg-1")
	ann.do(chromedp.KeyEvent(typoText), chromedp.KeyEvent(kb.Enter))
	ann.waitIDs("msg-1", "msg-2")
	bob.do(chromedp.Focus(chromedp.CSS("#text")), chromedp.KeyEvent("bob's own"), chromedp.KeyEvent(kb.Enter))
	for _, p := range []*tab{ann, bob} {
		p.waitIDs("msg-1", "msg-2", "msg-3")
	}
	// Controls on one's own messages only, on pushed messages too.
	ann.waitJS(`document.querySelector('#msg-2 > .actions a.edit') && !document.querySelector('#msg-3 .actions :is(a.edit, a.delete)')`)
	bob.waitJS(`document.querySelector('#msg-3 > .actions a.edit') && !document.querySelector('#msg-1 .actions :is(a.edit, a.delete)') && !document.querySelector('#msg-2 .actions :is(a.edit, a.delete)')`)

	// ↑ in the empty box edits Ann's last message: msg-2.
	ann.waitJS(`document.activeElement.id === 'text' && document.querySelector('#text').value === ''`)
	ann.do(chromedp.KeyEvent(kb.ArrowUp))
	ann.waitJS(`document.activeElement.id === 'edit-2' && document.activeElement.value === ` + jsString(typoText))
	// Replace the text: select it, then type over it.
	ann.do(chromedp.Evaluate[chromedp.Void](`document.activeElement.select()`), chromedp.KeyEvent(fixedText))
	start := time.Now()
	ann.do(chromedp.KeyEvent(kb.Enter))
	bob.waitJS(`document.querySelector('#msg-2 > .text').textContent === ` + jsString(fixedText) + ` && document.querySelector('#msg-2 > .edited').textContent === 'edited'`)
	waited := time.Since(start)
	t.Logf("Bob's page showed the edit %v after Ann's Enter", waited.Round(time.Millisecond))
	if waited > time.Second {
		t.Errorf("Bob waited %v for the edit, want within 1 s", waited)
	}
	// Ann's box is gone and her focus is back in the message box.
	ann.waitJS(`!document.querySelector('.edit-box') && document.activeElement.id === 'text' && document.querySelector('#text').value === '' && document.querySelector('#msg-2 > .text').textContent === ` + jsString(fixedText))
	if title := evalJS[string](bob, `document.querySelector('#msg-2 > .edited > time').title`); !strings.HasPrefix(title, "Edited ") {
		t.Errorf("the edited mark's time: title %q", title)
	}

	// Delete msg-1 with its Delete control, confirmed in place.
	ann.do(chromedp.Focus(chromedp.CSS(`#msg-1 a.delete`)), chromedp.KeyEvent(kb.Enter))
	ann.waitJS(`document.activeElement.matches('#msg-1 button[data-act="confirm-delete"]')`)
	ann.do(chromedp.KeyEvent(kb.Enter))
	for _, p := range []*tab{ann, bob} {
		p.waitJS(`document.querySelector('#msg-1').classList.contains('deleted') && document.querySelector('#msg-1 > .text').textContent === 'Message deleted.'`)
		p.waitIDs("msg-1", "msg-2", "msg-3")
		if h := evalJS[string](p, `document.documentElement.outerHTML`); strings.Contains(h, secretText) || strings.Contains(h, typoText) {
			t.Errorf("a page still holds an old text")
		}
		if evalJS[bool](p, `!!document.querySelector('#msg-1 .actions, #msg-1 a')`) {
			t.Error("a deleted message keeps controls")
		}
	}

	// Someone who joins now, on either instance, sees the same.
	cy := newTab(t, browser)
	cy.signIn(b.URL, "Cy", room)
	cy.waitJS(socketOpen)
	cy.waitIDs("msg-1", "msg-2", "msg-3")
	cy.waitJS(`document.querySelector('#msg-1.deleted') && document.querySelector('#msg-2 > .edited') && document.querySelector('#connection').textContent === 'Connected'`)
	if h := evalJS[string](cy, `document.documentElement.outerHTML`); strings.Contains(h, secretText) || strings.Contains(h, typoText) || !strings.Contains(h, fixedText) {
		t.Errorf("the newcomer's page: old text shown, or the new one missing")
	}
	dee := chattest.NewUser(t, a.URL)
	dee.SignIn("Dee", room)
	if history := dee.Dial(room).Next(); strings.Contains(history, secretText) || strings.Contains(history, typoText) || !strings.Contains(history, fixedText) || !strings.Contains(history, "Message deleted.") {
		t.Errorf("a newcomer's history frame: %s", history)
	}

	if k := redisHolding(t, rdb, room, secretText, typoText); k != "" {
		t.Errorf("Redis still holds an old text in %s", k)
	}
	if env["FIRESTORE_PROJECT"] != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		fs, err := firestore.NewClient(ctx, env["FIRESTORE_PROJECT"])
		if err != nil {
			t.Fatal(err)
		}
		defer fs.Close()
		// The archive is written a moment after each change.
		var docs []string
		testkit.WaitFor(t, ctx, "Firestore to hold the room's three messages as changed", func() bool {
			docs = firestoreDocs(ctx, t, fs, room)
			joined := strings.Join(docs, "\n")
			return len(docs) == 3 && strings.Contains(joined, fixedText) && !strings.Contains(joined, secretText) && !strings.Contains(joined, typoText)
		})
		t.Logf("Firestore holds: %q", docs)
	}
}

func jsString(s string) string { return fmt.Sprintf("%q", s) }

// Bob cannot change Ann's message: his edit and delete frames, and his
// no-JS pages and posts, are refused with the one sentence, on either
// instance, and nothing changes anywhere.
func TestChangesOfOthersAreRefused(t *testing.T) {
	env := sharedEnv(redistest.Addr(t))
	a, b := startInstance(t, env), startInstance(t, env)
	room := testkit.Room()
	ann, annWS := chattest.JoinAs(t, a.URL, "Ann", room)
	annWS.Send("ann's words", "a1")
	annWS.Until(`id="msg-1"`)

	for i, base := range []string{a.URL, b.URL} {
		bob, bobWS := chattest.JoinAs(t, base, []string{"Bob", "Bea"}[i], room)
		bobWS.SendRaw([]byte(`{"edit":"1","text":"bob's words","nonce":"b1"}`))
		if f := bobWS.Until(`data-nonce="b1"`); !strings.Contains(f, `data-outcome="refused"`) || !strings.Contains(f, notYoursSentence) {
			t.Errorf("Bob's edit frame on %s: %s", base, f)
		}
		bobWS.SendRaw([]byte(`{"delete":"1","nonce":"b2"}`))
		if f := bobWS.Until(`data-nonce="b2"`); !strings.Contains(f, `data-outcome="refused"`) || !strings.Contains(f, notYoursSentence) {
			t.Errorf("Bob's delete frame on %s: %s", base, f)
		}
		for _, path := range []string{"/edit", "/delete"} {
			resp, body := bob.Get("/rooms/" + room + "/messages/1" + path)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, notYoursSentence) {
				t.Errorf("Bob's GET %s on %s: %d", path, base, resp.StatusCode)
			}
		}
		for _, post := range []struct {
			path string
			form url.Values
		}{
			{"/rooms/" + room + "/messages/1", url.Values{"text": {"bob's words"}, "nonce": {"b3"}}},
			{"/rooms/" + room + "/messages/1/delete", url.Values{"nonce": {"b4"}}},
		} {
			resp := bob.PostForm(post.path, post.form)
			body := readBody(t, resp)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, notYoursSentence) {
				t.Errorf("Bob's POST %s on %s: %d", post.path, base, resp.StatusCode)
			}
		}
		// Bob's own page shows no controls on Ann's message.
		_, page := bob.Get("/rooms/" + room)
		if strings.Contains(page, "/messages/1/edit") || strings.Contains(page, "/messages/1/delete") {
			t.Errorf("Bob's page on %s offers to change Ann's message", base)
		}
	}
	// Nothing changed, on either instance: Ann's socket was sent no change
	// before her sentinel, and both pages show her words as they were.
	annWS.Send("sentinel", "a2")
	for {
		f := annWS.Next()
		if strings.Contains(f, "target:#msg-") {
			t.Fatalf("a change reached Ann: %s", f)
		}
		if strings.Contains(f, `id="msg-2"`) {
			break
		}
	}
	for _, base := range []string{a.URL, b.URL} {
		_, page := ann.On(base).Get("/rooms/" + room)
		if !strings.Contains(page, html.EscapeString("ann's words")) || strings.Contains(page, "bob&#39;s words") || strings.Contains(page, `class="edited"`) || strings.Contains(page, `class="deleted"`) {
			t.Errorf("the room on %s after Bob's attempts:\n%s", base, page)
		}
		if !strings.Contains(page, `href="/rooms/`+room+`/messages/1/edit"`) {
			t.Errorf("Ann's page on %s lacks the Edit link of her message", base)
		}
	}
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// Without JavaScript: the Edit link's page, its post, the delete page and
// its post, each answered as docs/SPEC.md says, with the rules of every
// POST (same origin only), the nonce guard and the message rules.
func TestEditAndDeleteWithoutJavaScript(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	room := testkit.Room()
	ann := chattest.NewUser(t, inst.URL)
	ann.SignIn("Ann", room)
	post(t, ann, room, "first draft")
	post(t, ann, room, "to go")
	base := "/rooms/" + room + "/messages/"

	// The room page links to both pages, for Ann's messages.
	_, page := ann.Get("/rooms/" + room)
	for _, want := range []string{`href="` + base + `1/edit"`, `href="` + base + `1/delete"`, `data-me="`, `data-author="`} {
		if !strings.Contains(page, want) {
			t.Errorf("the room page lacks %s", want)
		}
	}
	if strings.Contains(page, "data-moderator") {
		t.Error("the room page marks Ann a moderator")
	}

	resp, body := ann.Get(base + "1/edit")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<form id="edit" class="change" method="post" action="`+base+`1"`) || !strings.Contains(body, ">first draft</textarea>") || !strings.Contains(body, `name="nonce"`) {
		t.Fatalf("the edit page: %d\n%s", resp.StatusCode, body)
	}

	// Another origin's post: 403, nothing changed.
	req, _ := http.NewRequest(http.MethodPost, inst.URL+base+"1", strings.NewReader(url.Values{"text": {"forged"}, "nonce": {"x"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := ann.Do(req); err != nil || readBody(t, resp) == "" || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-origin edit: %v, %v", resp, err)
	}
	req, _ = http.NewRequest(http.MethodPost, inst.URL+base+"2/delete", strings.NewReader(url.Values{"nonce": {"y"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if resp, err := ann.Do(req); err != nil || readBody(t, resp) == "" || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a cross-origin delete: %v, %v", resp, err)
	}

	// Refused like a message: 422, the text kept, the sentence said.
	resp = ann.PostForm(base+"1", url.Values{"text": {"   "}, "nonce": {"e0"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Type a message first.") {
		t.Errorf("an empty edit: %d\n%s", resp.StatusCode, body)
	}
	long := strings.Repeat("z", 2001)
	resp = ann.PostForm(base+"1", url.Values{"text": {long}, "nonce": {"e0"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Messages are at most 2,000 characters.") || !strings.Contains(body, long) {
		t.Errorf("a long edit: %d", resp.StatusCode)
	}

	resp = ann.PostForm(base+"1", url.Values{"text": {"second draft"}, "nonce": {"e1"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/rooms/"+room {
		t.Fatalf("the edit: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// The same form again (its nonce): answered, not applied again.
	resp = ann.PostForm(base+"1", url.Values{"text": {"third draft"}, "nonce": {"e1"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the edit again: %d", resp.StatusCode)
	}
	_, page = ann.Get("/rooms/" + room)
	if !strings.Contains(page, "second draft") || strings.Contains(page, "first draft") || strings.Contains(page, "third draft") || !strings.Contains(page, `<span class="edited">`) {
		t.Errorf("the room after the edit:\n%s", page)
	}

	resp, body = ann.Get(base + "2/delete")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<form id="delete" class="change" method="post" action="`+base+`2/delete"`) || !strings.Contains(body, "to go") {
		t.Fatalf("the delete page: %d\n%s", resp.StatusCode, body)
	}
	resp = ann.PostForm(base+"2/delete", url.Values{"nonce": {"d1"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/rooms/"+room {
		t.Fatalf("the delete: %d", resp.StatusCode)
	}
	_, page = ann.Get("/rooms/" + room)
	if strings.Contains(page, "to go") || !strings.Contains(page, `class="deleted"`) || !strings.Contains(page, "Message deleted.") || strings.Contains(page, base+"2/edit") || strings.Contains(page, base+"2/delete") {
		t.Errorf("the room after the delete:\n%s", page)
	}
	// Gone: its pages and posts say so.
	for _, path := range []string{"2/edit", "2/delete", "9/edit", "x/edit"} {
		if resp, body := ann.Get(base + path); resp.StatusCode != http.StatusNotFound || (path != "x/edit" && !strings.Contains(body, html.EscapeString(noMessageSentence))) {
			t.Errorf("GET %s: %d", path, resp.StatusCode)
		}
	}
	resp = ann.PostForm(base+"2/delete", url.Values{"nonce": {"d2"}})
	if body := readBody(t, resp); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, html.EscapeString(noMessageSentence)) {
		t.Errorf("deleting it again: %d", resp.StatusCode)
	}
	// Without a session: to sign in.
	stranger := chattest.NewUser(t, inst.URL)
	if resp, _ := stranger.Get(base + "1/edit"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the edit page without a session: %d", resp.StatusCode)
	}
	resp = stranger.PostForm(base+"1", url.Values{"text": {"x"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/?room=") {
		t.Errorf("an edit without a session: %d", resp.StatusCode)
	}
}

// Changes made while the phone's network is cut wait on the page and are
// applied once when it is back; a change whose reply the cut lost is sent
// again under its nonce and applied once too. Every page shows them.
func TestBrowserChangesUnderCutNetwork(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	proxy := newNetProxy(t, inst.URL, 100*time.Millisecond)
	browser := newBrowser(t)
	room := testkit.Room()
	p := newTab(t, browser)
	p.signIn(proxy.URL(), "Ann", room)
	p.waitJS(socketOpen)
	p.waitJS(`document.querySelector('#connection').textContent === 'Connected'`)
	for _, text := range []string{"keep me", "delete me", "edit me"} {
		p.do(chromedp.Focus(chromedp.CSS("#text")), chromedp.KeyEvent(text), chromedp.KeyEvent(kb.Enter))
	}
	p.waitIDs("msg-1", "msg-2", "msg-3")
	_, bob := chattest.JoinAs(t, inst.URL, "Bob", room)
	changes := map[string]int{}
	count := func(until string) {
		for {
			f := bob.Next()
			for _, id := range []string{"msg-1", "msg-2", "msg-3"} {
				if strings.Contains(f, "target:#"+id+`"`) {
					changes[id]++
				}
			}
			if strings.Contains(f, until) {
				return
			}
		}
	}

	// Cut: Ann edits msg-3 with ↑ and deletes msg-2; both wait, saying so.
	proxy.cut()
	p.waitJS(`document.querySelector('#connection').textContent === 'Reconnecting…'`)
	p.do(chromedp.Focus(chromedp.CSS("#text")), chromedp.KeyEvent(kb.ArrowUp))
	p.waitJS(`document.activeElement.id === 'edit-3'`)
	p.do(chromedp.Evaluate[chromedp.Void](`document.activeElement.select()`), chromedp.KeyEvent("edited offline"), chromedp.KeyEvent(kb.Enter))
	p.waitJS(`document.querySelector('#msg-3 > .change-state')?.textContent.includes('when the connection is back')`)
	p.do(chromedp.Focus(chromedp.CSS(`#msg-2 a.delete`)), chromedp.KeyEvent(kb.Enter), chromedp.KeyEvent(kb.Enter))
	p.waitJS(`document.querySelector('#msg-2 > .change-state')?.textContent.includes('when the connection is back')`)

	proxy.restore()
	p.waitJS(`document.querySelector('#connection').textContent === 'Connected'`)
	p.waitJS(`document.querySelector('#msg-3 > .text').textContent === 'edited offline' && document.querySelector('#msg-3 > .edited') && document.querySelector('#msg-2.deleted')`)
	p.waitJS(`!document.querySelector('.change-state')`)
	bob.Send("sentinel 1", "b1")
	count(`id="msg-4"`)
	if changes["msg-2"] != 1 || changes["msg-3"] != 1 || changes["msg-1"] != 0 {
		t.Fatalf("changes Bob was sent while and after the cut: %v, want msg-2 and msg-3 once each", changes)
	}

	// The reply lost: the edit reaches the server, the cut drops its
	// answer (and the message, on its 100 ms way back); the page sends it
	// again after the reconnect, under its nonce, and it is applied once.
	p.waitIDs("msg-1", "msg-2", "msg-3", "msg-4")
	p.do(chromedp.Focus(chromedp.CSS(`#msg-1 a.edit`)), chromedp.KeyEvent(kb.Enter))
	p.waitJS(`document.activeElement.id === 'edit-1'`)
	p.do(chromedp.Evaluate[chromedp.Void](`document.activeElement.select()`), chromedp.KeyEvent("kept, edited"), chromedp.KeyEvent(kb.Enter))
	f := bob.Until(`target:#msg-1"`)
	proxy.cut()
	changes["msg-1"]++
	if !strings.Contains(f, "kept, edited") {
		t.Fatalf("the change Bob was sent: %s", f)
	}
	p.waitJS(`document.querySelector('#connection').textContent === 'Reconnecting…'`)
	lostReply := evalJS[bool](p, `!!document.querySelector('#msg-1 > .change-state')`)
	proxy.restore()
	p.waitJS(`document.querySelector('#connection').textContent === 'Connected'`)
	p.waitJS(`document.querySelector('#msg-1 > .text').textContent === 'kept, edited' && !document.querySelector('.change-state')`)
	bob.Send("sentinel 2", "b2")
	count(`id="msg-5"`)
	if changes["msg-1"] != 1 {
		t.Fatalf("msg-1 was changed %d times, want once", changes["msg-1"])
	}
	t.Logf("the reply to the edit was lost in the cut and sent again: %v", lostReply)
	// A page opened now shows the same.
	q := newTab(t, browser)
	q.signIn(inst.URL, "Cy", room)
	q.waitIDs("msg-1", "msg-2", "msg-3", "msg-4", "msg-5")
	q.waitJS(`document.querySelector('#msg-1 > .text').textContent === 'kept, edited' && document.querySelector('#msg-2.deleted') && document.querySelector('#msg-3 > .text').textContent === 'edited offline'`)
}

// axe-core finds nothing serious with a message's edit box open, with
// Delete asking to confirm, and with deleted and edited messages, in both
// themes; nor on the no-JS edit and delete pages.
func TestBrowserAccessibilityOfChanges(t *testing.T) {
	axe := axeSource(t)
	inst := startInstance(t, sharedEnv(""))
	browser := newBrowser(t)
	for _, scheme := range []string{"light", "dark"} {
		room := testkit.Room()
		p := newTab(t, browser)
		p.theme(scheme)
		p.signIn(inst.URL, "Ann", room)
		p.waitJS(socketOpen)
		for _, text := range []string{"one", "two", "three"} {
			p.do(chromedp.Focus(chromedp.CSS("#text")), chromedp.KeyEvent(text), chromedp.KeyEvent(kb.Enter))
		}
		p.waitIDs("msg-1", "msg-2", "msg-3")
		// Deleted and edited messages.
		p.do(chromedp.Focus(chromedp.CSS(`#msg-1 a.delete`)), chromedp.KeyEvent(kb.Enter), chromedp.KeyEvent(kb.Enter))
		p.waitJS(`document.querySelector('#msg-1.deleted')`)
		p.do(chromedp.Focus(chromedp.CSS(`#msg-2 a.edit`)), chromedp.KeyEvent(kb.Enter), chromedp.KeyEvent("!"), chromedp.KeyEvent(kb.Enter))
		p.waitJS(`document.querySelector('#msg-2 > .edited')`)
		// The edited mark's time is reached by focus, and shown then.
		p.do(chromedp.Focus(chromedp.CSS(`#msg-2 > .edited > time`)))
		if full := evalJS[string](p, `getComputedStyle(document.activeElement, '::after').content`); !strings.Contains(full, "·") {
			t.Errorf("%s: the focused edited mark shows no time: %s", scheme, full)
		}
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("deleted and edited messages, %s: %q", scheme, v)
		}
		// The edit box open (↑ from the empty box), then Escape back.
		p.do(chromedp.Focus(chromedp.CSS("#text")), chromedp.KeyEvent(kb.ArrowUp))
		p.waitJS(`document.activeElement.id === 'edit-3'`)
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("the edit box open, %s: %q", scheme, v)
		}
		p.do(chromedp.KeyEvent(kb.Escape))
		p.waitJS(`!document.querySelector('.edit-box') && document.activeElement.id === 'text'`)
		// Delete asking to confirm; Escape leaves it, focus on Delete.
		p.do(chromedp.Focus(chromedp.CSS(`#msg-3 a.delete`)), chromedp.KeyEvent(kb.Enter))
		p.waitJS(`document.activeElement.matches('#msg-3 button[data-act="confirm-delete"]')`)
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("Delete asking to confirm, %s: %q", scheme, v)
		}
		p.do(chromedp.KeyEvent(kb.Escape))
		p.waitJS(`document.activeElement.matches('#msg-3 a.delete') && !document.querySelector('#msg-3.deleted')`)
		// The no-JS pages.
		for _, path := range []string{"/messages/2/edit", "/messages/3/delete"} {
			p.do(chromedp.Navigate(inst.URL + "/rooms/" + room + path))
			p.waitJS(`document.querySelector('form.change')`)
			if v := p.axeViolations(axe); len(v) > 0 {
				t.Errorf("%s, %s: %q", path, scheme, v)
			}
		}
	}
}
