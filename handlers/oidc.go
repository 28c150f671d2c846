package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

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
)

// oidcFlow signs people in with an OpenID Connect provider: the
// authorization code flow with PKCE (S256), state and nonce, through
// golang.org/x/oauth2 and go-oidc. The flow's secrets wait in a signed,
// short-lived cookie; the verified identity is kept in another signed
// cookie, which Identify reads. The provider is discovered on first use,
// so that a provider down at start does not stop the service.
type oidcFlow struct {
	cfg    OIDCConfig
	label  string // "Google", or the issuer's host
	signer sessions
	// mu guards discovered; it is held across discovery, one at a time.
	mu         sync.Mutex
	discovered *oidc.Provider
}

func newOIDCFlow(cfg OIDCConfig, signer sessions) *oidcFlow {
	label := cfg.Issuer
	if u, err := url.Parse(cfg.Issuer); err == nil && u.Host != "" {
		label = u.Host
	}
	if label == "accounts.google.com" {
		label = "Google"
	}
	return &oidcFlow{cfg: cfg, label: label, signer: signer}
}

// provider is the provider's discovered configuration.
func (o *oidcFlow) provider(ctx context.Context) (*oidc.Provider, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.discovered != nil {
		return o.discovered, nil
	}
	// The provider keeps the context for its key set's fetches, as
	// configuration: it must outlive this request.
	p, err := oidc.NewProvider(oidc.ClientContext(context.WithoutCancel(ctx), o.cfg.Client), o.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("discover %s: %w", o.cfg.Issuer, err)
	}
	o.discovered = p
	return p, nil
}

// oauth2Config is the client's configuration for requests to r's host.
func (o *oidcFlow) oauth2Config(r *http.Request, p *oidc.Provider) *oauth2.Config {
	base := o.cfg.PublicURL
	if base == "" {
		scheme := "http"
		if overHTTPS(r) {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	return &oauth2.Config{
		ClientID:     o.cfg.ClientID,
		ClientSecret: o.cfg.ClientSecret,
		Endpoint:     p.Endpoint(),
		RedirectURL:  strings.TrimSuffix(base, "/") + "/auth/callback",
		Scopes:       []string{oidc.ScopeOpenID, "email"},
	}
}

// setSigned sets a signed cookie holding fields, for ttl.
func (o *oidcFlow) setSigned(w http.ResponseWriter, r *http.Request, name string, ttl time.Duration, fields ...string) {
	exp := o.signer.now().Add(ttl)
	enc := make([]string, 0, len(fields)+1)
	enc = append(enc, strconv.FormatInt(exp.Unix(), 10))
	for _, f := range fields {
		enc = append(enc, base64.RawURLEncoding.EncodeToString([]byte(f)))
	}
	payload := name + "|" + strings.Join(enc, "|") // the name: one cookie cannot pass for the other
	http.SetCookie(w, &http.Cookie{
		Name: prefixed(r, name), Value: strings.Join(enc, "|") + "." + o.signer.sign(payload),
		Path: "/", Expires: exp, MaxAge: int(ttl / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: overHTTPS(r),
	})
}

// readSigned returns the fields of a signed cookie that has not expired.
func (o *oidcFlow) readSigned(r *http.Request, name string, n int) ([]string, bool) {
	c, err := r.Cookie(prefixed(r, name))
	if err != nil {
		return nil, false
	}
	body, mac, ok := strings.Cut(c.Value, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(o.signer.sign(name+"|"+body))) {
		return nil, false
	}
	enc := strings.Split(body, "|")
	if len(enc) != n+1 {
		return nil, false
	}
	exp, err := strconv.ParseInt(enc[0], 10, 64)
	if err != nil || o.signer.now().Unix() >= exp {
		return nil, false
	}
	fields := make([]string, n)
	for i, e := range enc[1:] {
		b, err := base64.RawURLEncoding.DecodeString(e)
		if err != nil {
			return nil, false
		}
		fields[i] = string(b)
	}
	return fields, true
}

func clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{
		Name: prefixed(r, name), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: overHTTPS(r),
	})
}

var errNoIdentityCookie = errors.New("not signed in with the provider")

// Identify implements Identifier: the identity the provider vouched for at
// the callback, from its signed cookie.
func (o *oidcFlow) Identify(r *http.Request) (Identity, error) {
	f, ok := o.readSigned(r, identityCookie, 2)
	if !ok || f[0] == "" {
		return Identity{}, errNoIdentityCookie
	}
	return Identity{Subject: f[0], Email: f[1]}, nil
}

// signOut ends the sign-in with the provider here.
func (o *oidcFlow) signOut(w http.ResponseWriter, r *http.Request) { clearCookie(w, r, identityCookie) }

// login answers GET /auth/login?room=: to the provider, with a new state,
// PKCE verifier and nonce kept in the flow's cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), identifyWait)
	defer cancel()
	p, err := s.oidc.provider(ctx)
	if err != nil {
		s.log.Error("identity provider", "err", err)
		s.page(w, r, http.StatusServiceUnavailable, views.ErrorPage("Sign-in unavailable", "The identity provider cannot be reached right now. Please try again in a moment."))
		return
	}
	room, bad := validateRoom(r.URL.Query().Get("room"))
	if bad != "" {
		room = ""
	}
	state, verifier, nonce := rand.Text(), oauth2.GenerateVerifier(), rand.Text()
	s.oidc.setSigned(w, r, flowCookie, flowTTL, state, verifier, nonce, room)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, s.oidc.oauth2Config(r, p).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)), http.StatusFound)
}

// callback answers GET /auth/callback: the provider sends the browser back
// with a code, which is exchanged (with the PKCE verifier) for an ID token;
// a verified token, with the flow's nonce, signs the person in here.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	flow, ok := s.oidc.readSigned(r, flowCookie, 4)
	clearCookie(w, r, flowCookie) // one use
	refuse := func(status int, why string, err error) {
		s.log.Info("sign-in with the provider refused", "why", why, "err", err)
		s.page(w, r, status, views.ErrorPage("Sign-in failed", why+" Please sign in again."))
	}
	q := r.URL.Query()
	switch {
	case !ok:
		refuse(http.StatusBadRequest, "This sign-in was not started here, or took too long.", nil)
		return
	case !hmac.Equal([]byte(q.Get("state")), []byte(flow[0])):
		refuse(http.StatusBadRequest, "This sign-in does not match the one started here.", nil)
		return
	case q.Get("error") != "":
		refuse(http.StatusUnauthorized, "The provider did not sign you in.", errors.New(q.Get("error")))
		return
	}
	verifier, nonce, room := flow[1], flow[2], flow[3]
	ctx, cancel := context.WithTimeout(oidc.ClientContext(r.Context(), s.oidc.cfg.Client), 2*identifyWait)
	defer cancel()
	p, err := s.oidc.provider(ctx)
	if err != nil {
		refuse(http.StatusServiceUnavailable, "The identity provider cannot be reached right now.", err)
		return
	}
	tok, err := s.oidc.oauth2Config(r, p).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		refuse(http.StatusUnauthorized, "The provider refused the sign-in.", err)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		refuse(http.StatusUnauthorized, "The provider sent no identity.", nil)
		return
	}
	idt, err := p.Verifier(&oidc.Config{ClientID: s.oidc.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		refuse(http.StatusUnauthorized, "The provider's identity could not be verified.", err)
		return
	}
	if !hmac.Equal([]byte(idt.Nonce), []byte(nonce)) {
		refuse(http.StatusUnauthorized, "The provider's identity was not issued for this sign-in.", nil)
		return
	}
	var claims struct {
		Email string `json:"email"`
	}
	if err := idt.Claims(&claims); err != nil {
		refuse(http.StatusUnauthorized, "The provider's identity could not be read.", err)
		return
	}
	s.oidc.setSigned(w, r, identityCookie, identityTTL, idt.Subject, claims.Email)
	to := "/"
	if room != "" {
		to = "/?room=" + url.QueryEscape(room)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}
