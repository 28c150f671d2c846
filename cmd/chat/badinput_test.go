package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
)

// Every refused input gets a clear answer, stores nothing, broadcasts
// nothing, and the service stays up.
func TestBadInputIsRefused(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	room := testkit.Room()
	ann := chattest.NewUser(t, inst.URL)
	ann.SignIn("Ann", room)
	// An observer in the room: whatever is refused must never reach it.
	obs := chattest.NewUser(t, inst.URL)
	obs.SignIn("Observer", room)
	obsWS := obs.Dial(room)
	obsWS.Next() // history

	long := func(n int) string { return strings.Repeat("x", n) }

	t.Run("sign-in", func(t *testing.T) {
		cases := []struct {
			name, room, want string
		}{
			{"", room, "Please give a name."},
			{"   ", room, "Please give a name."},
			{long(33), room, "at most 32 characters"},
			{"bad\x01name", room, "control characters"},
			{"nul\x00", room, "control characters"},
			{"line\r\nbreak", room, "control characters"},
			{"evil\u202Eeman", room, "control characters"},
			{"Ann", "", "Please give a room."},
			{"Ann", "no spaces", "only letters a to z"},
			{"Ann", "../etc/passwd", "only letters a to z"},
			{"Ann", "caf\u00e9", "only letters a to z"},
			{"Ann", long(65), "at most 64 characters"},
		}
		for _, c := range cases {
			u := chattest.NewUser(t, inst.URL)
			resp := u.PostForm("/signin", url.Values{"name": {c.name}, "room": {c.room}})
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("name %q room %q: status %d, want 422", c.name, c.room, resp.StatusCode)
			}
			if !strings.Contains(string(body), c.want) {
				t.Errorf("name %q room %q: page lacks %q", c.name, c.room, c.want)
			}
			if len(resp.Cookies()) != 0 {
				t.Errorf("name %q room %q: a refused sign-in set a cookie", c.name, c.room)
			}
		}
		// Values are kept, escaped.
		u := chattest.NewUser(t, inst.URL)
		resp := u.PostForm("/signin", url.Values{"name": {`<b>x</b>`}, "room": {"bad room"}})
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), `value="&lt;b&gt;x&lt;/b&gt;"`) || !strings.Contains(string(body), `value="bad room"`) {
			t.Errorf("refused form does not keep the values escaped: %s", body)
		}
	})

	t.Run("room pages", func(t *testing.T) {
		for _, path := range []string{"/rooms/bad!room", "/rooms/%2e%2e", "/rooms/" + long(65), "/rooms/a%20b"} {
			if resp, _ := ann.Get(path); resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s: %d, want 404", path, resp.StatusCode)
			}
		}
		resp, _ := ann.Get("/rooms/" + strings.ToUpper(room))
		base, _ := url.Parse(inst.URL)
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "/rooms/"+room {
			t.Errorf("capitals: %d to %q, want a redirect to /rooms/%s", resp.StatusCode, resp.Header.Get("Location"), room)
		}
		resp, _ = chattest.NewUser(t, inst.URL).Get("/rooms/" + room)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?room="+room {
			t.Errorf("no session: %d to %q, want 303 to the sign-in", resp.StatusCode, resp.Header.Get("Location"))
		}
		forged := chattest.NewUser(t, inst.URL)
		forged.Client.Jar.SetCookies(base, []*http.Cookie{{Name: "chat_session", Value: "MTk5OTk5OTk5OXxhYmN8TWFsbG9yeQ.AAAA"}})
		if resp, _ := forged.Get("/rooms/" + room); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("forged cookie: %d, want 303 to the sign-in", resp.StatusCode)
		}
		// Ann's real cookie with one byte of the name changed: the MAC fails.
		tampered := chattest.NewUser(t, inst.URL)
		for _, c := range ann.Client.Jar.Cookies(base) {
			enc, mac, _ := strings.Cut(c.Value, ".")
			raw, _ := base64.RawURLEncoding.DecodeString(enc)
			raw = []byte(strings.Replace(string(raw), "|Ann", "|Mallory", 1))
			c.Value = base64.RawURLEncoding.EncodeToString(raw) + "." + mac
			tampered.Client.Jar.SetCookies(base, []*http.Cookie{c})
		}
		if resp, _ := tampered.Get("/rooms/" + room); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("tampered cookie: %d, want 303 to the sign-in", resp.StatusCode)
		}
		resp = tampered.PostForm("/rooms/"+room+"/messages", url.Values{"text": {"as mallory"}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("post with a tampered cookie: %d, want 303 to the sign-in", resp.StatusCode)
		}
	})

	t.Run("no-JS post", func(t *testing.T) {
		cases := []struct {
			text, nonce, want string
		}{
			{"", "", "Type a message first."},
			{" \n\t ", "", "Type a message first."},
			{long(2001), "", "at most 2,000 characters"},
			{"bell\x07", "", "control characters"},
			{"bidi \u202Eoverride", "", "control characters"},
			{"invalid \xff utf-8", "", "not text"},
			{"fine", long(65), "reload the page"},
		}
		for _, c := range cases {
			resp := ann.PostForm("/rooms/"+room+"/messages", url.Values{"text": {c.text}, "nonce": {c.nonce}})
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), c.want) {
				t.Errorf("text %.20q: %d, want 422 with %q", c.text, resp.StatusCode, c.want)
			}
			if c.text == long(2001) && !strings.Contains(string(body), long(2001)) {
				t.Error("the refused text is not kept in the form")
			}
		}
		resp := ann.PostForm("/rooms/"+room+"/messages", url.Values{"text": {long(70 << 10)}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("oversized body: %d, want 422", resp.StatusCode)
		}
		resp = chattest.NewUser(t, inst.URL).PostForm("/rooms/"+room+"/messages", url.Values{"text": {"hi"}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/?room="+room {
			t.Errorf("no session: %d, want 303 to the sign-in", resp.StatusCode)
		}
		for _, h := range []http.Header{
			{"Origin": {"http://evil.example"}},
			{"Sec-Fetch-Site": {"cross-site"}},
		} {
			req, _ := http.NewRequest(http.MethodPost, inst.URL+"/rooms/"+room+"/messages", strings.NewReader("text=csrf"))
			req.Header = h.Clone()
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := ann.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("cross-origin post %v: %d, want 403", h, resp.StatusCode)
			}
		}
	})

	t.Run("websocket frames", func(t *testing.T) {
		ws := ann.Dial(room)
		ws.Next() // history
		cases := []struct {
			frame, want string
		}{
			{`not json`, "could not be read"},
			{`{"nonce":"x"}`, "Type a message first."},
			{`{"text":42}`, "could not be read"},
			{`{"text":["a","b"]}`, "could not be read"},
			{`{"text":""}`, "Type a message first."},
			{`{"text":"   "}`, "Type a message first."},
			{`{"text":"` + long(2001) + `"}`, "at most 2,000 characters"},
			{`{"text":"nul\u0000"}`, "control characters"},
			{`{"text":"<script>alert(1)</script>\u202e"}`, "control characters"},
			{`{"text":"ok","nonce":"` + long(65) + `"}`, "reload the page"},
			{`[]`, "could not be read"},
			{"{\"text\":\"bad \xff\xfe utf-8\"}", "not text"},
			{`{"text":"x","headers":` + strings.Repeat("[", 6000) + strings.Repeat("]", 6000) + `}`, "could not be read"},
			{`{"text":"x","nonce":{"nested":{"deeper":[1,2,3]}}}`, "could not be read"},
			{`{"text":"\u202Eevil"}`, "control characters"},
			{`{"text":"ctrl \u001b[31m"}`, "control characters"},
		}
		for _, c := range cases {
			ws.SendRaw([]byte(c.frame))
			f := ws.Until(`data-signal="reply"`)
			if !strings.Contains(f, c.want) {
				t.Errorf("frame %.30q: got %s, want %q", c.frame, f, c.want)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ws.Conn.Write(ctx, websocket.MessageBinary, []byte(`{"text":"binary"}`)); err != nil {
			t.Fatal(err)
		}
		if f := ws.Until(`data-signal="reply"`); !strings.Contains(f, "must be text") {
			t.Errorf("binary frame: %s", f)
		}
		// Past 1 MiB the socket is closed with 1009 (TestOversizedFrame:
		// under it, the socket stays usable).
		huge := ann.Dial(room)
		huge.Next()
		// The server may cut the connection before the whole frame is written.
		_ = huge.Conn.Write(ctx, websocket.MessageText, []byte(`{"text":"x","pad":[`+strings.Repeat(`"aaaaaaaaaa",`, 1<<20/13)+`""]}`))
		if code := huge.CloseStatus(); code != websocket.StatusMessageTooBig {
			t.Errorf("1 MiB frame closed the socket with %v, want 1009", code)
		}

		// Cross-site WebSocket hijacking: refused at the handshake.
		h := ann.Header()
		h.Set("Origin", "http://evil.example")
		_, resp, err := websocket.Dial(ctx, ann.SocketURL(room), &websocket.DialOptions{HTTPHeader: h})
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-origin handshake: %v %v, want 403", err, resp)
		}

		// No session: one notice to sign in again, then 1008, nothing of the room.
		anon := chattest.NewUser(t, inst.URL).Dial(room)
		if f := anon.Next(); !strings.Contains(f, "Sign in again") || strings.Contains(f, `id="messages"`) {
			t.Errorf("no-session socket got %s", f)
		}
		if code := anon.CloseStatus(); code != websocket.StatusPolicyViolation {
			t.Errorf("no-session socket closed with %v, want 1008", code)
		}
	})

	t.Run("impersonation", func(t *testing.T) {
		// The observer holds "Observer" in the room; another session may
		// not take the name, whatever its case.
		// Nor a name that looks the same, nor one hiding invisible
		// characters, nor one that shows nothing at all.
		for _, name := range []string{"Observer", "observer", " OBSERVER ",
			"\u041ebserver", // Cyrillic О
			"Ｏｂｓｅｒｖｅｒ",      // fullwidth
			"Obser\u200bver", "Obs\u200derver", "\ufeffObserver", "Obs\u00aderver", "Observer\u2060",
			"\u200b", "\u3164", "\u2800",
		} {
			u := chattest.NewUser(t, inst.URL)
			resp := u.PostForm("/signin", url.Values{"name": {name}, "room": {room}})
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnprocessableEntity || len(resp.Cookies()) != 0 {
				t.Errorf("signing in as %+q beside the observer: %d, cookie %v", name, resp.StatusCode, resp.Cookies())
			}
			if !strings.Contains(string(body), "using that name") && !strings.Contains(string(body), "invisible") && !strings.Contains(string(body), "can be seen") {
				t.Errorf("signing in as %+q: no reason given", name)
			}
		}
		// Signed in as "Observer" elsewhere, then straight to the room's
		// socket: refused there too, with nothing of the room.
		u := chattest.NewUser(t, inst.URL)
		u.SignIn("Observer", testkit.Room())
		s := u.Dial(room)
		if f := s.Next(); !strings.Contains(f, "using that name") || strings.Contains(f, `id="messages"`) {
			t.Errorf("impostor's socket got %s", f)
		}
		if code := s.CloseStatus(); code != websocket.StatusPolicyViolation {
			t.Errorf("impostor's socket closed with %v, want 1008", code)
		}
		// Nor can it post there without JavaScript: nothing is stored.
		resp := u.PostForm("/rooms/"+room+"/messages", url.Values{"text": {"I am the observer"}, "nonce": {"imp"}})
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), "using your name") || strings.Contains(string(body), `<li id="msg-`) && strings.Contains(string(body), ">I am the observer<") {
			t.Errorf("impostor's no-JS post: %d", resp.StatusCode)
		}
		// The observer signing in again keeps the name.
		resp = obs.PostForm("/signin", url.Values{"name": {"Observer"}, "room": {room}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("the observer signing in again: %d, want 303", resp.StatusCode)
		}
	})

	t.Run("script in names and texts is inert", func(t *testing.T) {
		xssRoom := testkit.Room()
		name := `<img src=x onerror=alert(1)>`
		evil := chattest.NewUser(t, inst.URL)
		evil.SignIn(name, xssRoom)
		watcher := chattest.NewUser(t, inst.URL)
		watcher.SignIn("Watcher", xssRoom)
		wws := watcher.Dial(xssRoom)
		wws.Next()
		ews := evil.Dial(xssRoom)
		ews.Next()
		ews.Send(`<script>alert(1)</script><b onclick="x()">hi</b>`, "x1")
		f := wws.Until(`id="msg-1"`)
		_, page := watcher.Get("/rooms/" + xssRoom)
		for what, html := range map[string]string{"pushed fragment": f, "room page": page} {
			if strings.Contains(html, "<script>alert") || strings.Contains(html, "<img src=x") || strings.Contains(html, "<b onclick") {
				t.Errorf("%s carries live markup: %s", what, html)
			}
			if !strings.Contains(html, "&lt;script&gt;alert(1)&lt;/script&gt;") || !strings.Contains(html, "&lt;img src=x onerror=alert(1)&gt;") {
				t.Errorf("%s does not show the text escaped: %s", what, html)
			}
		}
	})

	// Nothing was stored or broadcast: the first thing the observer sees
	// after the refusals is the first message sent properly, numbered 1.
	if resp, _ := ann.Get("/health"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/health: %d", resp.StatusCode)
	}
	ws := ann.Dial(room)
	if f := ws.Next(); strings.Contains(f, `<li id="msg-`) {
		t.Fatalf("the history holds a refused message: %s", f)
	}
	ws.Send("the first real one", "n")
	for {
		f := obsWS.Next()
		if strings.Contains(f, "entered the room") || strings.Contains(f, "left the room") || strings.Contains(f, `<ul id="members"`) || strings.Contains(f, `data-signal="availability"`) {
			continue
		}
		if !strings.Contains(f, `id="msg-1"`) || !strings.Contains(f, "the first real one") {
			t.Fatalf("observer got %s, want msg-1 first", f)
		}
		break
	}
}

// A frame over the limit (a 20,000-character paste, or 100 KiB) is refused
// with a visible error, and the socket stays usable: the next message is
// stored and shown. (Past 1 MiB the socket is closed: TestBadInputIsRefused.)
func TestOversizedFrameLeavesTheSocketUsable(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	_, ws := chattest.JoinAs(t, inst.URL, "Ann", testkit.Room())
	for i, size := range []int{20_000, 100 << 10} {
		// A frame over the limit is never parsed, so its refusal carries no
		// nonce; the first reply with no nonce must be it. Any reply will
		// not do: the previous round's reply may trail its broadcast.
		ws.SendRaw([]byte(`{"text":"` + strings.Repeat("x", size) + `","nonce":"big"}`))
		if f := ws.Until(`data-signal="reply" data-outcome=`); !strings.Contains(f, "too large") {
			t.Errorf("%d-byte frame: got %s, want a 'too large' refusal", size, f)
		}
		text := fmt.Sprintf("small after big %d", i)
		ws.Send(text, text)
		ws.Until(">" + text + "<")
	}
}
