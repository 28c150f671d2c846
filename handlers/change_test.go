package handlers

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/testkit/chattest"
)

// An author handle is the same for one author under one secret, differs
// between authors and between secrets, and shows nothing of the session.
func TestAuthorHandles(t *testing.T) {
	h := AuthorHandles([]byte("secret one"))
	a, b := h("SESSIONAAAA"), h("SESSIONBBBB")
	if a != h("SESSIONAAAA") {
		t.Fatal("one author, two handles")
	}
	if a == b {
		t.Fatal("two authors, one handle")
	}
	if other := AuthorHandles([]byte("secret two"))("SESSIONAAAA"); other == a {
		t.Fatal("the handle does not depend on the secret")
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]{16}$`).MatchString(a) {
		t.Fatalf("handle %q: want 16 base64url characters", a)
	}
	if strings.Contains(a, "SESSION") {
		t.Fatalf("handle %q shows the session", a)
	}
	// Not the MAC a cookie would carry under the same secret.
	if strings.HasPrefix(macKey("secret one").sign("SESSIONAAAA"), a) {
		t.Fatal("the handle is the session key's MAC: it needs a key of its own")
	}
	if h("") != "" {
		t.Fatal("a message without an author got a handle")
	}
}

func TestDecodeChange(t *testing.T) {
	for _, c := range []struct {
		frame   string
		ok      bool
		want    changeFrame
		refusal string
	}{
		{`{"text":"hi","nonce":"n"}`, false, changeFrame{}, ""},
		{`{"typing":true}`, false, changeFrame{}, ""},
		{`{"edit":"3","text":"new","nonce":"n"}`, true, changeFrame{seq: 3, text: "new", nonce: "n"}, ""},
		{`{"edit":3,"text":"new"}`, true, changeFrame{seq: 3, text: "new"}, ""},
		{`{"delete":"7","nonce":"n","headers":{"HX-Request":"true"}}`, true, changeFrame{seq: 7, del: true, nonce: "n"}, ""},
		{`{"edit":"3","nonce":"n"}`, true, changeFrame{}, "Type a message first."},
		{`{"edit":"x","text":"t"}`, true, changeFrame{}, "That message could not be read."},
		{`{"edit":"0","text":"t"}`, true, changeFrame{}, "That message could not be read."},
		{`{"delete":"-1"}`, true, changeFrame{}, "That message could not be read."},
		{`{"edit":"1","delete":"1","text":"t"}`, true, changeFrame{}, "That message could not be read."},
		{`{"delete":"1","nonce":"` + strings.Repeat("n", 65) + `"}`, true, changeFrame{}, "This form has expired: reload the page and send again."},
	} {
		got, ok := decodeChange(context.Background(), websocket.MessageText, []byte(c.frame))
		if ok != c.ok || got.refusal != c.refusal {
			t.Errorf("%s: ok %v refusal %q; want %v %q", c.frame, ok, got.refusal, c.ok, c.refusal)
			continue
		}
		if c.refusal == "" && ok && (got.seq != c.want.seq || got.del != c.want.del || got.text != c.want.text || got.nonce != c.want.nonce) {
			t.Errorf("%s: got %+v, want %+v", c.frame, got, c.want)
		}
	}
}

func changeFrameJSON(kind, seq, text, nonce string) []byte {
	m := map[string]string{kind: seq, "nonce": nonce}
	if kind == "edit" {
		m["text"] = text
	}
	b, _ := json.Marshal(m)
	return b
}

// Over the socket: the author edits and deletes, each reply like a send's,
// and every page is sent the message as it is now, in place of the old
// one; someone else is refused and changes nothing; a change sent again
// under its nonce is applied once.
func TestChangesOverTheSocket(t *testing.T) {
	_, ts := newTestServer(t, Config{})
	room := "edits"
	_, ann := chattest.JoinAs(t, ts.URL, "Ann", room)
	_, bob := chattest.JoinAs(t, ts.URL, "Bob", room)
	ann.Send("first text", "s1")
	ann.Until(`id="msg-1"`)
	ann.Send("second text", "s2")
	ann.Until(`id="msg-2"`)
	bob.Until(`id="msg-2"`)

	bob.SendRaw(changeFrameJSON("edit", "1", "bob was here", "b1"))
	if f := bob.Until(`data-nonce="b1"`); !strings.Contains(f, `data-outcome="refused"`) || !strings.Contains(f, notYours(context.Background())) {
		t.Fatalf("Bob's edit of Ann's message: %s", f)
	}
	bob.SendRaw(changeFrameJSON("delete", "1", "", "b2"))
	if f := bob.Until(`data-nonce="b2"`); !strings.Contains(f, notYours(context.Background())) {
		t.Fatalf("Bob's deletion of Ann's message: %s", f)
	}

	ann.SendRaw(changeFrameJSON("edit", "1", "  first, edited  ", "e1"))
	got := ann.UntilAll(`data-nonce="e1" data-outcome="sent" data-seq="1"`, `target:#msg-1`)
	changed := got[`target:#msg-1`]
	for _, want := range []string{`hx-swap-oob="outerMorph strip:true target:#msg-1"`, `id="msg-1"`, `>first, edited</p>`, `<span class="edited"><time`, `tabindex="0">edited</time>`, `data-author="`} {
		if !strings.Contains(changed, want) {
			t.Errorf("the changed message lacks %s:\n%s", want, changed)
		}
	}
	if f := bob.Until(`target:#msg-1`); f != changed {
		t.Errorf("Bob was sent another frame than Ann:\n%s\n%s", f, changed)
	}
	// Again under the same nonce: answered, not applied again.
	ann.SendRaw(changeFrameJSON("edit", "1", "first, edited", "e1"))
	ann.Until(`data-nonce="e1" data-outcome="sent"`)

	ann.SendRaw(changeFrameJSON("delete", "2", "", "d1"))
	ann.Until(`data-nonce="d1" data-outcome="sent" data-seq="2"`)
	deleted := bob.Until(`target:#msg-2`)
	if !strings.Contains(deleted, `class="deleted"`) || !strings.Contains(deleted, "Message deleted.") || strings.Contains(deleted, "second text") || strings.Contains(deleted, "data-author") {
		t.Errorf("the deleted message: %s", deleted)
	}
	// Deleted: no more changes.
	ann.SendRaw(changeFrameJSON("edit", "2", "back", "e2"))
	if f := ann.Until(`data-nonce="e2"`); !strings.Contains(f, html.EscapeString(noMessage(context.Background()))) {
		t.Errorf("an edit of a deleted message: %s", f)
	}
	ann.SendRaw(changeFrameJSON("edit", "9", "nothing", "e3"))
	if f := ann.Until(`data-nonce="e3"`); !strings.Contains(f, html.EscapeString(noMessage(context.Background()))) {
		t.Errorf("an edit of no message: %s", f)
	}
	// Text is checked as for a new message.
	ann.SendRaw(changeFrameJSON("edit", "1", strings.Repeat("x", 2001), "e4"))
	if f := ann.Until(`data-nonce="e4"`); !strings.Contains(f, "Messages are at most 2,000 characters.") {
		t.Errorf("an edit too long: %s", f)
	}
	ann.SendRaw(changeFrameJSON("edit", "1", "bidi \u202e", "e5"))
	if f := ann.Until(`data-nonce="e5"`); !strings.Contains(f, "Messages cannot contain control characters.") {
		t.Errorf("an edit with a bidirectional control: %s", f)
	}
	// Bob's sentinel: nothing else was sent, no second change of msg-1.
	bob.Send("sentinel", "s3")
	for {
		f := bob.Next()
		if strings.Contains(f, `id="msg-3"`) {
			break
		}
		if strings.Contains(f, "target:#msg-") {
			t.Fatalf("a change Bob should not have been sent: %s", f)
		}
	}

	// A history (a page that joins now) shows them changed.
	u := chattest.NewUser(t, ts.URL)
	u.SignIn("Dee", room)
	_, page := u.Get("/rooms/" + room)
	if !strings.Contains(page, "first, edited") || strings.Contains(page, "first text") || strings.Contains(page, "second text") || !strings.Contains(page, "Message deleted.") {
		t.Errorf("the room page after the changes:\n%s", page)
	}
}

// The author is the session; a message stored without one (before authors
// were kept) is nobody's to change.
func TestSendKeepsTheAuthor(t *testing.T) {
	s, ts := newTestServer(t, Config{})
	ann := chattest.NewUser(t, ts.URL)
	ann.SignIn("Ann", "r")
	ws := ann.Dial("r")
	ws.Next()
	ws.Send("hi", "n1")
	ws.Until(`id="msg-1"`)
	msgs, err := s.chat.Recent(t.Context(), "r")
	if err != nil || len(msgs) != 1 || msgs[0].Author == "" {
		t.Fatalf("stored %+v, %v: want the author", msgs, err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, c := range ann.Client.Jar.Cookies(mustURL(t, ts.URL)) {
		r.AddCookie(c)
	}
	sess, _ := s.sessions.read(r)
	if msgs[0].Author != sess.ID {
		t.Fatalf("author %q, want the session %q", msgs[0].Author, sess.ID)
	}
	if _, _, err := s.chat.Change(t.Context(), "r", realtime.Change{Seq: 1, Author: "someone", Text: "x"}, ""); err == nil {
		t.Fatal("another author changed the message")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
