package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// iapHeader is where Identity-Aware Proxy puts its token.
const iapHeader = "X-Goog-Iap-Jwt-Assertion"

// fakeIAP signs tokens as Identity-Aware Proxy does (ES256, issuer
// https://cloud.google.com/iap) with a key of the test's own, and serves
// its public key as a key set on loopback, for IAP_JWKS_URL.
type fakeIAP struct {
	key      *ecdsa.PrivateKey
	audience string
	jwksURL  string
}

func newFakeIAP(t *testing.T) *fakeIAP {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeIAP{key: key, audience: "/projects/123/locations/europe-west1/services/chat"}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "iap-1", Algorithm: "ES256", Use: "sig"}}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(srv.Close)
	f.jwksURL = srv.URL
	return f
}

// env is an instance's environment behind this IAP.
func (f *fakeIAP) env(base map[string]string) map[string]string {
	env := map[string]string{"AUTH": "iap", "IAP_AUDIENCE": f.audience, "IAP_JWKS_URL": f.jwksURL}
	for k, v := range base {
		env[k] = v
	}
	return env
}

// tokenSpec is what a token says, and what signs it.
type tokenSpec struct {
	subject, email, audience, issuer string
	expiry                           time.Time
	key                              *ecdsa.PrivateKey
	kid                              string
}

// token is a token for subject as IAP would issue it now.
func (f *fakeIAP) token(t *testing.T, subject string) string {
	return f.sign(t, f.spec(subject))
}

func (f *fakeIAP) spec(subject string) tokenSpec {
	return tokenSpec{
		subject: subject, email: strings.TrimPrefix(subject, "accounts.google.com:") + "@example.com",
		audience: f.audience, issuer: "https://cloud.google.com/iap",
		expiry: time.Now().Add(10 * time.Minute), key: f.key, kid: "iap-1",
	}
}

func (f *fakeIAP) sign(t *testing.T, s tokenSpec) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: s.key, KeyID: s.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: s.issuer, Subject: s.subject, Audience: jwt.Audience{s.audience},
		Expiry: jwt.NewNumericDate(s.expiry), IssuedAt: jwt.NewNumericDate(s.expiry.Add(-10 * time.Minute)),
	}).Claims(map[string]any{"email": s.email}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// handshakeStatus opens room's socket as u and returns the handshake's
// HTTP status (101 when it was accepted) and, when accepted, the close
// status the server ends it with (-1 while it stays open past the
// history).
func handshakeStatus(t *testing.T, u *chattest.User, room string) (int, websocket.StatusCode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, u.SocketURL(room), &websocket.DialOptions{HTTPHeader: u.Header()})
	if err != nil {
		if resp == nil {
			t.Fatalf("dial %s: %v", room, err)
		}
		return resp.StatusCode, -1
	}
	defer conn.CloseNow()
	s := chattest.NewSocket(t, conn)
	for {
		frame, err := s.Read(ctx)
		if err != nil {
			return http.StatusSwitchingProtocols, websocket.CloseStatus(err)
		}
		if chattest.IsHistory(frame) {
			return http.StatusSwitchingProtocols, -1
		}
	}
}

// Behind IAP (AUTH=iap), a request with a valid token gets in; one with no
// token, or a forged, expired, wrongly-addressed or wrongly-issued one, gets
// 401 on every route, the socket's handshake and the no-JS post included,
// even with a valid session cookie. Only the health checks, which Cloud Run
// sends to the container directly, need none. A session belongs to the
// identity that signed in: another identity's token does not carry it.
func TestIAPIdentifiesEveryRequest(t *testing.T) {
	iap := newFakeIAP(t)
	inst := startInstance(t, iap.env(sharedEnv("")))
	room := testkit.Room()

	ann := chattest.NewUser(t, inst.URL)
	ann.SetHeader(iapHeader, iap.token(t, "accounts.google.com:ann"))
	if resp, body := ann.Get("/"); resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="name"`) {
		t.Fatalf("the sign-in page with a valid token: %d", resp.StatusCode)
	}
	ann.SignIn("Ann", room)
	if resp, body := ann.Get("/rooms/" + room); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Ann") {
		t.Fatalf("the room page with a valid token: %d", resp.StatusCode)
	}
	if code, closed := handshakeStatus(t, ann, room); code != http.StatusSwitchingProtocols || closed != -1 {
		t.Fatalf("the socket with a valid token: handshake %d, closed %d", code, closed)
	}
	resp := ann.PostForm("/rooms/"+room+"/messages", url.Values{"text": {"hello from behind IAP"}, "nonce": {"n1"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the no-JS post with a valid token: %d", resp.StatusCode)
	}

	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bad := map[string]string{"missing": ""}
	forged := iap.spec("accounts.google.com:ann")
	forged.key = other // same key id, another key
	bad["forged"] = iap.sign(t, forged)
	expired := iap.spec("accounts.google.com:ann")
	expired.expiry = time.Now().Add(-time.Minute)
	bad["expired"] = iap.sign(t, expired)
	wrongAudience := iap.spec("accounts.google.com:ann")
	wrongAudience.audience = "/projects/123/locations/europe-west1/services/another"
	bad["wrong audience"] = iap.sign(t, wrongAudience)
	wrongIssuer := iap.spec("accounts.google.com:ann")
	wrongIssuer.issuer = "https://accounts.google.com"
	bad["wrong issuer"] = iap.sign(t, wrongIssuer)
	bad["not a token"] = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbm4ifQ."

	for what, token := range bad {
		t.Run(what, func(t *testing.T) {
			u := ann.On(inst.URL) // Ann's session cookie, without her valid token
			u.SetHeader(iapHeader, token)
			for _, path := range []string{"/", "/rooms", "/rooms/" + room, "/rooms/" + room + "?before=5", "/static/chat.js", "/favicon.ico", "/no-such-page"} {
				if resp, _ := u.Get(path); resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("GET %s: %d, want 401", path, resp.StatusCode)
				}
			}
			for path, form := range map[string]url.Values{
				"/signin":                      {"name": {"Mallory"}, "room": {room}},
				"/signout":                     {"room": {room}},
				"/rooms/" + room + "/messages": {"text": {"not from Ann"}, "nonce": {"n2"}},
			} {
				resp := u.PostForm(path, form)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("POST %s: %d, want 401", path, resp.StatusCode)
				}
			}
			if code, _ := handshakeStatus(t, u, room); code != http.StatusUnauthorized {
				t.Errorf("the socket's handshake: %d, want 401", code)
			}
		})
	}

	// The probes need no token.
	for _, path := range []string{"/health", "/ready"} {
		if resp, _ := chattest.NewUser(t, inst.URL).Get(path); resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s without a token: %d, want 200", path, resp.StatusCode)
		}
	}

	// Bob, verified, with Ann's cookie: not Ann. Pages send him to sign in,
	// the socket tells him to, and his post is not stored as hers.
	bob := ann.On(inst.URL)
	bob.SetHeader(iapHeader, iap.token(t, "accounts.google.com:bob"))
	if resp, _ := bob.Get("/rooms/" + room); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("another identity with Ann's cookie got the room page: %d, want 303 to sign in", resp.StatusCode)
	}
	if code, closed := handshakeStatus(t, bob, room); code != http.StatusSwitchingProtocols || closed != websocket.StatusPolicyViolation {
		t.Errorf("another identity with Ann's cookie: handshake %d, closed %d; want 101 and 1008 (sign in again)", code, closed)
	}
	resp = bob.PostForm("/rooms/"+room+"/messages", url.Values{"text": {"posing as Ann"}, "nonce": {"n3"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/?room=") {
		t.Errorf("another identity's post with Ann's cookie: %d to %q, want 303 to sign in", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, body := ann.Get("/rooms/" + room); strings.Contains(body, "posing as Ann") || strings.Contains(body, "not from Ann") {
		t.Error("a message without Ann's identity was stored as hers")
	}
}

// A verified person's display name is theirs in every room and on every
// instance: another identity cannot take it, nor one that looks like it;
// the person keeps the name they chose first.
func TestVerifiedNameBelongsToOneIdentity(t *testing.T) {
	iap := newFakeIAP(t)
	env := iap.env(sharedEnv(redistest.Addr(t)))
	a, b := startInstance(t, env), startInstance(t, env)
	room1, room2 := testkit.Room(), testkit.Room()
	name := "Alice " + strings.ToLower(rand.Text()[:6]) // Redis keeps bindings: one name per run

	alice := chattest.NewUser(t, a.URL)
	alice.SetHeader(iapHeader, iap.token(t, "accounts.google.com:alice-"+name))
	alice.SignIn(name, room1)

	mallory := chattest.NewUser(t, b.URL)
	mallory.SetHeader(iapHeader, iap.token(t, "accounts.google.com:mallory-"+name))
	for _, try := range []string{name, strings.ToUpper(name), strings.Replace(name, "l", "I", 1)} {
		for _, room := range []string{room1, room2} {
			resp := mallory.PostForm("/signin", url.Values{"name": {try}, "room": {room}})
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("another identity signing in as %q in %s on the other instance: %d, want 422", try, room, resp.StatusCode)
			}
		}
	}
	resp := mallory.PostForm("/signin", url.Values{"name": {"Mallory " + name[6:]}, "room": {room2}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("another identity signing in with a name of its own: %d, want 303", resp.StatusCode)
	}

	// Alice, on the other instance and in another room, is still Alice;
	// she cannot become someone else, and the sign-in page offers her name.
	aliceOnB := alice.On(b.URL)
	aliceOnB.SignIn(name, room2)
	resp = aliceOnB.PostForm("/signin", url.Values{"name": {"Someone new"}, "room": {room2}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("a verified person changing name: %d, want 422", resp.StatusCode)
	}
	fresh := chattest.NewUser(t, b.URL) // no cookie: a new browser
	fresh.SetHeader(iapHeader, iap.token(t, "accounts.google.com:alice-"+name))
	if _, body := fresh.Get("/"); !strings.Contains(body, `value="`+name+`"`) {
		t.Errorf("the sign-in page in a new browser does not offer Alice her name %q", name)
	}
	// Each goes on with their own name through the socket; messages and the
	// member list mark the names as verified.
	mallory.Dial(room2)
	sock := aliceOnB.Dial(room2)
	// Alice's second browser, on the other instance, joins the room where
	// her first is: one person holds her name there from both.
	second := chattest.NewUser(t, a.URL)
	second.SetHeader(iapHeader, iap.token(t, "accounts.google.com:alice-"+name))
	second.SignIn(name, room2)
	if code, closed := handshakeStatus(t, second, room2); code != http.StatusSwitchingProtocols || closed != -1 {
		t.Errorf("Alice's second browser in the room: handshake %d, closed %d; want it in", code, closed)
	}
	resp = alice.On(a.URL).PostForm("/rooms/"+room1+"/messages", url.Values{"text": {"verified words"}, "nonce": {"v1"}})
	resp.Body.Close()
	_, page := alice.On(a.URL).Get("/rooms/" + room1)
	if !regexp.MustCompile(`<li id="msg-1"[^>]*>\s*<span class="from" dir="auto">` + regexp.QuoteMeta(name) + `</span>\s*<span class="verified"`).MatchString(page) {
		t.Error("the room page does not mark the stored message's sender as verified")
	}
	if !regexp.MustCompile(`<li data-name="[^"]*">\s*` + regexp.QuoteMeta(name) + `\s*<span class="verified"`).MatchString(page) {
		t.Error("the member list does not mark the members as verified")
	}
	resp = mallory.PostForm("/rooms/"+room2+"/messages", url.Values{"text": {"live and verified"}, "nonce": {"v2"}})
	resp.Body.Close()
	if frame := sock.Until("live and verified"); !strings.Contains(frame, `class="verified"`) {
		t.Errorf("the pushed message does not mark its sender as verified: %s", frame)
	}
}

// Without AUTH, nothing is marked verified.
func TestNamesAreNotMarkedVerifiedWithoutAuth(t *testing.T) {
	inst := startInstance(t, sharedEnv(""))
	room := testkit.Room()
	u, sock := chattest.JoinAs(t, inst.URL, "Ann", room)
	resp := u.PostForm("/rooms/"+room+"/messages", url.Values{"text": {"just typed"}, "nonce": {"n"}})
	resp.Body.Close()
	frame := sock.Until("just typed")
	if _, page := u.Get("/rooms/" + room); strings.Contains(page, `class="verified"`) || strings.Contains(frame, `class="verified"`) {
		t.Error("a name nobody verified is marked verified")
	}
}

// behindIAP makes the tab send token as IAP's header with every request,
// the socket's handshake included, as the proxy in front would add it.
func (p *tab) behindIAP(token string) {
	p.t.Helper()
	p.do(chromedp.Navigate("about:blank"))
	if _, err := chromedp.Call(p.ctx, network.Enable, network.EnableParams{}); err != nil {
		p.t.Fatal(err)
	}
	if _, err := chromedp.Call(p.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{iapHeader: token},
	}); err != nil {
		p.t.Fatal(err)
	}
}

// In Chromium behind IAP: two verified people sign in, chat live over the
// socket (htmx's handshake carries the token), and the second cannot take
// the first's name; a browser without a token gets the 401 page.
func TestBrowserBehindIAP(t *testing.T) {
	iap := newFakeIAP(t)
	inst := startInstance(t, iap.env(sharedEnv("")))
	browser := newBrowser(t)
	room := testkit.Room()

	ann, bob := newTab(t, browser), newTab(t, browser)
	ann.behindIAP(iap.token(t, "accounts.google.com:ann"))
	bob.behindIAP(iap.token(t, "accounts.google.com:bob"))
	ann.signIn(inst.URL, "Ann", room)
	ann.waitJS(socketOpen)

	bob.do(
		chromedp.Navigate(inst.URL+"/?room="+room),
		chromedp.SendKeys(chromedp.CSS("#name"), "ANN"),
		chromedp.Click(chromedp.CSS(`form.signin button[type="submit"]`)),
	)
	bob.waitJS(`document.body.textContent.includes('That name belongs to someone else.')`)
	bob.signIn(inst.URL, "Bob", room)
	bob.waitJS(socketOpen)

	ann.do(chromedp.SendKeys(chromedp.CSS("#text"), "verified hello\r"))
	ann.waitIDs("msg-1")
	bob.waitIDs("msg-1")

	stranger := newTab(t, browser)
	stranger.do(chromedp.Navigate(inst.URL + "/rooms/" + room))
	stranger.waitJS(`document.title.includes('Sign-in required') && !document.querySelector('#messages')`)
}
