package chattest

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// User is a browser-less client of one instance, with a cookie jar of its
// own. Its requests do not follow redirects, so that a test sees the 303s
// of docs/SPEC.md. Its methods fail the test on a transport error.
type User struct {
	t testing.TB
	// Base is the instance's URL, such as "http://127.0.0.1:8080".
	Base string
	// Client carries the user's cookies.
	Client *http.Client
	// extra is sent with every request and handshake, as a proxy in front
	// adds it (Identity-Aware Proxy's token).
	extra http.Header
}

// SetHeader sends key: value with every request and handshake from now on,
// as a proxy in front of the service would add it ("" removes it).
func (u *User) SetHeader(key, value string) {
	if u.extra == nil {
		u.extra = http.Header{}
	}
	if value == "" {
		u.extra.Del(key)
		return
	}
	u.extra.Set(key, value)
}

// Do sends req with the user's cookies and extra headers; redirects are
// not followed.
func (u *User) Do(req *http.Request) (*http.Response, error) {
	for k, v := range u.extra {
		req.Header[k] = v
	}
	return u.Client.Do(req)
}

// NewUser returns a user of the instance at base, with no cookies yet.
func NewUser(t testing.TB, base string) *User {
	jar, _ := cookiejar.New(nil)
	return &User{t: t, Base: base, Client: &http.Client{
		Jar:     jar,
		Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// On returns the same user (a copy of the cookies) talking to the instance
// at base, as a browser does behind a load balancer.
func (u *User) On(base string) *User {
	v := *u
	v.Base = base
	jar, _ := cookiejar.New(nil)
	src, _ := url.Parse(u.Base)
	dst, _ := url.Parse(base)
	jar.SetCookies(dst, u.Client.Jar.Cookies(src))
	v.Client = &http.Client{Jar: jar, Timeout: u.Client.Timeout, CheckRedirect: u.Client.CheckRedirect}
	v.extra = u.extra.Clone()
	return &v
}

// PostForm posts form to path as the browser's form does, with the
// instance as Origin. The caller closes the body.
func (u *User) PostForm(path string, form url.Values) *http.Response {
	u.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u.Base+path, strings.NewReader(form.Encode()))
	if err != nil {
		u.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.Base)
	resp, err := u.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	return resp
}

// Get fetches path and returns the response with its body read.
func (u *User) Get(path string) (*http.Response, string) {
	u.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u.Base+path, nil)
	if err != nil {
		u.t.Fatal(err)
	}
	resp, err := u.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// SignIn signs the user in as name to room, failing the test unless the
// service redirects to the room (303).
func (u *User) SignIn(name, room string) {
	u.t.Helper()
	resp := u.PostForm("/signin", url.Values{"name": {name}, "room": {room}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		u.t.Fatalf("sign in %q to %q: status %d", name, room, resp.StatusCode)
	}
}

// Header returns the headers a signed-in browser sends with the socket's
// handshake: the instance as Origin, and the user's cookies. It is a new
// copy each time, for a test to add to.
func (u *User) Header() http.Header {
	base, _ := url.Parse(u.Base)
	h := u.extra.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Origin", u.Base)
	for _, c := range u.Client.Jar.Cookies(base) {
		h.Add("Cookie", c.String())
	}
	return h
}

// SocketURL is the address of room's WebSocket on the user's instance.
func (u *User) SocketURL(room string) string {
	return "ws" + strings.TrimPrefix(u.Base, "http") + "/rooms/" + room + "/ws"
}

// DialConn opens room's socket with the handshake headers h (nil: Header)
// and returns the bare connection, closed when the test ends. It fails the
// test when the handshake fails or takes over 10 s.
func (u *User) DialConn(room string, h http.Header) *websocket.Conn {
	u.t.Helper()
	if h == nil {
		h = u.Header()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, u.SocketURL(room), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		u.t.Fatalf("dial %s: %v (%v)", room, err, resp)
	}
	u.t.Cleanup(func() { conn.CloseNow() })
	return conn
}

// Dial opens room's socket as the signed-in page does and reads it frame
// by frame.
func (u *User) Dial(room string) *Socket {
	u.t.Helper()
	return NewSocket(u.t, u.DialConn(room, nil))
}

// JoinAs signs name in to room on base and opens the room's socket, past
// its history frame.
func JoinAs(t testing.TB, base, name, room string) (*User, *Socket) {
	t.Helper()
	u := NewUser(t, base)
	u.SignIn(name, room)
	s := u.Dial(room)
	s.Next()
	return u, s
}
