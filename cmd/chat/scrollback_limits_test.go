package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/firestoretest"
	"github.com/chatrun/chat/testkit/redistest"
)

// waitArchived waits until Firestore (env's project, on the emulator the
// process's FIRESTORE_EMULATOR_HOST names) holds n messages of room: the
// scrollback read then is whole. It asks Firestore itself, not the
// service, whose scrollback is rate-limited.
func waitArchived(t *testing.T, env map[string]string, room string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fs, err := firestore.NewClient(ctx, env["FIRESTORE_PROJECT"])
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	testkit.WaitFor(t, ctx, fmt.Sprintf("%d messages in Firestore", n), func() bool {
		docs, err := fs.Collection("rooms").Doc(room).Collection("messages").Documents(ctx).GetAll()
		return err == nil && len(docs) == n
	})
}

// A page of scrollback is bounded in bytes like the room page (128 KiB of
// message HTML), not only in HISTORY_SIZE messages: 100 messages of 2,000
// "<" (each 8,000 bytes escaped) come back a few at a time, and walking
// back still shows every message once.
func TestScrollbackIsBoundedInBytes(t *testing.T) {
	env := burst(sharedEnv(""))
	env["HISTORY_SIZE"] = "100"
	inst := startInstance(t, env)
	room := testkit.Room()
	u := chattest.NewUser(t, inst.URL)
	u.SignIn("Ann", room)
	const n = 130
	for i := range n {
		resp := u.PostForm("/rooms/"+room+"/messages", url.Values{"text": {strconv.Itoa(i+1) + " " + strings.Repeat("<", 1990)}, "nonce": {strconv.Itoa(i)}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("post %d: %d", i+1, resp.StatusCode)
		}
	}
	_, page := u.Get("/rooms/" + room)
	m := earlierHref.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the room page has no way to earlier messages")
	}
	for _, hx := range []bool{false, true} {
		if hx {
			u.SetHeader("HX-Request", "true")
		}
		resp, body := u.Get("/rooms/" + room + "?before=" + m[1])
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("scrollback (htmx %v): %d", hx, resp.StatusCode)
		}
		if len(body) > 160<<10 {
			t.Errorf("a page of scrollback (htmx %v) is %d KiB, want it within the room page's 128 KiB (and its frame)", hx, len(body)>>10)
		}
		if got := len(msgIDs.FindAllString(body, -1)); got < 1 || got >= 100 {
			t.Errorf("a page of scrollback (htmx %v) shows %d messages", hx, got)
		}
	}
	u.SetHeader("HX-Request", "")
	if seqs, start := walkBack(t, u, room); !slices.Equal(seqs, oneTo(n)) || !start {
		t.Fatalf("walking back shows %v (start said: %v), want 1..%d once each", seqs, start, n)
	}
}

// Scrollback is rate-limited per session (a burst of 20, then one a
// second) and per address (100, then 5 a second): past it the page is a
// 429 with Retry-After saying so, and the htmx fragment says the same in
// #earlier-wrap with a link to try again; another session is served.
func TestScrollbackIsRateLimited(t *testing.T) {
	env := burst(sharedEnv(""))
	env["HISTORY_SIZE"] = "5"
	inst := startInstance(t, env)
	room := testkit.Room()
	ann := chattest.NewUser(t, inst.URL)
	ann.SignIn("Ann", room)
	for i := range 12 {
		post(t, ann, room, fmt.Sprint("m", i+1))
	}
	const path = "?before=6"
	const said = "Slow down: you are loading earlier messages too fast. Wait a moment, then try again."
	refused := 0
	var resp *http.Response
	var body string
	for range 40 {
		resp, body = ann.Get("/rooms/" + room + path)
		if resp.StatusCode == http.StatusTooManyRequests {
			refused++
			break
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("scrollback: %d", resp.StatusCode)
		}
	}
	if refused == 0 {
		t.Fatal("40 pages of scrollback at once from one session, none refused")
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 5 {
		t.Errorf("Retry-After %q, want 1 to 5 seconds", resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(body, said) || !strings.Contains(body, `id="newest"`) {
		t.Errorf("the refused page does not say why, or has no way back:\n%s", body)
	}
	ann.SetHeader("HX-Request", "true")
	resp, body = ann.Get("/rooms/" + room + path)
	ann.SetHeader("HX-Request", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<p id="earlier-wrap" class="earlier" role="alert" hx-swap-oob="true">`+said+` <a id="earlier" href="/rooms/`+room+path+`"`) {
		t.Errorf("the refused fragment: %d\n%s", resp.StatusCode, body)
	}
	if strings.Contains(body, `id="msg-`) {
		t.Error("the refused fragment carries messages")
	}

	// Another session from the same address is served, until the address
	// has had its 100: then a session is refused before its own 20.
	servedFirst, byAddress := false, false
	for i := range 10 {
		u := chattest.NewUser(t, inst.URL)
		u.SignIn(fmt.Sprint("Reader", i), room)
		for j := range 25 {
			resp, _ := u.Get("/rooms/" + room + path)
			if j == 0 && resp.StatusCode == http.StatusOK {
				servedFirst = true
			}
			if resp.StatusCode == http.StatusTooManyRequests {
				byAddress = j < 20
				break
			}
		}
		if byAddress {
			break
		}
	}
	if !servedFirst {
		t.Error("another session's first page was refused: the limit is not per session")
	}
	if !byAddress {
		t.Error("one address read 10 sessions × 20 pages at once, every session its own 20: no limit per address")
	}
}

// Pages of scrollback read once are kept: with the archive complete and
// read once, Firestore stopped, a reader walks back to message 1 again
// (a page that is not kept would be a 503 now). The pages are read from
// Firestore once, not once per reader.
func TestScrollbackPagesAreKept(t *testing.T) {
	emu := firestoretest.Start(t)
	t.Setenv("FIRESTORE_EMULATOR_HOST", emu.Host)
	env := burst(sharedEnv(redistest.Start(t).Addr)) // a Redis of its own: see firestoreEnv
	env["HISTORY_SIZE"] = "20"
	env["FIRESTORE_PROJECT"] = firestoretest.Project()
	inst := startInstance(t, env)
	room := testkit.Room()
	ann := chattest.NewUser(t, inst.URL)
	ann.SignIn("Ann", room)
	for i := range 75 {
		post(t, ann, room, fmt.Sprint("m", i+1))
	}
	waitArchived(t, env, room, 75)
	if seqs, start := walkBack(t, ann, room); !slices.Equal(seqs, oneTo(75)) || !start {
		t.Fatalf("walking back shows %v (start said: %v), want 1..75", seqs, start)
	}
	emu.Stop()
	reader := chattest.NewUser(t, inst.URL)
	reader.SignIn("Reader", room)
	if seqs, start := walkBack(t, reader, room); !slices.Equal(seqs, oneTo(75)) || !start {
		t.Fatalf("with Firestore stopped, walking back again shows %v (start said: %v), want 1..75 from the pages kept", seqs, start)
	}
}

// Room pages are rate-limited per session (a burst of 30, then one a
// second): made-up rooms opened by the hundred get 429 with Retry-After
// and a page saying why; another session is served.
func TestRoomPagesAreLimitedPerSession(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	u := chattest.NewUser(t, inst.URL)
	u.SignIn("Ann", testkit.Room())
	var resp *http.Response
	var body string
	for i := range 100 {
		resp, body = u.Get("/rooms/" + testkit.Room())
		if resp.StatusCode != http.StatusOK {
			if i < 30 {
				t.Fatalf("room page %d: %d, want 200 within the burst", i+1, resp.StatusCode)
			}
			break
		}
	}
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("100 room pages at once from one session: the last %d, want 429", resp.StatusCode)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 5 {
		t.Errorf("Retry-After %q, want 1 to 5 seconds", resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(body, "Slow down: you are opening pages too fast. Wait a moment, then reload the page.") {
		t.Errorf("the refused page does not say why:\n%s", body)
	}
	other := chattest.NewUser(t, inst.URL)
	other.SignIn("Bob", testkit.Room())
	if resp, _ := other.Get("/rooms/" + testkit.Room()); resp.StatusCode != http.StatusOK {
		t.Errorf("another session's room page: %d, want 200", resp.StatusCode)
	}
}
