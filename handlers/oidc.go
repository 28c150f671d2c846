package handlers

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/time/rate"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/views"
)

// OIDCConfig is how the service signs people in with an OpenID Connect
// provider (AUTH=oidc).
type OIDCConfig struct {
	Issuer, ClientID, ClientSecret string
	// PublicURL is the service's address as browsers reach it, for the
	// redirect address (PUBLIC_URL + /auth/callback); "": taken from each
	// request (its Host, and X-Forwarded-Proto behind Cloud Run).
	PublicURL string
	// AllowedDomains and AllowedEmails are the accounts let in: an
	// address in AllowedEmails, or one of AllowedDomains (with Google,
	// the token's hosted domain, "hd"; with others, the e-mail address's
	// domain), lower case. The address must be verified by the provider.
	AllowedDomains, AllowedEmails []string
	// AllowAny lets in every account the provider signs in, when both
	// lists are empty on purpose (OIDC_ALLOW_ANY=1).
	AllowAny bool
	// Client reaches the provider; its timeout bounds each call.
	Client *http.Client
}

const (
	flowCookie     = "chat_oidc"
	identityCookie = "chat_identity"
	// flowTTL is how long a person has at the provider to sign in.
	flowTTL = 10 * time.Minute
	// identityTTL is how long a sign-in with the provider lasts here.
	identityTTL = 24 * time.Hour
	// flowKeyLabel derives the flow cookie's key from SESSION_SECRET: a
	// key of its own, never the one that signs cookies.
	flowKeyLabel = "chat oidc flow v1"
	// discoveryWait bounds one discovery, whoever waits for it;
	// failureMemory is how long a failed one is answered from memory.
	discoveryWait = 10 * time.Second
	failureMemory = 5 * time.Second
	// callbacksPerMinute is what one address may bring back to
	// /auth/callback a minute, as a burst too: each costs a token
	// request to the provider, and a person needs one.
	callbacksPerMinute = 30
)

// oidcFlow signs people in with an OpenID Connect provider: the
// authorization code flow with PKCE (S256), state and nonce, through
// golang.org/x/oauth2 and go-oidc. The flow's secrets wait in a sealed
// (AES-GCM), short-lived cookie whose state is spent in the store at the
// callback; the verified identity is kept in a signed cookie, which
// Identify reads. The provider is discovered on first use, so that a
// provider down at start does not stop the service.
type oidcFlow struct {
	cfg    OIDCConfig
	label  string // "Google", or the issuer's host
	google bool   // domains are checked against the "hd" claim
	now    func() time.Time
	// flow holds a sign-in's state, PKCE verifier, nonce and room, sealed;
	// identity the verified subject, e-mail address and generation, signed.
	flow, identity cookie[[]string]
	// domains and emails are who is let in, unless cfg.AllowAny.
	domains, emails map[string]bool
	callbacks       *limiter // per address

	// wait bounds a login's wait for discovery; discoveryWait one
	// discovery; failureMemory how long its failure is remembered.
	// Constants but in tests.
	wait, discoveryWait, failureMemory time.Duration

	// mu guards the fields below; it is never held across the network.
	mu sync.Mutex
	// ready is the discovered provider, for good.
	ready *provider
	// pending is the discovery under way, or the last that failed
	// (until failedUntil); nil: none.
	pending     *discovery
	failedUntil time.Time
}

// provider is a discovered provider and the client's configuration for it,
// built once: x/oauth2 remembers nothing between Config values.
type provider struct {
	oauth    *oauth2.Config // RedirectURL unset: given per request
	verifier *oidc.IDTokenVerifier
}

// discovery is one discovery of the provider, which any number of
// requests wait for; p and err are set before done is closed.
type discovery struct {
	done chan struct{}
	p    *provider
	err  error
}

func newOIDCFlow(cfg OIDCConfig, signer sessions) *oidcFlow {
	label := cfg.Issuer
	if u, err := url.Parse(cfg.Issuer); err == nil && u.Host != "" {
		label = u.Host
	}
	google := label == "accounts.google.com"
	if google {
		label = "Google"
	}
	key, err := hkdf.Key(sha256.New, signer.secret, nil, flowKeyLabel, 32)
	if err != nil {
		panic(fmt.Errorf("derive the flow cookie's key: %w", err)) // fixed sizes: cannot happen
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(fmt.Errorf("the flow cookie's cipher: %w", err))
	}
	seal, err := cipher.NewGCM(block)
	if err != nil {
		panic(fmt.Errorf("the flow cookie's cipher: %w", err))
	}
	set := func(list []string) map[string]bool {
		m := make(map[string]bool, len(list))
		for _, v := range list {
			m[strings.ToLower(v)] = true
		}
		return m
	}
	return &oidcFlow{
		cfg: cfg, label: label, google: google, now: signer.now,
		domains: set(cfg.AllowedDomains), emails: set(cfg.AllowedEmails),
		callbacks: newLimiter(rate.Every(time.Minute/callbacksPerMinute), callbacksPerMinute),
		wait:      identifyWait, discoveryWait: discoveryWait, failureMemory: failureMemory,
		flow:     cookie[[]string]{name: flowCookie, ttl: flowTTL, codec: sealedFields{aead: seal, n: 4}, now: signer.now},
		identity: cookie[[]string]{name: identityCookie, ttl: identityTTL, codec: signedFields{key: signer.secret, n: 3}, now: signer.now},
	}
}

// provider is the provider's discovered configuration. Concurrent callers
// share one discovery, each waiting only as long as its ctx allows; a
// failed discovery is answered from memory for failureMemory, so that a
// provider down costs each request nothing but its 503.
func (o *oidcFlow) provider(ctx context.Context) (*provider, error) {
	o.mu.Lock()
	if o.ready != nil {
		p := o.ready
		o.mu.Unlock()
		return p, nil
	}
	d := o.pending
	if d != nil && d.failed() && !o.now().Before(o.failedUntil) {
		d = nil // forgotten: try again
	}
	if d == nil {
		d = &discovery{done: make(chan struct{})}
		o.pending = d
		go o.discover(d)
	}
	o.mu.Unlock()
	select {
	case <-d.done:
		return d.p, d.err
	case <-ctx.Done():
		return nil, fmt.Errorf("discover %s: %w", o.cfg.Issuer, ctx.Err())
	}
}

// failed reports whether d has ended in failure.
func (d *discovery) failed() bool {
	select {
	case <-d.done:
		return d.err != nil
	default:
		return false
	}
}

// discover runs d, with a deadline of its own: it is no one request's.
func (o *oidcFlow) discover(d *discovery) {
	ctx, cancel := context.WithTimeout(oidc.ClientContext(context.Background(), o.cfg.Client), o.discoveryWait)
	defer cancel()
	// go-oidc keeps only the context's client, not the context, for its
	// key set's fetches: this deadline ends with discovery.
	p, err := oidc.NewProvider(ctx, o.cfg.Issuer)
	if err != nil {
		err = fmt.Errorf("discover %s: %w", o.cfg.Issuer, err)
	}
	var methods struct {
		Auth []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err == nil {
		if cerr := p.Claims(&methods); cerr != nil {
			err = fmt.Errorf("read %s's discovery document: %w", o.cfg.Issuer, cerr)
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		d.err = err
		o.failedUntil = o.now().Add(o.failureMemory)
		close(d.done)
		return
	}
	ep := p.Endpoint()
	ep.AuthStyle = authStyle(methods.Auth, o.cfg.ClientSecret)
	d.p = &provider{
		oauth: &oauth2.Config{
			ClientID: o.cfg.ClientID, ClientSecret: o.cfg.ClientSecret,
			Endpoint: ep, Scopes: []string{oidc.ScopeOpenID, "email"},
		},
		verifier: p.Verifier(&oidc.Config{ClientID: o.cfg.ClientID}),
	}
	o.ready, o.pending = d.p, nil
	close(d.done)
}

// authStyle is how the client authenticates at the token endpoint, from
// the methods the provider's discovery lists: set, never detected, since
// x/oauth2's detection retries every refused code a second time.
func authStyle(methods []string, secret string) oauth2.AuthStyle {
	switch {
	case secret == "":
		// A public client (PKCE alone) names itself in the body.
		return oauth2.AuthStyleInParams
	case len(methods) == 0, slices.Contains(methods, "client_secret_basic"):
		// Basic is the default when discovery lists none (OpenID
		// Connect Discovery 1.0, section 3).
		return oauth2.AuthStyleInHeader
	case slices.Contains(methods, "client_secret_post"):
		return oauth2.AuthStyleInParams
	default:
		return oauth2.AuthStyleInHeader
	}
}

// redirectURL is the callback's address for requests to r's host.
func (o *oidcFlow) redirectURL(r *http.Request) string {
	base := o.cfg.PublicURL
	if base == "" {
		scheme := "http"
		if overHTTPS(r) {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return strings.TrimSuffix(base, "/") + "/auth/callback"
}

var errNoIdentityCookie = errors.New("not signed in with the provider")

// Identify implements Identifier: the identity the provider vouched for at
// the callback, from its signed cookie.
func (o *oidcFlow) Identify(r *http.Request) (Identity, error) {
	f, _, ok := o.identity.read(r)
	if !ok || f[0] == "" {
		return Identity{}, errNoIdentityCookie
	}
	gen, err := strconv.ParseInt(f[2], 10, 64)
	if err != nil || gen < 0 {
		return Identity{}, errNoIdentityCookie
	}
	return Identity{Subject: f[0], Email: f[1], Gen: gen}, nil
}

// signOut ends the sign-in with the provider here.
func (o *oidcFlow) signOut(w http.ResponseWriter, r *http.Request) { o.identity.clear(w, r) }

// idClaims are the ID token's claims that decide who is let in.
type idClaims struct {
	Email         string   `json:"email"`
	EmailVerified jsonBool `json:"email_verified"`
	HostedDomain  string   `json:"hd"` // Google's: the account's Workspace domain
}

// jsonBool is a boolean claim, which some providers write as a string.
type jsonBool bool

func (b *jsonBool) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("a boolean claim: %w", err)
	}
	switch v := v.(type) {
	case bool:
		*b = jsonBool(v)
	case string:
		*b = jsonBool(strings.EqualFold(v, "true"))
	default:
		*b = false
	}
	return nil
}

// refusal says, in the language of ctx, why the account c describes is
// not let in; "" lets it in. An e-mail address is used (shown, let in by)
// only when the provider has verified it.
func (o *oidcFlow) refusal(ctx context.Context, c idClaims) string {
	email := strings.ToLower(c.Email)
	if email != "" && !c.EmailVerified {
		return i18n.T(ctx, "auth.unverified_email", "Provider", o.label)
	}
	if o.cfg.AllowAny {
		return ""
	}
	domain := ""
	if o.google {
		// Google vouches for a Workspace domain only through "hd": a
		// personal account may carry any verified address.
		domain = strings.ToLower(c.HostedDomain)
	} else if i := strings.LastIndexByte(email, '@'); i >= 0 {
		domain = email[i+1:]
	}
	if (email != "" && o.emails[email]) || (domain != "" && o.domains[domain]) {
		return ""
	}
	if email == "" {
		return i18n.T(ctx, "auth.not_open_account")
	}
	return i18n.T(ctx, "auth.not_open_email", "Email", c.Email)
}

// login answers GET /auth/login?room=: to the provider, with a new state,
// PKCE verifier and nonce kept in the flow's sealed cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.oidc.wait)
	defer cancel()
	p, err := s.oidc.provider(ctx)
	if err != nil {
		s.log.Error("identity provider", "err", err)
		s.page(w, r, http.StatusServiceUnavailable, views.ErrorPage(i18n.T(r.Context(), "auth.unavailable_title"), i18n.T(r.Context(), "auth.provider_unreachable")))
		return
	}
	room, bad := validateRoom(r.Context(), r.URL.Query().Get("room"))
	if bad != "" {
		room = ""
	}
	state, verifier, nonce := rand.Text(), oauth2.GenerateVerifier(), rand.Text()
	s.oidc.flow.set(w, r, []string{state, verifier, nonce, room})
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, p.oauth.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce),
		oauth2.SetAuthURLParam("redirect_uri", s.oidc.redirectURL(r))), http.StatusFound)
}

// callback answers GET /auth/callback: the provider sends the browser back
// with a code, which is exchanged (with the PKCE verifier) for an ID token;
// a verified token, with the flow's nonce, for an account let in, signs
// the person in here. A flow's state counts once, on every instance.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if !s.oidc.callbacks.allowAt(clientIP(r, s.trustProxy), time.Now()) {
		w.Header().Set("Retry-After", "60")
		s.page(w, r, http.StatusTooManyRequests, views.ErrorPage(i18n.T(r.Context(), "auth.too_many_title"), i18n.T(r.Context(), "auth.too_many")))
		return
	}
	flow, _, ok := s.oidc.flow.read(r)
	s.oidc.flow.clear(w, r) // one use
	// why is a sentence of the catalog, in a language: the page's, and
	// English for the log.
	refuse := func(status int, why func(context.Context) string, err error) {
		s.log.Info("sign-in with the provider refused", "why", why(context.Background()), "err", err)
		s.page(w, r, status, views.ErrorPage(i18n.T(r.Context(), "auth.failed_title"), i18n.T(r.Context(), "auth.sign_in_again", "Why", why(r.Context()))))
	}
	q := r.URL.Query()
	switch {
	case !ok:
		refuse(http.StatusBadRequest, func(ctx context.Context) string { return i18n.T(ctx, "auth.not_started") }, nil)
		return
	case !hmac.Equal([]byte(q.Get("state")), []byte(flow[0])):
		refuse(http.StatusBadRequest, func(ctx context.Context) string { return i18n.T(ctx, "auth.state_mismatch") }, nil)
		return
	}
	verifier, nonce, room := flow[1], flow[2], flow[3]
	ctx, cancel := context.WithTimeout(oidc.ClientContext(r.Context(), s.oidc.cfg.Client), 2*identifyWait)
	defer cancel()
	// Spent before anything reaches the provider: a replayed cookie (the
	// same browser's, or a copy at another instance) costs it nothing.
	first, err := s.firstUse(ctx, "oidc-state:"+flow[0])
	switch {
	case err != nil:
		s.log.Error("spend a sign-in's state", "err", err)
		s.page(w, r, http.StatusServiceUnavailable, views.ErrorPage(i18n.T(r.Context(), "auth.unavailable_title"), i18n.T(r.Context(), "auth.cannot_complete")))
		return
	case !first:
		refuse(http.StatusBadRequest, func(ctx context.Context) string { return i18n.T(ctx, "auth.used") }, nil)
		return
	case q.Get("error") != "":
		refuse(http.StatusUnauthorized, func(ctx context.Context) string { return i18n.T(ctx, "auth.not_signed_in") }, errors.New(q.Get("error")))
		return
	}
	p, err := s.oidc.provider(ctx)
	if err != nil {
		refuse(http.StatusServiceUnavailable, func(ctx context.Context) string { return i18n.T(ctx, "auth.provider_down") }, err)
		return
	}
	tok, err := p.oauth.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier),
		oauth2.SetAuthURLParam("redirect_uri", s.oidc.redirectURL(r)))
	if err != nil {
		refuse(http.StatusUnauthorized, func(ctx context.Context) string { return i18n.T(ctx, "auth.refused") }, err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		refuse(http.StatusUnauthorized, func(ctx context.Context) string { return i18n.T(ctx, "auth.no_identity") }, nil)
		return
	}
	idt, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		refuse(http.StatusUnauthorized, func(ctx context.Context) string { return i18n.T(ctx, "auth.not_verified") }, err)
		return
	}
	if !hmac.Equal([]byte(idt.Nonce), []byte(nonce)) {
		refuse(http.StatusUnauthorized, func(ctx context.Context) string { return i18n.T(ctx, "auth.wrong_nonce") }, nil)
		return
	}
	var claims idClaims
	if err := idt.Claims(&claims); err != nil {
		refuse(http.StatusUnauthorized, func(ctx context.Context) string { return i18n.T(ctx, "auth.identity_unreadable") }, err)
		return
	}
	if why := s.oidc.refusal(r.Context(), claims); why != "" {
		// Nothing is kept of the account: no identity cookie, no name.
		s.log.Info("sign-in with the provider refused: account not let in", "sub", idt.Subject, "email", claims.Email, "verified", bool(claims.EmailVerified), "hd", claims.HostedDomain)
		s.page(w, r, http.StatusForbidden, views.ErrorPage(i18n.T(r.Context(), "auth.not_open_title"), i18n.T(r.Context(), "auth.not_open", "Why", why)))
		return
	}
	// The cookie carries the identity's generation: a sign-out bumps it,
	// and cookies issued before are refused on every instance.
	gen, err := s.chat.Generation(ctx, identityCredential(idt.Subject))
	if err != nil {
		s.log.Error("read an identity's generation", "err", err)
		s.unavailable(w, r)
		return
	}
	s.oidc.identity.set(w, r, []string{idt.Subject, claims.Email, strconv.FormatInt(gen, 10)})
	to := "/"
	if room != "" {
		to = "/?room=" + url.QueryEscape(room)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// firstUse spends id in the store, on every instance, for the flow's life.
func (s *Server) firstUse(ctx context.Context, id string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, brokerWait)
	defer cancel()
	first, err := s.chat.FirstUse(ctx, id, flowTTL)
	if err != nil {
		return false, fmt.Errorf("spend the sign-in's state: %w", err)
	}
	return first, nil
}
