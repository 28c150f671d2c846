package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// fakeProvider is an OpenID Connect provider on loopback with keys of its
// own: discovery, an authorization endpoint that signs in whoever the test
// says at once, a token endpoint that checks the client, the redirect
// address and PKCE (S256) before it issues an ID token, and its key set.
// It counts the calls to its discovery and token endpoints, and its
// discovery can be made to hang.
type fakeProvider struct {
	t                *testing.T
	srv              *httptest.Server
	key              *rsa.PrivateKey
	clientID, secret string
	closing          chan struct{} // closed when the test ends: hangs end

	mu        sync.Mutex
	acct      account          // who signs in at the authorization endpoint
	grants    map[string]grant // code -> what it was issued for
	tamper    func(*idClaims, **rsa.PrivateKey)
	authorize url.Values // the last authorization request
	// discoveries and tokens count the requests to those endpoints;
	// discoveriesEnded those that have been answered or given up.
	discoveries, discoveriesEnded, tokens int
	hang                                  bool // discovery answers only once the caller gives up
}

// account is who the provider signs in: the ID token's sub, email,
// email_verified (nil: no such claim) and Google's hd ("": none).
type account struct {
	sub, email string
	verified   *bool
	hd         string
}

type grant struct {
	challenge, nonce, redirect string
	acct                       account
}

type idClaims struct {
	jwt.Claims
	Nonce         string `json:"nonce,omitempty"`
	Email         string `json:"email,omitempty"`
	EmailVerified *bool  `json:"email_verified,omitempty"`
	HD            string `json:"hd,omitempty"`
}

func newFakeProvider(t *testing.T) *fakeProvider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeProvider{t: t, key: key, clientID: "chat-client", secret: "chat-secret", grants: map[string]grant{}, closing: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.discoveries++
		hang := p.hang
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			p.discoveriesEnded++
			p.mu.Unlock()
		}()
		if hang {
			select {
			case <-r.Context().Done():
			case <-p.closing:
			}
			return
		}
		base := p.srv.URL
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer": base, "authorization_endpoint": base + "/authorize", "token_endpoint": base + "/token",
			"jwks_uri": base + "/jwks", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"},
			"code_challenge_methods_supported": []string{"S256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", p.authorizeEndpoint)
	mux.HandleFunc("POST /token", p.tokenEndpoint)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	t.Cleanup(func() { close(p.closing) }) // first: Close waits for hung requests
	return p
}

// as makes the next sign-ins at the provider sub's, with a verified email.
func (p *fakeProvider) as(sub, email string) {
	verified := true
	p.asAccount(account{sub: sub, email: email, verified: &verified})
}

// asAccount makes the next sign-ins at the provider a's.
func (p *fakeProvider) asAccount(a account) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.acct = a
}

// counts returns how many discovery and token requests the provider had.
func (p *fakeProvider) counts() (discoveries, tokens int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.discoveries, p.tokens
}

func (p *fakeProvider) authorizeEndpoint(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.authorize = q
	if q.Get("client_id") != p.clientID || q.Get("response_type") != "code" || q.Get("state") == "" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	code := rand.Text()
	p.grants[code] = grant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirect: q.Get("redirect_uri"), acct: p.acct}
	http.Redirect(w, r, q.Get("redirect_uri")+"?code="+code+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
}

func (p *fakeProvider) tokenEndpoint(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	p.mu.Lock()
	p.tokens++
	g, found := p.grants[r.PostFormValue("code")]
	delete(p.grants, r.PostFormValue("code")) // one use
	tamper := p.tamper
	p.mu.Unlock()
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	switch {
	case id != p.clientID || secret != p.secret:
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	case !found || r.PostFormValue("grant_type") != "authorization_code" || r.PostFormValue("redirect_uri") != g.redirect,
		base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
		return
	}
	now := time.Now()
	c := idClaims{Claims: jwt.Claims{
		Issuer: p.srv.URL, Subject: g.acct.sub, Audience: jwt.Audience{p.clientID},
		Expiry: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now),
	}, Nonce: g.nonce, Email: g.acct.email, EmailVerified: g.acct.verified, HD: g.acct.hd}
	key := p.key
	if tamper != nil {
		tamper(&c, &key)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
	if err != nil {
		p.t.Error(err)
		return
	}
	raw, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		p.t.Error(err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": rand.Text(), "token_type": "Bearer", "expires_in": 3600, "id_token": raw})
}

// env is an instance's environment signing people in with this provider,
// letting in accounts of example.com (base may say otherwise).
func (p *fakeProvider) env(base map[string]string) map[string]string {
	env := map[string]string{"AUTH": "oidc", "OIDC_ISSUER": p.srv.URL, "OIDC_CLIENT_ID": p.clientID, "OIDC_CLIENT_SECRET": p.secret,
		"OIDC_ALLOWED_DOMAINS": "example.com"}
	for k, v := range base {
		env[k] = v
	}
	return env
}

// startLogin asks the service to sign u in with the provider and returns
// the provider's answer: the callback address with its code and state.
func startLogin(t *testing.T, u *chattest.User, room string) *url.URL {
	t.Helper()
	resp, _ := u.Get("/auth/login?room=" + room)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("GET /auth/login: %d, want 302 to the provider", resp.StatusCode)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	at, err := noFollow.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	at.Body.Close()
	if at.StatusCode != http.StatusFound {
		t.Fatalf("the provider refused the authorization request: %d", at.StatusCode)
	}
	back, err := url.Parse(at.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return back
}

// finishLogin brings the provider's answer back to the service as u's
// browser would, and returns the service's status.
func finishLogin(t *testing.T, u *chattest.User, back *url.URL) (int, string) {
	t.Helper()
	if !strings.HasPrefix(back.String(), u.Base+"/auth/callback?") {
		t.Fatalf("the provider sent the browser to %s, want %s/auth/callback", back, u.Base)
	}
	resp, body := u.Get(strings.TrimPrefix(back.String(), u.Base))
	return resp.StatusCode, body
}

// signedInWithProvider reports whether the sign-in page shows u as
// signed in with the provider (else it offers to sign in there).
func signedInWithProvider(t *testing.T, u *chattest.User) bool {
	t.Helper()
	_, body := u.Get("/")
	in, offer := strings.Contains(body, `id="verified-as"`), strings.Contains(body, `id="signin-provider"`)
	if in == offer {
		t.Fatalf("the sign-in page shows verified-as %v and signin-provider %v", in, offer)
	}
	return in
}

// AUTH=oidc: the authorization code flow with PKCE and state signs a person
// in; without it the pages lead to the provider, and the no-JS post and the
// socket refuse as the pages do. A changed state, a code brought back by
// another browser, an intercepted code without its verifier, and an ID
// token that is forged, expired, for another client, from another issuer or
// for another sign-in (nonce) sign nobody in. Sign-out ends it.
func TestOIDCSignIn(t *testing.T) {
	prov := newFakeProvider(t)
	inst := startInstance(t, prov.env(sharedEnv("")))
	room := testkit.Room()

	ann := chattest.NewUser(t, inst.URL)
	if signedInWithProvider(t, ann) {
		t.Fatal("a new browser is signed in")
	}
	if resp, _ := ann.Get("/rooms/" + room); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the room page without a sign-in: %d, want 303 to sign in", resp.StatusCode)
	}
	resp := ann.PostForm("/signin", url.Values{"name": {"Ann"}, "room": {room}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the sign-in form without the provider: %d, want 401", resp.StatusCode)
	}
	if code, closed := handshakeStatus(t, ann, room); closed != websocket.StatusPolicyViolation {
		t.Errorf("the socket without a sign-in: %d, closed %d; want 1008", code, closed)
	}

	prov.as("ann-sub", "ann@example.com")
	back := startLogin(t, ann, room)
	q := prov.authorize
	if q.Get("redirect_uri") != inst.URL+"/auth/callback" || q.Get("nonce") == "" || !strings.Contains(q.Get("scope"), "openid") {
		t.Errorf("the authorization request: %v", q)
	}
	if code, _ := finishLogin(t, ann, back); code != http.StatusSeeOther {
		t.Fatalf("the callback: %d, want 303", code)
	}
	if !signedInWithProvider(t, ann) {
		t.Fatal("not signed in after the callback")
	}
	if _, body := ann.Get("/?room=" + room); !strings.Contains(body, "ann@example.com") {
		t.Error("the sign-in page does not say who the provider signed in")
	}
	ann.SignIn("Ann", room)
	sock := ann.Dial(room)
	resp = ann.PostForm("/rooms/"+room+"/messages", url.Values{"text": {"signed in with the provider"}, "nonce": {"n1"}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the no-JS post: %d", resp.StatusCode)
	}
	sock.Until("signed in with the provider")

	refused := func(what string, back *url.URL, u *chattest.User) {
		t.Helper()
		code, _ := finishLogin(t, u, back)
		if code != http.StatusBadRequest && code != http.StatusUnauthorized {
			t.Errorf("%s: the callback answered %d, want 400 or 401", what, code)
		}
		if signedInWithProvider(t, u) {
			t.Errorf("%s: signed in", what)
		}
	}
	prov.as("mallory-sub", "mallory@example.com")
	mallory := chattest.NewUser(t, inst.URL)
	changed := startLogin(t, mallory, room)
	cq := changed.Query()
	cq.Set("state", "not-the-state")
	changed.RawQuery = cq.Encode()
	refused("a changed state", changed, mallory)

	other := chattest.NewUser(t, inst.URL) // never started a sign-in
	refused("a code brought back by another browser", startLogin(t, mallory, room), other)

	// Mallory intercepts a victim's code and brings it back into her own
	// sign-in, with her own state: only the victim's verifier redeems it.
	prov.as("victim-sub", "victim@example.com")
	victimBack := startLogin(t, chattest.NewUser(t, inst.URL), room)
	malloryBack := startLogin(t, mallory, room)
	mq := malloryBack.Query()
	mq.Set("code", victimBack.Query().Get("code"))
	malloryBack.RawQuery = mq.Encode()
	refused("an intercepted code without its verifier", malloryBack, mallory)

	other2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for what, tamper := range map[string]func(*idClaims, **rsa.PrivateKey){
		"a forged ID token":               func(_ *idClaims, k **rsa.PrivateKey) { *k = other2 },
		"an expired ID token":             func(c *idClaims, _ **rsa.PrivateKey) { c.Expiry = jwt.NewNumericDate(time.Now().Add(-time.Minute)) },
		"an ID token for another client":  func(c *idClaims, _ **rsa.PrivateKey) { c.Audience = jwt.Audience{"another-client"} },
		"an ID token from another issuer": func(c *idClaims, _ **rsa.PrivateKey) { c.Issuer = "https://issuer.example" },
		"an ID token of another sign-in":  func(c *idClaims, _ **rsa.PrivateKey) { c.Nonce = "another-nonce" },
	} {
		prov.mu.Lock()
		prov.tamper = tamper
		prov.mu.Unlock()
		refused(what, startLogin(t, mallory, room), mallory)
	}
	prov.mu.Lock()
	prov.tamper = nil
	prov.mu.Unlock()

	// Sign-out ends the sign-in with the provider here.
	resp = ann.PostForm("/signout", url.Values{"room": {room}})
	resp.Body.Close()
	if signedInWithProvider(t, ann) {
		t.Error("still signed in with the provider after signing out")
	}
	if resp, _ := ann.Get("/rooms/" + room); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the room page after signing out: %d, want 303", resp.StatusCode)
	}
}

// In Chromium: a person signs in with the provider, picks a name, chats
// live with a second person signed in the same way, and signs out; the
// room then leads back to the provider's sign-in.
func TestBrowserSignInWithProvider(t *testing.T) {
	prov := newFakeProvider(t)
	inst := startInstance(t, prov.env(sharedEnv("")))
	browser := newBrowser(t)
	room := testkit.Room()

	ann, bob := newTab(t, browser), newTab(t, browser)
	for _, p := range []struct {
		tab       *tab
		sub, name string
	}{{ann, "ann-sub", "Ann"}, {bob, "bob-sub", "Bob"}} {
		prov.as(p.sub, strings.ToLower(p.name)+"@example.com")
		p.tab.do(
			chromedp.Navigate(inst.URL+"/?room="+room),
			chromedp.Click(chromedp.CSS("#signin-provider")),
			chromedp.WaitVisible(chromedp.CSS("#verified-as")),
		)
		p.tab.signIn(inst.URL, p.name, room)
		p.tab.waitJS(socketOpen)
	}
	ann.do(chromedp.SendKeys(chromedp.CSS("#text"), "hello, verified bob\r"))
	ann.waitIDs("msg-1")
	bob.waitIDs("msg-1")

	bob.do(chromedp.Click(chromedp.CSS("#signout button")))
	bob.waitJS(`document.querySelector('#signin-provider') !== null`)
	bob.do(chromedp.Navigate(inst.URL + "/rooms/" + room))
	bob.waitJS(`document.querySelector('#signin-provider') !== null && !document.querySelector('#messages')`)
}

// With sign-in by a provider, its pages and the verified marks pass axe in
// both themes: the offer to sign in, the page that says who is signed in,
// and a room with marked messages and members.
func TestBrowserAccessibilityWithSignIn(t *testing.T) {
	axe := axeSource(t)
	prov := newFakeProvider(t)
	inst := startInstance(t, prov.env(sharedEnv("")))
	browser := newBrowser(t)
	room := testkit.Room()
	for _, scheme := range []string{"light", "dark"} {
		p := newTab(t, browser)
		p.theme(scheme)
		prov.as("sub-"+scheme, scheme+"@example.com")
		p.do(chromedp.Navigate(inst.URL + "/?room=" + room))
		p.waitJS(`document.querySelector('#signin-provider') !== null`)
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("the offer to sign in, %s: %q", scheme, v)
		}
		p.do(chromedp.Click(chromedp.CSS("#signin-provider")), chromedp.WaitVisible(chromedp.CSS("#verified-as")))
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("signed in with the provider, %s: %q", scheme, v)
		}
		p.signIn(inst.URL, "Reader-"+scheme, room)
		p.waitJS(socketOpen)
		p.do(chromedp.SendKeys(chromedp.CSS("#text"), "marked as verified\r"))
		p.waitJS(`document.querySelector('#messages li:last-child .verified') && document.querySelector('#members li .verified')`)
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("a room with verified marks, %s: %q", scheme, v)
		}
	}
}

// Signed in with a provider on a phone, at a 200 ms round trip: the
// provider's round trip works through the slow line (the redirect address
// is the one the browser used), and what the person writes during a cut
// stays on screen, then arrives once, marked verified, over a socket that
// reconnects with the identity.
func TestBrowserSignInWithProviderOnAPhone(t *testing.T) {
	prov := newFakeProvider(t)
	inst := startInstance(t, prov.env(sharedEnv("")))
	p := newTab(t, newBrowser(t))
	proxy := newNetProxy(t, inst.URL, phoneDelay)
	room := testkit.Room()
	prov.as("phone-sub", "phone@example.com")
	p.do(
		chromedp.Navigate(proxy.URL()+"/?room="+room),
		chromedp.Click(chromedp.CSS("#signin-provider")),
		chromedp.WaitVisible(chromedp.CSS("#verified-as")),
	)
	p.signIn(proxy.URL(), "Phone", room)
	p.waitJS(connected)
	p.typeKeys("over a slow line\r", 30*time.Millisecond)
	p.waitTexts("over a slow line")

	proxy.cut()
	p.waitJS(`document.querySelector('#connection').textContent === 'Reconnecting…'`)
	p.do(chromedp.SendKeys(chromedp.CSS("#text"), "written in the tunnel\r"))
	p.waitJS(`document.querySelector('#outbox li .text')?.textContent === 'written in the tunnel'`)
	proxy.restore()
	p.retryNow()
	p.waitJS(connected + ` && ` + outboxEmpty)
	p.waitTexts("over a slow line", "written in the tunnel")
	if n := evalJS[int](p, `document.querySelectorAll('#messages > li > .verified').length`); n != 2 {
		t.Errorf("%d of the 2 messages are marked verified", n)
	}
}

// hasIdentityCookie reports whether u's jar holds an identity cookie.
func hasIdentityCookie(u *chattest.User) bool {
	base, _ := url.Parse(u.Base)
	for _, c := range u.Client.Jar.Cookies(base) {
		if strings.HasSuffix(c.Name, "chat_identity") {
			return true
		}
	}
	return false
}

// AUTH=oidc lets in the accounts its lists name, by a verified address:
// one of OIDC_ALLOWED_DOMAINS or in OIDC_ALLOWED_EMAILS. An unverified
// address (email_verified false or missing), a foreign domain, and an hd
// claim from a provider that is not Google get a 403 page saying the chat
// is not open to the account, and nothing is kept: no identity cookie, so
// no name can be bound. With OIDC_ALLOW_ANY=1, any verified account gets in.
func TestOIDCSignInLetsInOnlyListedAccounts(t *testing.T) {
	prov := newFakeProvider(t)
	env := prov.env(sharedEnv(""))
	env["OIDC_ALLOWED_EMAILS"] = "guest@partner.example"
	inst := startInstance(t, env)
	room := testkit.Room()
	yes, no := true, false

	for _, c := range []struct {
		what string
		acct account
		in   bool
	}{
		{"a verified address of an allowed domain", account{sub: "ann", email: "ann@example.com", verified: &yes}, true},
		{"a verified address in the list", account{sub: "guest", email: "Guest@Partner.example", verified: &yes}, true},
		{"an unverified address of an allowed domain", account{sub: "ceo", email: "ceo@example.com", verified: &no}, false},
		{"an address whose verification is not said", account{sub: "cfo", email: "cfo@example.com"}, false},
		{"an unverified address in the list", account{sub: "guest2", email: "guest@partner.example", verified: &no}, false},
		{"a foreign domain", account{sub: "eve", email: "eve@elsewhere.example", verified: &yes}, false},
		{"an hd claim from a provider that is not Google", account{sub: "hd", email: "mallory@elsewhere.example", verified: &yes, hd: "example.com"}, false},
		{"a subdomain of an allowed domain", account{sub: "sub", email: "sam@corp.example.com", verified: &yes}, false},
		{"no address at all", account{sub: "anon"}, false},
	} {
		u := chattest.NewUser(t, inst.URL)
		prov.asAccount(c.acct)
		code, body := finishLogin(t, u, startLogin(t, u, room))
		if c.in {
			if code != http.StatusSeeOther || !signedInWithProvider(t, u) {
				t.Errorf("%s: the callback answered %d, signed in %v; want 303 and signed in", c.what, code, hasIdentityCookie(u))
			}
			continue
		}
		if code != http.StatusForbidden || !strings.Contains(body, "not open to") {
			t.Errorf("%s: the callback answered %d (%q), want 403 saying the chat is not open to the account", c.what, code, body)
		}
		if c.acct.email != "" && c.acct.verified != nil && *c.acct.verified && !strings.Contains(body, c.acct.email) {
			t.Errorf("%s: the refusal does not name %s", c.what, c.acct.email)
		}
		if hasIdentityCookie(u) || signedInWithProvider(t, u) {
			t.Errorf("%s: signed in", c.what)
		}
		resp := u.PostForm("/signin", url.Values{"name": {"Name-" + c.acct.sub}, "room": {room}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: POST /signin after the refusal: %d, want 401 (no name bound)", c.what, resp.StatusCode)
		}
	}

	// OIDC_ALLOW_ANY=1, on purpose: any account with a verified address.
	anyProv := newFakeProvider(t)
	anyEnv := anyProv.env(sharedEnv(""))
	anyEnv["OIDC_ALLOWED_DOMAINS"], anyEnv["OIDC_ALLOW_ANY"] = "", "1"
	open := startInstance(t, anyEnv)
	eve := chattest.NewUser(t, open.URL)
	anyProv.asAccount(account{sub: "eve", email: "eve@elsewhere.example", verified: &yes})
	if code, _ := finishLogin(t, eve, startLogin(t, eve, room)); code != http.StatusSeeOther || !signedInWithProvider(t, eve) {
		t.Errorf("OIDC_ALLOW_ANY=1, a verified foreign address: %d, want 303 and signed in", code)
	}
	ceo := chattest.NewUser(t, open.URL)
	anyProv.asAccount(account{sub: "ceo", email: "ceo@example.com", verified: &no})
	if code, _ := finishLogin(t, ceo, startLogin(t, ceo, room)); code != http.StatusForbidden || signedInWithProvider(t, ceo) {
		t.Errorf("OIDC_ALLOW_ANY=1, an unverified address: %d, want 403", code)
	}
}

// flowCookie is the value of u's sign-in flow cookie.
func flowCookie(t *testing.T, u *chattest.User) *http.Cookie {
	t.Helper()
	base, _ := url.Parse(u.Base)
	for _, c := range u.Client.Jar.Cookies(base) {
		if strings.HasSuffix(c.Name, "chat_oidc") {
			return c
		}
	}
	t.Fatal("no sign-in flow cookie after GET /auth/login")
	return nil
}

// The flow's cookie is sealed: neither it nor any part of it decodes to
// the state, the nonce, the room, or a PKCE verifier whose S256 is the
// code_challenge the provider was sent.
func TestOIDCFlowCookieIsSealed(t *testing.T) {
	prov := newFakeProvider(t)
	inst := startInstance(t, prov.env(sharedEnv("")))
	room := testkit.Room()
	u := chattest.NewUser(t, inst.URL)
	prov.as("ann", "ann@example.com")
	back := startLogin(t, u, room)
	q := prov.authorize
	state, nonce, challenge := q.Get("state"), q.Get("nonce"), q.Get("code_challenge")
	value := flowCookie(t, u).Value

	decodings := []string{value}
	parts := strings.FieldsFunc(value, func(r rune) bool { return r == '.' || r == '|' })
	for _, part := range append(parts, value) {
		for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
			if b, err := enc.DecodeString(part); err == nil {
				decodings = append(decodings, string(b))
			}
		}
		decodings = append(decodings, part)
	}
	for _, d := range decodings {
		for what, secret := range map[string]string{"state": state, "nonce": nonce, "room": room} {
			if strings.Contains(d, secret) {
				t.Errorf("the flow cookie %q shows the %s", value, what)
			}
		}
		sum := sha256.Sum256([]byte(d))
		if base64.RawURLEncoding.EncodeToString(sum[:]) == challenge {
			t.Errorf("the flow cookie %q shows the PKCE verifier", value)
		}
	}
	if code, _ := finishLogin(t, u, back); code != http.StatusSeeOther {
		t.Errorf("the sealed cookie's sign-in: %d, want 303", code)
	}
}

// A callback counts once on every instance: a flow cookie replayed with
// junk codes, at its instance and at another sharing the store, is refused
// before the provider hears of it (no token request). The client's
// configuration is built once, with the token endpoint's authentication
// from discovery: each refused code costs one token request, not two, and
// the provider is discovered once.
func TestOIDCCallbackCountsOnce(t *testing.T) {
	prov := newFakeProvider(t)
	env := prov.env(sharedEnv(redistest.Addr(t)))
	a, b := startInstance(t, env), startInstance(t, env)
	room := testkit.Room()
	prov.as("ann", "ann@example.com")

	const fresh = 5
	for i := range fresh {
		u := chattest.NewUser(t, a.URL)
		back := startLogin(t, u, room)
		q := back.Query()
		q.Set("code", "junk-"+strconv.Itoa(i))
		back.RawQuery = q.Encode()
		if code, _ := finishLogin(t, u, back); code != http.StatusUnauthorized {
			t.Errorf("a junk code: %d, want 401", code)
		}
	}
	if discoveries, tokens := prov.counts(); tokens != fresh || discoveries != 1 {
		t.Errorf("%d sign-ins with junk codes made %d token requests and %d discoveries, want %d and 1", fresh, tokens, discoveries, fresh)
	}

	ann := chattest.NewUser(t, a.URL)
	back := startLogin(t, ann, room)
	cookie := flowCookie(t, ann)
	if code, _ := finishLogin(t, ann, back); code != http.StatusSeeOther {
		t.Fatalf("the sign-in: %d, want 303", code)
	}
	_, before := prov.counts()
	for i := range 20 {
		inst := a
		if i%2 == 1 {
			inst = b
		}
		q := back.Query()
		q.Set("code", "replayed-"+strconv.Itoa(i))
		req, err := http.NewRequest(http.MethodGet, inst.URL+"/auth/callback?"+q.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a replayed flow cookie at instance %d: %d, want 400", i%2, resp.StatusCode)
		}
		if strings.Contains(resp.Header.Get("Set-Cookie"), "chat_identity=") {
			t.Errorf("a replayed flow cookie set an identity")
		}
	}
	if _, after := prov.counts(); after != before {
		t.Errorf("20 replays of a used flow cookie made %d token requests, want 0", after-before)
	}
}

// /auth/callback is limited per address: past 30 in a minute, 429 with a
// page that says so, while other addresses go on.
func TestOIDCCallbackIsRateLimited(t *testing.T) {
	prov := newFakeProvider(t)
	env := prov.env(sharedEnv(""))
	env["TRUST_PROXY"] = "1" // the address is X-Forwarded-For's
	inst := startInstance(t, env)
	callback := func(addr string) (int, string) {
		u := chattest.NewUser(t, inst.URL)
		u.SetHeader("X-Forwarded-For", addr)
		resp, body := u.Get("/auth/callback?code=junk&state=junk")
		return resp.StatusCode, body
	}
	for range 30 {
		if code, _ := callback("203.0.113.7"); code != http.StatusBadRequest {
			t.Fatalf("a callback within the limit: %d, want 400", code)
		}
	}
	if code, body := callback("203.0.113.7"); code != http.StatusTooManyRequests || !strings.Contains(body, "Too many sign-ins") {
		t.Errorf("the 31st callback in a minute: %d %q, want 429 saying too many sign-ins", code, body)
	}
	if code, _ := callback("203.0.113.8"); code != http.StatusBadRequest {
		t.Errorf("another address's callback: %d, want 400", code)
	}
	if _, tokens := prov.counts(); tokens != 0 {
		t.Errorf("%d token requests, want none", tokens)
	}
}

// Against an issuer that never answers, four concurrent GET /auth/login
// share one discovery and each gets 503 at its own deadline (5 s), not one
// after another; the discovery gives up at its own (10 s), and within the
// next 5 s a second wave gets 503 at once, without asking the issuer.
// Once it answers again, sign-in works.
func TestOIDCDiscoveryIsSharedAndBounded(t *testing.T) {
	prov := newFakeProvider(t)
	prov.mu.Lock()
	prov.hang = true
	prov.mu.Unlock()
	inst := startInstance(t, prov.env(sharedEnv("")))
	room := testkit.Room()

	wave := func(most time.Duration) {
		t.Helper()
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				u := chattest.NewUser(t, inst.URL)
				start := time.Now()
				resp, err := u.Client.Get(inst.URL + "/auth/login?room=" + room)
				if err != nil {
					t.Errorf("login %d: %v", i, err)
					return
				}
				resp.Body.Close()
				if took := time.Since(start); resp.StatusCode != http.StatusServiceUnavailable || took > most {
					t.Errorf("login %d against a silent issuer: %d after %v, want 503 within %v", i, resp.StatusCode, took, most)
				}
			})
		}
		wg.Wait()
	}
	wave(7 * time.Second)
	if discoveries, _ := prov.counts(); discoveries != 1 {
		t.Errorf("4 logins at once made %d discoveries, want 1", discoveries)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	testkit.WaitFor(t, ctx, "the discovery to give up", func() bool {
		prov.mu.Lock()
		defer prov.mu.Unlock()
		return prov.discoveriesEnded == 1
	})
	wave(time.Second)
	if discoveries, _ := prov.counts(); discoveries != 1 {
		t.Errorf("logins within the failure's memory made %d discoveries, want still 1", discoveries)
	}

	prov.mu.Lock()
	prov.hang = false
	prov.mu.Unlock()
	prov.as("ann", "ann@example.com")
	ctx, cancel = context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	u := chattest.NewUser(t, inst.URL)
	testkit.WaitFor(t, ctx, "sign-in once the issuer answers", func() bool {
		resp, _ := u.Get("/auth/login?room=" + room)
		return resp.StatusCode == http.StatusFound
	})
}
