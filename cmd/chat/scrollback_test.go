package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/firestoretest"
	"github.com/chatrun/chat/testkit/redistest"
)

var earlierHref = regexp.MustCompile(`<a id="earlier" href="/rooms/[a-z0-9_-]+\?before=(\d+)"`)

// walkBack reads the room page, then follows #earlier back as far as it
// leads, as a reader without JavaScript does. It returns every message
// number seen, oldest first, and whether the last page said the room's
// first message was reached.
func walkBack(t *testing.T, u *chattest.User, room string) (seqs []int, start bool) {
	t.Helper()
	path := "/rooms/" + room
	for range 100 {
		resp, page := u.Get(path)
		if resp.StatusCode != http.StatusOK {
			return seqs, false
		}
		var here []int
		for _, m := range msgIDs.FindAllStringSubmatch(page, -1) {
			n, _ := strconv.Atoi(m[1])
			here = append(here, n)
		}
		seqs = append(here, seqs...)
		m := earlierHref.FindStringSubmatch(page)
		if m == nil {
			return seqs, strings.Contains(page, "This is the start of the room.")
		}
		path = "/rooms/" + room + "?before=" + m[1]
	}
	t.Fatal("more than 100 pages of scrollback")
	return nil, false
}

func oneTo(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

// post sends text without JavaScript, once, and fails unless it is stored.
func post(t *testing.T, u *chattest.User, room, text string) {
	t.Helper()
	resp := u.PostForm("/rooms/"+room+"/messages", url.Values{"text": {text}, "nonce": {text}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("post %q: %d", text, resp.StatusCode)
	}
}

// Without Redis, scrollback reaches as far as memory keeps.
func TestScrollbackInMemory(t *testing.T) {
	env := burst(sharedEnv(""))
	env["HISTORY_SIZE"] = "20"
	inst := startInstance(t, env)
	room := testkit.Room()
	u := chattest.NewUser(t, inst.URL)
	u.SignIn("Ann", room)
	for i := range 75 {
		post(t, u, room, fmt.Sprint("m", i+1))
	}
	_, page := u.Get("/rooms/" + room)
	if got := len(msgIDs.FindAllString(page, -1)); got != 20 {
		t.Fatalf("the room page shows %d messages, want HISTORY_SIZE (20)", got)
	}
	if seqs, start := walkBack(t, u, room); !slices.Equal(seqs, oneTo(75)) || !start {
		t.Fatalf("walking back shows %v (start said: %v), want 1..75 once each", seqs, start)
	}
}

// firestoreEnv is the environment of instances that keep every message in
// Firestore (the emulator) beside Redis. Give it a Redis of the test's own
// (redistest.Start): every archiver on one Redis shares its set of rooms
// to archive and its consumer group, so on the Redis that CI shares
// between packages another package's archiver, writing to its own
// project, could take this test's messages.
func firestoreEnv(t *testing.T, redisAddr string) map[string]string {
	t.Helper()
	// The Firestore client reads this from the process's environment.
	t.Setenv("FIRESTORE_EMULATOR_HOST", firestoretest.Host(t))
	env := burst(sharedEnv(redisAddr))
	env["HISTORY_SIZE"] = "20"
	env["FIRESTORE_PROJECT"] = firestoretest.Project()
	return env
}

// 75 messages over two instances with HISTORY_SIZE 20: the room page shows
// the last 20, and #earlier leads back to message 1, each once, read from
// Firestore.
func TestScrollbackFromFirestore(t *testing.T) {
	env := firestoreEnv(t, redistest.Start(t).Addr)
	a, b := startInstance(t, env), startInstance(t, env)
	room := testkit.Room()
	ann := chattest.NewUser(t, a.URL)
	ann.SignIn("Ann", room)
	bob := chattest.NewUser(t, b.URL)
	bob.SignIn("Bob", room)
	for i := range 75 {
		post(t, []*chattest.User{ann, bob}[i%2], room, fmt.Sprint("m", i+1))
	}
	reader := chattest.NewUser(t, b.URL)
	reader.SignIn("Cy", room)
	// The archive takes what was sent a moment later: the send path does
	// not wait for it. (Scrollback is rate-limited: Firestore is asked.)
	waitArchived(t, env, room, 75)
	if seqs, start := walkBack(t, reader, room); !slices.Equal(seqs, oneTo(75)) || !start {
		t.Fatalf("walking back shows %v (start said: %v), want 1..75 once each", seqs, start)
	}
}

// Redis losing its data loses no history and no numbering: after a
// FLUSHALL and both instances restarted, a newcomer still walks back to
// message 1, and the next message is number 76.
func TestFirestoreOutlivesRedisLosingItsData(t *testing.T) {
	srv := redistest.Start(t)
	env := firestoreEnv(t, srv.Addr)
	a, b := startInstance(t, env), startInstance(t, env)
	room := testkit.Room()
	ann := chattest.NewUser(t, a.URL)
	ann.SignIn("Ann", room)
	for i := range 75 {
		post(t, ann, room, fmt.Sprint("m", i+1))
	}
	waitArchived(t, env, room, 75)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	if err := rdb.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	a.stop()
	b.stop()
	a, b = startInstance(t, env), startInstance(t, env)
	newcomer := chattest.NewUser(t, b.URL)
	newcomer.SignIn("Newcomer", room)
	if seqs, start := walkBack(t, newcomer, room); !slices.Equal(seqs, oneTo(75)) || !start {
		t.Fatalf("after Redis lost its data a newcomer walks back through %v (start said: %v), want 1..75", seqs, start)
	}
	post(t, newcomer.On(a.URL), room, "after the flush")
	_, page := newcomer.Get("/rooms/" + room)
	if !strings.Contains(page, `<li id="msg-76"`) || strings.Count(page, "after the flush") != 1 {
		t.Fatalf("the message after the flush is not number 76:\n%s", page)
	}
}

// The instance that has just acknowledged 10 messages is killed at once
// (SIGKILL): another instance finishes archiving them, and all are in
// Firestore and in scrollback afterwards, each once.
func TestArchiveSurvivesAKilledInstance(t *testing.T) {
	srv := redistest.Start(t)
	env := firestoreEnv(t, srv.Addr)
	env["HISTORY_SIZE"] = "3" // scrollback, not the hot window, shows most
	env["FIRESTORE_EMULATOR_HOST"] = firestoretest.Host(t)
	killable, proc := startProcess(t, buildChat(t), env)
	survivor := startInstance(t, env)
	room := testkit.Room()
	ann := chattest.NewUser(t, killable)
	ann.SignIn("Ann", room)
	for i := range 10 {
		post(t, ann, room, fmt.Sprint("m", i+1))
	}
	if err := proc.Kill(); err != nil {
		t.Fatal(err)
	}

	fs, err := firestore.NewClient(context.Background(), env["FIRESTORE_PROJECT"])
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A killed consumer's entries pass to another after 10 s idle.
	testkit.WaitFor(t, ctx, "the 10 messages in Firestore", func() bool {
		docs, err := fs.Collection("rooms").Doc(room).Collection("messages").Documents(ctx).GetAll()
		return err == nil && len(docs) == 10
	})
	reader := chattest.NewUser(t, survivor.URL)
	reader.SignIn("Reader", room)
	if seqs, start := walkBack(t, reader, room); !slices.Equal(seqs, oneTo(10)) || !start {
		t.Fatalf("scrollback shows %v (start said: %v), want 1..10 once each", seqs, start)
	}
}

// With Firestore stopped, sends still work, /ready stays 200, scrollback
// past the hot window says plainly that older messages are unavailable, a
// metric and the log say the archive is behind; once Firestore is back the
// archive catches up and scrollback reaches message 1.
func TestFirestoreDown(t *testing.T) {
	emu := firestoretest.Start(t)
	t.Setenv("FIRESTORE_EMULATOR_HOST", emu.Host)
	env := metricsEnv(burst(sharedEnv(redistest.Start(t).Addr))) // a Redis of its own: see firestoreEnv
	env["HISTORY_SIZE"] = "20"
	env["FIRESTORE_PROJECT"] = firestoretest.Project()
	inst := startInstance(t, env)
	room := testkit.Room()
	ann := chattest.NewUser(t, inst.URL)
	ann.SignIn("Ann", room)

	emu.Stop()
	for i := range 30 {
		post(t, ann, room, fmt.Sprint("m", i+1))
	}
	if resp, _ := ann.Get("/ready"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/ready with Firestore down: %d, want 200 (Redis is what serving needs)", resp.StatusCode)
	}
	_, page := ann.Get("/rooms/" + room)
	m := earlierHref.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("the room page has no way to earlier messages")
	}
	resp, page := ann.Get("/rooms/" + room + "?before=" + m[1])
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(page, "Older messages are unavailable right now") {
		t.Fatalf("scrollback with Firestore down: %d\n%s", resp.StatusCode, page)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	metrics := scraper(t, inst)
	testkit.WaitFor(t, ctx, "the archive said to be behind", func() bool {
		return scrape(t, metrics)["chat_archive_backlog"] >= 30 && slices.ContainsFunc(inst.Logs(), func(l string) bool {
			return strings.Contains(l, "the archive is behind")
		})
	})

	emu.Restart()
	waitArchived(t, env, room, 30)
	if seqs, start := walkBack(t, ann, room); !slices.Equal(seqs, oneTo(30)) || !start {
		t.Fatalf("once the archive caught up, walking back shows %v (start said: %v), want 1..30", seqs, start)
	}
	testkit.WaitFor(t, ctx, "the backlog metric at 0", func() bool { return scrape(t, metrics)["chat_archive_backlog"] == 0 })
}

// The same walk in Chromium, through htmx: "Earlier messages" loads each
// older page above the list in place, the message the reader was looking
// at stays where it was, and the top says when the first is reached.
func TestBrowserScrollback(t *testing.T) {
	env := firestoreEnv(t, redistest.Start(t).Addr)
	a, b := startInstance(t, env), startInstance(t, env)
	room := testkit.Room()
	ann := chattest.NewUser(t, a.URL)
	ann.SignIn("Ann", room)
	for i := range 75 {
		post(t, ann.On([]string{a.URL, b.URL}[i%2]), room, fmt.Sprint("m", i+1))
	}
	waitArchived(t, env, room, 75)

	p := newTab(t, newBrowser(t))
	p.signIn(b.URL, "Reader", room)
	p.waitJS(connected)
	const ids = `[...document.querySelectorAll('#scrollback > li, #messages > li')].map(li => Number(li.id.slice(4)))`
	if got := evalJS[[]int](p, ids); !slices.Equal(got, oneTo(75)[55:]) {
		t.Fatalf("the room page shows %v, want 56..75", got)
	}
	for page := 0; !evalJS[bool](p, `document.querySelector('#earlier-wrap').textContent.includes('This is the start of the room.')`); page++ {
		if page > 5 {
			t.Fatal("no start of the room after 5 pages")
		}
		// The reader scrolls up to the link first, as a person would.
		evalJS[bool](p, `(document.querySelector('.log').scrollTop = 0, true)`)
		top := evalJS[int](p, `Number(document.querySelector('#scrollback > li, #messages > li').id.slice(4))`)
		before := evalJS[float64](p, fmt.Sprintf(`document.querySelector('#msg-%d .text').getBoundingClientRect().top`, top))
		p.do(chromedp.Click(chromedp.CSS("#earlier")))
		p.waitJS(fmt.Sprintf(`document.querySelector('#scrollback > li, #messages > li').id !== 'msg-%d'`, top))
		after := evalJS[float64](p, fmt.Sprintf(`document.querySelector('#msg-%d .text').getBoundingClientRect().top`, top))
		if d := after - before; d < -2 || d > 2 {
			t.Errorf("page %d: the message read moved by %.0f px", page, d)
		}
	}
	if got := evalJS[[]int](p, ids); !slices.Equal(got, oneTo(75)) {
		t.Fatalf("after walking back the page shows %v, want 1..75 once each", got)
	}
	// The older messages look like the newer ones: no list numbers, the
	// same spacing.
	if same := evalJS[bool](p, `(() => {
		const a = getComputedStyle(document.querySelector('#scrollback > li')), b = getComputedStyle(document.querySelector('#messages > li'));
		return getComputedStyle(document.querySelector('#scrollback')).listStyleType === 'none' && a.padding === b.padding && a.margin === b.margin;
	})()`); !same {
		t.Error("the messages loaded above are styled unlike those below them")
	}
}
