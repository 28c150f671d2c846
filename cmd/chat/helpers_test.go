package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime/redistest"
)

// instance is a chat service started in-process through run, as main does.
type instance struct {
	URL  string
	stop func() time.Duration // cancels run's context; returns how long run took to return

	mu   sync.Mutex
	logs []string
}

// startInstance runs the service with env as its environment, on a free
// loopback port, until the test ends.
func startInstance(t *testing.T, env map[string]string) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	inst := &instance{}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			inst.mu.Lock()
			inst.logs = append(inst.logs, line)
			inst.mu.Unlock()
			var rec struct{ Message, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Message == "listening" {
				addr <- rec.Addr
			}
		}
	}()
	done := make(chan error, 1)
	getenv := func(k string) string { return env[k] }
	go func() {
		done <- run(ctx, []string{"chat", "-listen", "127.0.0.1:0"}, getenv, pw)
		pw.Close()
	}()
	select {
	case a := <-addr:
		inst.URL = "http://" + a
	case err := <-done:
		cancel()
		t.Fatalf("run returned before listening: %v\n%s", err, strings.Join(inst.Logs(), "\n"))
	case <-time.After(15 * time.Second):
		cancel()
		t.Fatal("instance did not start listening within 15 s")
	}
	var once sync.Once
	var took time.Duration
	inst.stop = func() time.Duration {
		once.Do(func() {
			start := time.Now()
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("run did not return within 15 s of its context ending")
			}
			took = time.Since(start)
		})
		return took
	}
	t.Cleanup(func() { inst.stop() })
	return inst
}

func (i *instance) Logs() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]string(nil), i.logs...)
}

// sharedEnv is the environment of instances that form one deployment.
func sharedEnv(redisAddr string) map[string]string {
	env := map[string]string{"SESSION_SECRET": "test-secret-" + rand.Text()}
	if redisAddr != "" {
		host, port, _ := strings.Cut(redisAddr, ":")
		env["REDISHOST"], env["REDISPORT"] = host, port
	}
	return env
}

// store is the Redis, one server or a cluster, that a test's instances
// share, with a client to read what they stored.
type store struct {
	env map[string]string
	rdb redis.UniversalClient
}

// forEachStore runs body on one Redis and on a Redis Cluster, as subtests.
func forEachStore(t *testing.T, body func(t *testing.T, st store)) {
	t.Run("redis", func(t *testing.T) {
		addr := redistest.Addr(t)
		host, port, _ := strings.Cut(addr, ":")
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		t.Cleanup(func() { rdb.Close() })
		body(t, store{env: map[string]string{"REDISHOST": host, "REDISPORT": port}, rdb: rdb})
	})
	t.Run("cluster", func(t *testing.T) {
		seeds := redistest.ClusterAddrs(t)
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: seeds})
		t.Cleanup(func() { rdb.Close() })
		body(t, store{env: map[string]string{"REDIS_CLUSTER": strings.Join(seeds, ",")}, rdb: rdb})
	})
}

// shared is the environment of instances that form one deployment on st.
func (st store) shared() map[string]string {
	env := sharedEnv("")
	maps.Copy(env, st.env)
	return env
}

func uniqueRoom() string { return "room-" + strings.ToLower(rand.Text()[:10]) }

// user is a browser-less client with its own cookie jar.
type user struct {
	t      *testing.T
	base   string
	client *http.Client
}

func newUser(t *testing.T, base string) *user {
	jar, _ := cookiejar.New(nil)
	return &user{t: t, base: base, client: &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// on returns the same user (same cookies) talking to another instance.
func (u *user) on(base string) *user {
	v := *u
	v.base = base
	jar, _ := cookiejar.New(nil)
	src, _ := url.Parse(u.base)
	dst, _ := url.Parse(base)
	jar.SetCookies(dst, u.client.Jar.Cookies(src))
	v.client = &http.Client{Jar: jar, Timeout: u.client.Timeout, CheckRedirect: u.client.CheckRedirect}
	return &v
}

func (u *user) postForm(path string, form url.Values) *http.Response {
	u.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		u.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.base)
	resp, err := u.client.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	return resp
}

func (u *user) get(path string) (*http.Response, string) {
	u.t.Helper()
	resp, err := u.client.Get(u.base + path)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func (u *user) signIn(name, room string) {
	u.t.Helper()
	resp := u.postForm("/signin", url.Values{"name": {name}, "room": {room}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		u.t.Fatalf("sign in %q to %q: status %d", name, room, resp.StatusCode)
	}
}

// joinAs signs name in to room on base and opens the room's socket, past
// its history frame.
func joinAs(t *testing.T, base, name, room string) (*user, *socket) {
	t.Helper()
	u := newUser(t, base)
	u.signIn(name, room)
	s := u.dial(room)
	s.next()
	return u, s
}

// socket is a test client of the room's WebSocket. A goroutine reads its
// frames into a channel, so that waiting for a frame never closes the
// socket (a Read whose context ends does).
type socket struct {
	t      *testing.T
	conn   *websocket.Conn
	frames chan string // closed when the socket is
	err    error       // why it closed; read it only after frames is closed
}

func newSocket(t *testing.T, conn *websocket.Conn) *socket {
	conn.SetReadLimit(1 << 20)
	s := &socket{t: t, conn: conn, frames: make(chan string, 4096)}
	go func() {
		defer close(s.frames)
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				s.err = err
				return
			}
			s.frames <- string(data)
		}
	}()
	t.Cleanup(func() { conn.CloseNow() })
	return s
}

func (u *user) dial(room string) *socket {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	base, _ := url.Parse(u.base)
	h := http.Header{"Origin": {u.base}}
	for _, c := range u.client.Jar.Cookies(base) {
		h.Add("Cookie", c.String())
	}
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(u.base, "http")+"/rooms/"+room+"/ws", &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		u.t.Fatalf("dial %s: %v (%v)", room, err, resp)
	}
	return newSocket(u.t, conn)
}

// read returns the next frame, or an error when ctx ends or the socket
// closes; it may be used off the test goroutine.
func (s *socket) read(ctx context.Context) (string, error) {
	select {
	case f, ok := <-s.frames:
		if !ok {
			return "", fmt.Errorf("socket closed: %w", s.err)
		}
		return f, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// next returns the next frame, failing the test after 10 s.
func (s *socket) next() string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := s.read(ctx)
	if err != nil {
		s.t.Fatalf("read frame: %v", err)
	}
	return f
}

// until reads frames until one contains want, and returns it.
func (s *socket) until(want string) string {
	s.t.Helper()
	for {
		if f := s.next(); strings.Contains(f, want) {
			return f
		}
	}
}

// untilAll reads frames until each of wants has been in one, and returns
// the frame each was found in.
func (s *socket) untilAll(wants ...string) map[string]string {
	s.t.Helper()
	found := map[string]string{}
	for len(found) < len(wants) {
		f := s.next()
		for _, w := range wants {
			if _, ok := found[w]; !ok && strings.Contains(f, w) {
				found[w] = f
			}
		}
	}
	return found
}

// send writes the JSON frame htmx's ws extension sends for the form.
func (s *socket) send(text, nonce string) {
	s.t.Helper()
	frame, _ := json.Marshal(map[string]any{"text": text, "nonce": nonce, "headers": map[string]string{"HX-Request": "true"}})
	s.sendRaw(frame)
}

func (s *socket) sendRaw(frame []byte) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.conn.Write(ctx, websocket.MessageText, frame); err != nil {
		s.t.Fatalf("write frame: %v", err)
	}
}

// closeStatus reads until the socket closes and returns its close status.
func (s *socket) closeStatus() websocket.StatusCode {
	s.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case _, ok := <-s.frames:
			if !ok {
				return websocket.CloseStatus(s.err)
			}
		case <-timeout:
			s.t.Fatal("the socket did not close within 10 s")
		}
	}
}

var (
	historyFrame = regexp.MustCompile(`<ol id="messages" hx-swap-oob="innerMorph">`)
	itemID       = regexp.MustCompile(`<li id="msg-(\d+)"`)
)

// view is what a page shows in #messages, rebuilt from the frames it got:
// a history frame replaces the list, a message frame appends to it.
type view struct {
	seqs      []int
	dups      []int // seqs appended while already shown
	histories []int // how many messages each history frame held
}

// apply applies one WebSocket message as htmx does: its fragments in
// order, so a message appended before a history in the same message is
// replaced by that history, and one after it is added to it.
func (v *view) apply(frame string) {
	for {
		h := historyFrame.FindStringIndex(frame)
		if h == nil {
			v.append(frame)
			return
		}
		v.append(frame[:h[0]])
		rest := frame[h[1]:]
		end := strings.Index(rest, "</ol>")
		if end < 0 {
			end = len(rest)
		}
		ids := itemID.FindAllStringSubmatch(rest[:end], -1)
		v.seqs = v.seqs[:0]
		v.histories = append(v.histories, len(ids))
		v.append(rest[:end])
		frame = rest[end:]
	}
}

// append adds the message items of a part of a frame to the view.
func (v *view) append(part string) {
	for _, m := range itemID.FindAllStringSubmatch(part, -1) {
		n, _ := strconv.Atoi(m[1])
		if slices.Contains(v.seqs, n) {
			v.dups = append(v.dups, n)
			continue
		}
		v.seqs = append(v.seqs, n)
	}
}

func (v *view) has(seq int) bool { return slices.Contains(v.seqs, seq) }

// contiguous reports whether the view shows exactly 1..n in order.
func (v *view) contiguous(n int) bool {
	if len(v.seqs) != n {
		return false
	}
	for i, s := range v.seqs {
		if s != i+1 {
			return false
		}
	}
	return true
}

// watch applies every frame to a view until the view shows seq, or ctx ends.
func (s *socket) watch(ctx context.Context, seq int) (*view, error) {
	v := &view{}
	return v, s.feed(ctx, v, seq)
}

// feed applies frames to v until it shows seq.
func (s *socket) feed(ctx context.Context, v *view, seq int) error {
	for !v.has(seq) {
		f, err := s.read(ctx)
		if err != nil {
			return err
		}
		v.apply(f)
	}
	return nil
}
