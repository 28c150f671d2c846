package handlers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/a-h/templ"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/views"
)

// Identity is a person as an identity provider vouches for them.
type Identity struct {
	Subject string // stable and unique at the provider
	Email   string
	// Gen is the identity's generation when the service's own identity
	// cookie was issued (AUTH=oidc): a sign-out bumps the stored one.
	Gen int64
}

// identityCredential is a verified identity's id among
// realtime.Credentials.
func identityCredential(subject string) string { return "identity:" + subject }

// Identifier tells who a request comes from, as a trusted identity provider
// says. With one configured, every page, the socket and the no-JS post need
// an identity, and a display name belongs to one identity.
type Identifier interface {
	// Identify returns the identity r carries; an error says it carries
	// none that holds (missing, forged, expired, meant for another
	// audience).
	Identify(r *http.Request) (Identity, error)
}

// identityKey is the context key of the request's verified identity.
type identityKey struct{}

// identityOf is the verified identity the request carries, if any.
func identityOf(r *http.Request) (Identity, bool) {
	id, ok := r.Context().Value(identityKey{}).(Identity)
	return id, ok
}

// Identity-Aware Proxy's published keys, and the issuer of its tokens.
const (
	// DefaultIAPKeys is the key set Google publishes for IAP's tokens.
	DefaultIAPKeys = "https://www.gstatic.com/iap/verify/public_key-jwk"
	iapIssuer      = "https://cloud.google.com/iap"
	iapHeader      = "X-Goog-Iap-Jwt-Assertion"
	// identifyWait bounds a verification, a key set fetch included.
	identifyWait = 5 * time.Second
)

var errNoIAPToken = errors.New("no " + iapHeader + " header")

// IAP identifies requests by the JWT that Identity-Aware Proxy adds to each
// request it lets through: signed with ES256 by one of the keys at its key
// set, issued by IAP, for this service's audience, not expired. Behind IAP
// nothing else reaches the service but its health checks; a request
// without a valid token did not come through IAP.
type IAP struct {
	verifier *oidc.IDTokenVerifier
}

// NewIAP returns an IAP that checks tokens against the key set at jwksURL
// (DefaultIAPKeys in production), fetched with client, and the audience
// (IAP's "/projects/NUMBER/..." for this service).
func NewIAP(jwksURL, audience string, client *http.Client) *IAP {
	// The key set keeps this context for its fetches, as configuration;
	// the client's timeout bounds them.
	ctx := oidc.ClientContext(context.Background(), client)
	keys := oidc.NewRemoteKeySet(ctx, jwksURL)
	return &IAP{verifier: oidc.NewVerifier(iapIssuer, keys, &oidc.Config{
		ClientID:             audience,
		SupportedSigningAlgs: []string{oidc.ES256},
	})}
}

// Identify implements Identifier.
func (a *IAP) Identify(r *http.Request) (Identity, error) {
	raw := r.Header.Get(iapHeader)
	if raw == "" {
		return Identity{}, errNoIAPToken
	}
	ctx, cancel := context.WithTimeout(r.Context(), identifyWait)
	defer cancel()
	tok, err := a.verifier.Verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("IAP token: %w", err)
	}
	var claims struct {
		Email string `json:"email"`
	}
	if err := tok.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("IAP token's claims: %w", err)
	}
	if tok.Subject == "" {
		return Identity{}, errors.New("IAP token without a subject")
	}
	return Identity{Subject: tok.Subject, Email: claims.Email}, nil
}

// probes are the paths Cloud Run's health checks use: they reach the
// container directly, without IAP's token, so they need no identity (they
// tell nothing of the chat's contents).
var probes = map[string]bool{"/health": true, "/ready": true}

// identify puts the request's verified identity into its context.
// Behind a proxy that vouches for every request (IAP), a request without a
// valid one gets 401; with sign-in on the service's pages (OIDC), it goes
// on without.
func (s *Server) identify(next http.Handler) http.Handler {
	if s.identifier == nil {
		return next
	}
	if s.oidc != nil {
		// People sign in on the service's own pages: a request without
		// an identity goes on, and pages that need one lead to sign-in.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if id, err := s.identifier.Identify(r); err == nil && !s.revoked(r.Context(), identityCredential(id.Subject), id.Gen) {
				r = r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
			}
			next.ServeHTTP(w, r)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if probes[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		id, err := s.identifier.Identify(r)
		if err != nil {
			s.log.Info("request without a valid identity", "path", r.URL.Path, "err", err)
			w.Header().Set("Cache-Control", "no-store")
			s.page(w, r, http.StatusUnauthorized, unauthorizedPage(r.Context()))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}

// unauthorizedPage tells, in the language of ctx, a request without a
// valid identity to sign in again.
func unauthorizedPage(ctx context.Context) templ.Component {
	return views.ErrorPage(i18n.T(ctx, "auth.required_title"), i18n.T(ctx, "auth.required"))
}

// session is the request's session: its signed cookie, which with an
// Identifier must belong to the request's identity (a cookie left by
// someone else on a shared browser is no session).
func (s *Server) session(r *http.Request) (Session, bool) {
	sess, ok := s.cookieSession(r)
	if !ok || s.revoked(r.Context(), sessionCredential(sess.ID), sess.Gen) {
		return Session{}, false
	}
	return sess, true
}

// cookieSession is the request's session cookie, valid and, with an
// Identifier, of the request's identity; whether it was signed out since
// is not asked.
func (s *Server) cookieSession(r *http.Request) (Session, bool) {
	sess, ok := s.sessions.read(r)
	if !ok {
		return Session{}, false
	}
	if s.identifier != nil {
		if id, ok := identityOf(r); !ok || id.Subject != sess.Subject {
			return Session{}, false
		}
	}
	return sess, true
}

// revoked reports whether the credential a cookie issued at generation
// gen stands for was signed out since, on any instance (its stored
// generation is newer). A store that cannot answer now signs nobody out:
// every page and message needs it anyway, and a blip must not end
// everyone's session.
func (s *Server) revoked(ctx context.Context, credential string, gen int64) bool {
	ctx, cancel := context.WithTimeout(ctx, brokerWait)
	defer cancel()
	now, err := s.chat.Generation(ctx, credential)
	if err != nil {
		s.log.Warn("read a credential's generation", "err", err)
		return false
	}
	return now > gen
}

// boundName is the display name id chose before, "" when none or when it
// cannot be read now (the person types one).
func (s *Server) boundName(ctx context.Context, id Identity) string {
	ctx, cancel := context.WithTimeout(ctx, brokerWait)
	defer cancel()
	name, err := s.chat.BindName(ctx, id.Subject, "")
	if err != nil {
		s.log.Warn("read a bound name", "err", err)
		return ""
	}
	return name
}

// signInForm is the sign-in form's state that comes from who r is: the
// provider to sign in with, and who it says the person is.
func (s *Server) signInForm(r *http.Request) views.SignInForm {
	var f views.SignInForm
	if s.oidc != nil {
		f.Provider = s.oidc.label
	}
	if id, ok := identityOf(r); ok && s.oidc != nil {
		f.Verified = cmp.Or(id.Email, id.Subject)
	}
	f.Private = memberOf(r) != ""
	f.Unlisted = s.identifier == nil
	return f
}
