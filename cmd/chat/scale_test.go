package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// burst lets the instances of env send as fast as tests like.
func burst(env map[string]string) map[string]string {
	env["HISTORY_SIZE"] = "1000"
	env["SEND_RATE"] = "10000"
	env["SEND_BURST"] = "10000"
	return env
}

// storedSeqs returns the seqs in the room's Redis list, oldest first.
func storedSeqs(t *testing.T, rdb redis.UniversalClient, room string) ([]int, []string) {
	t.Helper()
	// Right after a failover the client may still know the dead node as
	// the room's owner: it learns the new one on its next slot map.
	var entries []string
	var err error
	deadline := time.Now().Add(10 * time.Second)
	retry := time.NewTicker(100 * time.Millisecond)
	defer retry.Stop()
	for {
		entries, err = rdb.LRange(context.Background(), "chat:{"+room+"}:history", 0, -1).Result()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		if cc, ok := rdb.(*redis.ClusterClient); ok {
			cc.ReloadState(context.Background())
		}
		<-retry.C
	}
	var seqs []int
	var texts []string
	for _, e := range entries {
		var m struct {
			Seq  int
			Text string
		}
		if err := json.Unmarshal([]byte(e), &m); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, m.Seq)
		texts = append(texts, m.Text)
	}
	return seqs, texts
}

// Joiners arrive while two senders on two instances send without pause:
// every client ends with 1..N, no gap and nothing twice, as Redis has it.
func TestJoinersDuringSendsSeeEveryMessageOnce(t *testing.T) {
	forEachStore(t, testJoinersDuringSendsSeeEveryMessageOnce)
}

func testJoinersDuringSendsSeeEveryMessageOnce(t *testing.T, st store) {
	env := burst(st.shared())
	insts := []*instance{startInstance(t, env), startInstance(t, env)}
	room := testkit.Room()
	const perSender, joiners = 150, 6
	const total = 2 * perSender
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	type result struct {
		who string
		v   *chattest.View
		err error
	}
	results := make(chan result, 2+joiners)
	watch := func(who string, s *chattest.Socket) {
		go func() {
			v, err := s.Watch(ctx, total)
			results <- result{who, v, err}
		}()
	}

	sent := make(chan struct{}, total)
	sendErrs := make(chan error, 2)
	for i, inst := range insts {
		u := chattest.NewUser(t, inst.URL)
		u.SignIn(fmt.Sprintf("Sender%d", i), room)
		s := u.Dial(room)
		watch(fmt.Sprintf("sender %d", i), s)
		go func() {
			// Paced, so that joiners arrive in the middle of the stream.
			pace := time.NewTicker(2 * time.Millisecond)
			defer pace.Stop()
			for j := range perSender {
				<-pace.C
				if err := s.Conn.Write(ctx, websocket.MessageText, chattest.Frame(fmt.Sprintf("s%d-%d", i, j), fmt.Sprintf("n%d", j))); err != nil {
					sendErrs <- err
					return
				}
				sent <- struct{}{}
			}
			sendErrs <- nil
		}()
	}
	// A joiner arrives every total/(joiners+1) messages, on either instance.
	for n, joined := 0, 0; joined < joiners; {
		select {
		case <-sent:
			n++
		case <-ctx.Done():
			t.Fatal("senders stalled")
		}
		if n >= (joined+1)*total/(joiners+1) {
			u := chattest.NewUser(t, insts[joined%2].URL)
			u.SignIn(fmt.Sprintf("Joiner%d", joined), room)
			watch(fmt.Sprintf("joiner %d", joined), u.Dial(room))
			joined++
		}
	}
	for range 2 {
		if err := <-sendErrs; err != nil {
			t.Fatalf("send: %v", err)
		}
	}
	midStream := 0
	for range 2 + joiners {
		r := <-results
		if r.err != nil {
			t.Fatalf("%s: %v (view %v)", r.who, r.err, r.v.Seqs)
		}
		if len(r.v.Dups) > 0 || !r.v.Contiguous(total) {
			t.Errorf("%s shows %v, duplicates %v; want 1..%d once each", r.who, r.v.Seqs, r.v.Dups, total)
		}
		if h := r.v.Histories[0]; strings.HasPrefix(r.who, "joiner") && h > 0 && h < total {
			midStream++
		}
	}
	t.Logf("%d of %d joiners joined in the middle of the stream", midStream, joiners)
	if midStream == 0 {
		t.Error("no joiner arrived while messages were being sent: the test did not test the race")
	}
	seqs, _ := storedSeqs(t, st.rdb, room)
	if v := (&chattest.View{Seqs: seqs}); !v.Contiguous(total) {
		t.Errorf("Redis holds %v, want 1..%d", seqs, total)
	}
}

// A socket that drops misses three messages; the first frame after it
// reconnects, on another instance, carries all three, each once.
func TestReconnectCatchesUp(t *testing.T) { forEachStore(t, testReconnectCatchesUp) }

func testReconnectCatchesUp(t *testing.T, st store) {
	env := burst(st.shared())
	a, b := startInstance(t, env), startInstance(t, env)
	room := testkit.Room()
	ann, annWS := chattest.JoinAs(t, a.URL, "Ann", room)
	_, bobWS := chattest.JoinAs(t, b.URL, "Bob", room)
	bobWS.Send("before", "n0")
	annWS.Until(`id="msg-1"`)

	annWS.Conn.CloseNow()
	for i := 1; i <= 3; i++ {
		bobWS.Send(fmt.Sprintf("missed %d", i), fmt.Sprintf("n%d", i))
		bobWS.Until(fmt.Sprintf(`id="msg-%d"`, i+1))
	}
	back := ann.On(b.URL).Dial(room)
	first := back.Next()
	if !chattest.IsHistory(first) {
		t.Fatalf("first frame after the reconnect is not the history: %s", first)
	}
	v := &chattest.View{}
	v.Apply(first)
	if !v.Contiguous(4) || len(v.Dups) > 0 {
		t.Fatalf("history after the reconnect shows %v (dups %v), want 1..4", v.Seqs, v.Dups)
	}
	for i := 1; i <= 3; i++ {
		if strings.Count(first, fmt.Sprintf("missed %d<", i)) != 1 {
			t.Errorf("message %q is not in the history frame exactly once", fmt.Sprintf("missed %d", i))
		}
	}
}

// roundRobin is a load balancer for tests: each request goes to the next
// backend; it remembers which backend served each client's WebSocket.
type roundRobin struct {
	backends []*url.URL
	next     atomic.Uint64 // for WebSockets; other requests go to the first

	mu     sync.Mutex
	served map[string]*url.URL // X-Test-Client -> backend
}

func newRoundRobin(t *testing.T, urls ...string) (*roundRobin, string) {
	rr := &roundRobin{served: map[string]*url.URL{}}
	for _, u := range urls {
		p, _ := url.Parse(u)
		rr.backends = append(rr.backends, p)
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			be := rr.backends[0]
			if r.In.Header.Get("Upgrade") == "websocket" {
				be = rr.backends[rr.next.Add(1)%uint64(len(rr.backends))]
			}
			r.SetURL(be)
			r.Out.Host = r.In.Host // keep the browser's host: Origin checks compare with it
			if id := r.In.Header.Get("X-Test-Client"); id != "" {
				rr.mu.Lock()
				rr.served[id] = be
				rr.mu.Unlock()
			}
		},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return rr, srv.URL
}

func (rr *roundRobin) backendOf(id string) string {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.served[id].String()
}

// dialAs dials through the balancer, naming the client, retrying as htmx
// does while the handshake fails (a backend that is gone answers 502).
func dialAs(t *testing.T, u *chattest.User, room, id string) *chattest.Socket {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := u.Header()
	h.Set("X-Test-Client", id)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, _, err := websocket.Dial(ctx, u.SocketURL(room), &websocket.DialOptions{HTTPHeader: h})
		if err == nil {
			return chattest.NewSocket(t, conn)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("dial %s through the balancer: %v", room, err)
		case <-tick.C:
		}
	}
}

// Draining: one of two instances behind a balancer shuts down. Its sockets
// get 1012 and it is gone within 8 s; its clients reconnect through the
// balancer to the other and find every message, including those sent
// during the drain.
func TestDrainMovesClientsToTheOtherInstance(t *testing.T) {
	forEachStore(t, testDrainMovesClientsToTheOtherInstance)
}

func testDrainMovesClientsToTheOtherInstance(t *testing.T, st store) {
	env := burst(st.shared())
	a, b := startInstance(t, env), startInstance(t, env)
	rr, lb := newRoundRobin(t, a.URL, b.URL)
	room := testkit.Room()

	users := map[string]*chattest.User{}
	socks := map[string]*chattest.Socket{}
	for _, name := range []string{"Ann", "Bob", "Cid", "Dee"} {
		u := chattest.NewUser(t, lb)
		u.SignIn(name, room)
		users[name] = u
		socks[name] = dialAs(t, u, room, name)
		socks[name].Next()
	}
	onA := func(name string) bool { return rr.backendOf(name) == a.URL }
	var drained, staying []string
	for name := range socks {
		if onA(name) {
			drained = append(drained, name)
		} else {
			staying = append(staying, name)
		}
	}
	if len(drained) == 0 || len(staying) == 0 {
		t.Fatalf("the balancer put %v on A and %v on B; want some on each", drained, staying)
	}
	sender := socks[staying[0]]
	sender.Send("before the drain", "n1")
	sender.Until(`id="msg-1"`)

	took := make(chan time.Duration, 1)
	go func() { took <- a.stop() }()
	for _, name := range drained {
		if code := socks[name].CloseStatus(); code != websocket.StatusServiceRestart {
			t.Fatalf("%s's socket on the draining instance closed with %v, want 1012", name, code)
		}
	}
	sender.Send("during the drain", "n2")
	sender.Until(`id="msg-2"`)
	if d := <-took; d > 8*time.Second {
		t.Fatalf("the drain took %v, want under 8 s", d)
	}
	for _, name := range drained {
		s := dialAs(t, users[name], room, name+"-again")
		if rr.backendOf(name+"-again") != b.URL {
			t.Fatalf("%s reconnected to %s, want the remaining instance", name, rr.backendOf(name+"-again"))
		}
		v := &chattest.View{}
		v.Apply(s.Next())
		if !v.Contiguous(2) {
			t.Fatalf("%s sees %v after reconnecting, want 1..2", name, v.Seqs)
		}
	}
	sender.Send("after the drain", "n3")
	for _, name := range staying {
		socks[name].Until(`id="msg-3"`)
	}
}

// While Redis is down the service says so and refuses sends visibly,
// storing nothing; when it is back, messages flow across instances again
// within 5 s, with no restart.
func TestRedisOutage(t *testing.T) {
	srv := redistest.StartPersistent(t)
	env := burst(sharedEnv(srv.Addr))
	a, b := startInstance(t, env), startInstance(t, env)
	room := testkit.Room()
	ann, annWS := chattest.JoinAs(t, a.URL, "Ann", room)
	_, bobWS := chattest.JoinAs(t, b.URL, "Bob", room)
	annWS.Send("before", "n0")
	annWS.UntilAll(`id="msg-1"`, `data-outcome="sent"`)
	bobWS.Until(`id="msg-1"`)

	srv.Stop()
	// Every page is told that sending is unavailable, before anyone tries.
	for _, ws := range []*chattest.Socket{annWS, bobWS} {
		ws.Until(`<p data-signal="availability" data-state="down">`)
	}
	for _, inst := range []*instance{a, b} {
		if resp, _ := chattest.NewUser(t, inst.URL).Get("/ready"); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("/ready with Redis down: %d, want 503", resp.StatusCode)
		}
		if resp, _ := chattest.NewUser(t, inst.URL).Get("/health"); resp.StatusCode != http.StatusOK {
			t.Fatalf("/health with Redis down: %d, want 200", resp.StatusCode)
		}
	}
	annWS.Send("lost in the outage", "n1")
	if f := annWS.Until(`data-signal="reply"`); !strings.Contains(f, "Not sent") || !strings.Contains(f, `data-nonce="n1" data-outcome="unavailable"`) {
		t.Fatalf("sender got %s, want a visible 'not sent' error that the page may send again", f)
	}
	resp := ann.PostForm("/rooms/"+room+"/messages", url.Values{"text": {"posted in the outage"}, "nonce": {"p1"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("no-JS post with Redis down: %d, want 503", resp.StatusCode)
	}
	// Refused sends and sockets that cannot join leave nothing running.
	before := runtime.NumGoroutine()
	for i := range 10 {
		annWS.Send("refused", fmt.Sprintf("r%d", i))
		annWS.Until(`data-signal="reply"`)
		if code := ann.Dial(room).CloseStatus(); code != websocket.StatusTryAgainLater {
			t.Fatalf("a socket that cannot join closed with %v, want 1013 (htmx retries)", code)
		}
	}
	settle := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+5 {
		if time.Now().After(settle) {
			t.Fatalf("goroutines grew from %d to %d during the outage", before, runtime.NumGoroutine())
		}
		time.Sleep(10 * time.Millisecond) // polling a counter: there is nothing to wait on
	}

	srv.Restart()
	back := time.Now()
	annToldOK := false
	for i := 0; ; i++ {
		annWS.Send("after", fmt.Sprintf("after-%d", i))
		f := ""
		for !strings.Contains(f, `data-signal="reply"`) {
			f = annWS.Next()
			annToldOK = annToldOK || strings.Contains(f, `data-state="ok"`)
		}
		if strings.Contains(f, `data-outcome="sent"`) {
			break // accepted: the error was cleared
		}
		if time.Since(back) > 5*time.Second {
			t.Fatal("sends still refused 5 s after Redis came back")
		}
	}
	// Both pages are told that sending works again.
	bobWS.UntilAll(">after<", `data-state="ok"`)
	if !annToldOK {
		annWS.Until(`data-state="ok"`)
	}
	if d := time.Since(back); d > 5*time.Second {
		t.Fatalf("messages flowed again after %v, want within 5 s", d)
	}
	if resp, _ := chattest.NewUser(t, a.URL).Get("/ready"); resp.StatusCode != http.StatusOK {
		t.Fatalf("/ready after Redis came back: %d", resp.StatusCode)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	_, texts := storedSeqs(t, rdb, room)
	if strings.Join(texts, "|") != "before|after" {
		t.Fatalf("Redis holds %q, want only the messages that were accepted", texts)
	}
}

// buildChat builds the service's binary for tests that must kill it.
func buildChat(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "chat")
	cmd := exec.Command("go", "build", "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// startProcess runs the binary as its own process, which the test may kill.
func startProcess(t *testing.T, bin string, env map[string]string) (base string, proc *os.Process) {
	t.Helper()
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var rec struct{ Message, Addr string }
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Message == "listening" {
				addr <- rec.Addr
			}
		}
	}()
	select {
	case a := <-addr:
		return "http://" + a, cmd.Process
	case <-time.After(15 * time.Second):
		t.Fatal("the process did not listen within 15 s")
	}
	return "", nil
}

// membersIn returns the names in a pushed member list, or false if the
// frame holds none.
// memberItem is one name of a member list: its data-name.
var memberItem = regexp.MustCompile(`<li data-name="([^"]*)">`)

func membersIn(frame string) ([]string, bool) {
	// Of several lists in one message, the page keeps the last.
	i := strings.LastIndex(frame, `<ul id="members"`)
	if i < 0 {
		return nil, false
	}
	list := frame[i:]
	list = list[:strings.Index(list, "</ul>")]
	var names []string
	for _, m := range memberItem.FindAllStringSubmatch(list, -1) {
		names = append(names, html.UnescapeString(m[1]))
	}
	return names, true
}

// untilMembers reads frames until a member list equals want, for at most
// 30 s, the longest docs/SPEC.md lets a dead instance's users stay listed.
func untilMembers(t *testing.T, s *chattest.Socket, want ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last []string
	for {
		f, err := s.Read(ctx)
		if err != nil {
			t.Fatalf("members never became %v (last %v): %v", want, last, err)
		}
		if names, ok := membersIn(f); ok {
			if last = names; strings.Join(names, ",") == strings.Join(want, ",") {
				return
			}
		}
	}
}

// quietUntilSentinel asserts that no entry or leave notice arrives until
// quiet has passed, then that a sentinel message comes through.
func quietUntilSentinel(t *testing.T, watcher, sender *chattest.Socket, quiet time.Duration, nonce string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), quiet)
	defer cancel()
	for {
		f, err := watcher.Read(ctx)
		if err != nil {
			break // quiet has passed (the read was cut off)
		}
		if strings.Contains(f, "entered the room") || strings.Contains(f, "left the room") {
			t.Fatalf("got a notice during a reload: %s", f)
		}
	}
	sender.Send("sentinel "+nonce, nonce)
	for {
		f := watcher.Next()
		if strings.Contains(f, "entered the room") || strings.Contains(f, "left the room") {
			t.Fatalf("got a notice during a reload: %s", f)
		}
		if strings.Contains(f, "sentinel "+nonce) {
			return
		}
	}
}

// Presence across instances: two tabs count once, a reload makes no noise,
// and the users of a SIGKILLed instance leave the list within 30 s.
func TestPresenceAcrossInstances(t *testing.T) { forEachStore(t, testPresenceAcrossInstances) }

func testPresenceAcrossInstances(t *testing.T, st store) {
	env := burst(st.shared())
	a := startInstance(t, env)
	killable, proc := startProcess(t, buildChat(t), env)
	room := testkit.Room()

	bob := chattest.NewUser(t, a.URL)
	bob.SignIn("Bob", room)
	bobWS := bob.Dial(room)
	ann := chattest.NewUser(t, a.URL)
	ann.SignIn("Ann", room)
	annTab1 := ann.Dial(room)
	annTab2 := ann.On(killable).Dial(room)
	untilMembers(t, bobWS, "Ann", "Bob")

	// A reload: the tab's socket closes and a new one opens.
	annTab1.Conn.CloseNow()
	annTab1 = ann.Dial(room)
	// The quiet period is the leave grace plus a presence beat and margin:
	// a notice would have come by then.
	quietUntilSentinel(t, bobWS, annTab1, 12*time.Second, "s1")

	carol := chattest.NewUser(t, killable)
	carol.SignIn("Carol", room)
	carolWS := carol.Dial(room)
	carolWS.Next()
	untilMembers(t, bobWS, "Ann", "Bob", "Carol")
	_ = annTab2

	killed := time.Now()
	if err := proc.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Ann is still here through her other tab on the live instance.
	untilMembers(t, bobWS, "Ann", "Bob")
	if d := time.Since(killed); d > 30*time.Second {
		t.Fatalf("Carol left the list %v after her instance died, want within 30 s", d)
	}
}
