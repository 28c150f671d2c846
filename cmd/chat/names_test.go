package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
)

// Twenty people sign in as "Alice" in one room at the same moment, over
// two instances: exactly one gets the name; the others are told it is
// taken, and get no cookie.
func TestSimultaneousSignInsGiveANameOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, st store) {
		env := st.shared()
		a, b := startInstance(t, env), startInstance(t, env)
		room := testkit.Room()
		users := make([]*chattest.User, 20)
		for i := range users {
			users[i] = chattest.NewUser(t, []string{a.URL, b.URL}[i%2])
		}
		var won, refused atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, u := range users {
			wg.Go(func() {
				<-start
				resp := u.PostForm("/signin", url.Values{"name": {"Alice"}, "room": {room}})
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusSeeOther:
					won.Add(1)
				case http.StatusUnprocessableEntity:
					refused.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if won.Load() != 1 || refused.Load() != 19 {
			t.Fatalf("%d sign-ins got the name and %d were refused, want 1 and 19", won.Load(), refused.Load())
		}
	})
}

// A session may start (write the first message in) 20 rooms an hour, and
// one address 100: every room is kept for ROOM_TTL after its last message.
// Past that, a first message is refused and nothing is stored; writing in a
// room that has messages goes on.
func TestNewRoomsAreBounded(t *testing.T) {
	inst := startInstance(t, burst(sharedEnv("")))
	post := func(u *chattest.User, room, text string) (int, string) {
		t.Helper()
		resp := u.PostForm("/rooms/"+room+"/messages", url.Values{"text": {text}, "nonce": {text}})
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	var rooms []string
	started := 0
	var refusal string
	// Six sessions from one address: each may start 20, the address 100.
	for s := range 6 {
		u := chattest.NewUser(t, inst.URL)
		u.SignIn(fmt.Sprint("starter ", s), testkit.Room())
		for i := range 21 {
			room := testkit.Room()
			code, body := post(u, room, fmt.Sprint("first ", s, " ", i))
			switch {
			case code == http.StatusSeeOther:
				started++
				rooms = append(rooms, room)
			case code == http.StatusUnprocessableEntity && strings.Contains(body, "started many new rooms"):
				refusal = body
				if _, page := u.Get("/rooms/" + room); strings.Contains(page, `<li id="msg-`) {
					t.Fatalf("a refused first message was stored in %s", room)
				}
			default:
				t.Fatalf("first message %d of session %d: %d", i, s, code)
			}
		}
		if s == 0 && started != 20 {
			t.Fatalf("one session started %d rooms, want 20", started)
		}
	}
	if started != 100 || refusal == "" {
		t.Fatalf("six sessions from one address started %d rooms, want 100", started)
	}
	// A room that has messages still takes them.
	u := chattest.NewUser(t, inst.URL)
	u.SignIn("late", rooms[0])
	if code, _ := post(u, rooms[0], "in an existing room"); code != http.StatusSeeOther {
		t.Fatalf("a message in a room with messages: %d, want 303", code)
	}
}

// The room page's history is bounded in bytes as well as in count: a room
// of a hundred messages of 2,000 "<" (8 KB each as HTML) renders far less
// than the 800 KB all of them would.
func TestRoomPageIsBoundedInBytes(t *testing.T) {
	inst := startInstance(t, burst(sharedEnv("")))
	room := testkit.Room()
	u := chattest.NewUser(t, inst.URL)
	u.SignIn("Ann", room)
	for i := range 100 {
		resp := u.PostForm("/rooms/"+room+"/messages", url.Values{"text": {strings.Repeat("<", 1990) + fmt.Sprint(i)}, "nonce": {fmt.Sprint(i)}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("post %d: %d", i, resp.StatusCode)
		}
	}
	resp, page := u.Get("/rooms/" + room)
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	if len(page) > 200<<10 || !strings.Contains(page, `id="msg-100"`) {
		t.Fatalf("the room page is %d bytes (newest shown: %v); want the newest messages within 200 KB", len(page), strings.Contains(page, `id="msg-100"`))
	}
	t.Logf("room page: %d bytes", len(page))
}
