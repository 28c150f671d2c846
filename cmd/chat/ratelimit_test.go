package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
)

// A burst past the limit is slowed down, not refused: every message gets
// through, in order, each once, as when a page sends what it queued
// offline.
func TestSendRateLimitSlowsABurstDown(t *testing.T) {
	env := sharedEnv("")
	env["SEND_RATE"], env["SEND_BURST"] = "10", "3"
	inst := startInstance(t, env)
	room := testkit.Room()
	_, annWS := chattest.JoinAs(t, inst.URL, "Ann", room)
	const n = 12
	for i := range n {
		annWS.Send(fmt.Sprintf("queued %d", i), fmt.Sprintf("q%d", i))
	}
	accepted, shown := 0, 0
	for accepted < n || shown < n {
		f := annWS.Next()
		if strings.Contains(f, "Slow down") {
			t.Fatalf("a burst of %d was refused: %s", n, f)
		}
		accepted += strings.Count(f, `data-outcome="sent"`)
		for strings.Contains(f, fmt.Sprintf(`<li id="msg-%d"`, shown+1)) {
			shown++
		}
	}
}

// A burst that would wait longer than the server holds a message back gets
// "slow down" errors, to the sender alone, and nothing more is stored or
// broadcast. (That a steady pace under the rate is never limited is shown
// on a virtual clock in handlers.)
func TestSendRateLimit(t *testing.T) {
	env := sharedEnv("")
	env["SEND_RATE"], env["SEND_BURST"] = "0.2", "3"
	inst := startInstance(t, env)
	room := testkit.Room()
	ann, annWS := chattest.JoinAs(t, inst.URL, "Ann", room)
	_, bobWS := chattest.JoinAs(t, inst.URL, "Bob", room)

	for i := range 6 {
		annWS.Send(fmt.Sprintf("burst %d", i), fmt.Sprintf("b%d", i))
	}
	// Replies may come several to a frame: the server joins queued frames.
	accepted, slowed := 0, 0
	for accepted+slowed < 6 {
		f := annWS.Until(`data-signal="reply"`)
		slowed += strings.Count(f, "Slow down")
		accepted += strings.Count(f, `data-outcome="sent"`)
	}
	if accepted != 3 || slowed != 3 {
		t.Fatalf("%d accepted and %d slowed, want 3 and 3", accepted, slowed)
	}
	// A no-JS post over the limit is refused at once: 422, the text kept in
	// the form, the reason by it.
	resp := ann.PostForm("/rooms/"+room+"/messages", url.Values{"text": {"posted too fast"}, "nonce": {"p1"}})
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), `>posted too fast</textarea>`) || !strings.Contains(string(body), "Slow down") {
		t.Fatalf("no-JS post over the limit: %d\n%s", resp.StatusCode, body)
	}
	// Bob's first message is his own to send; before it he sees Ann's three
	// and no error of hers.
	bobWS.Send("from bob", "c1")
	for seen := 0; ; {
		f := bobWS.Next()
		if strings.Contains(f, "Slow down") {
			t.Fatalf("another user got the sender's error: %s", f)
		}
		if strings.Contains(f, "from bob") {
			own := strings.Index(f, `<li id="msg-4"`)
			if own < 0 {
				t.Fatalf("bob's message is not msg-4: %s", f)
			}
			seen += strings.Count(f[:own], `<li id="msg-`)
			if seen != 3 {
				t.Fatalf("bob saw %d of ann's messages before his own (%s), want 3 and msg-4", seen, f)
			}
			break
		}
		seen += strings.Count(f, `<li id="msg-`)
	}
}
