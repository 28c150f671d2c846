package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
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

// socket is a test client of the room's WebSocket.
type socket struct {
	t    *testing.T
	conn *websocket.Conn
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
	conn.SetReadLimit(1 << 20)
	s := &socket{t: u.t, conn: conn}
	u.t.Cleanup(func() { conn.CloseNow() })
	return s
}

// next returns the next frame, failing the test after 10 s.
func (s *socket) next() string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := s.conn.Read(ctx)
	if err != nil {
		s.t.Fatalf("read frame: %v", err)
	}
	return string(data)
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := s.conn.Read(ctx); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}
