package handlers

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	sessionCookie = "chat_session"
	sessionTTL    = 7 * 24 * time.Hour
	// identityPayload starts the payload of a session a verified identity
	// signed in (an expiry, which starts the others, is digits).
	identityPayload = "i|"
)

// overHTTPS reports whether the browser reached the service over HTTPS:
// directly, or through Cloud Run's front end, which terminates TLS and
// says so in X-Forwarded-Proto.
func overHTTPS(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

// cookieName is the session cookie's name for r's scheme.
func cookieName(r *http.Request) string { return prefixed(r, sessionCookie) }

// prefixed is a cookie's name for r's scheme: over HTTPS, __Host-
// prefixed. A browser keeps a __Host- cookie only if it is Secure, has
// Path=/ and no Domain, so a sibling subdomain cannot set one that passes
// for ours.
func prefixed(r *http.Request, name string) string {
	if overHTTPS(r) {
		return "__Host-" + name
	}
	return name
}

// Session is who a signed cookie says the user is. ID tells apart two
// sign-ins with one name; it scopes nonces. Subject is the verified identity
// that signed in, when an identity provider is configured.
type Session struct {
	ID      string
	Name    string
	Subject string
	Expires time.Time
	// Gen is the session's generation when the cookie was issued: a
	// sign-out bumps the stored one, and older cookies are no session.
	Gen int64
}

// sessions signs and checks session cookies with an HMAC key that every
// instance of a deployment shares.
type sessions struct {
	secret []byte
	now    func() time.Time
}

func (s sessions) sign(payload string) string {
	mac := hmac.New(sha256.New, s.secret)
	mac.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// forName returns the session a sign-in as name, by the verified identity
// subject ("" without one), gets: the request's own when it is already
// signed in so (so that a user signing in again is not taken for someone
// else holding the name), else a new one.
func (s sessions) forName(r *http.Request, name, subject string) Session {
	if cur, ok := s.read(r); ok && cur.Name == name && cur.Subject == subject {
		return cur
	}
	if subject != "" {
		// One person, one session, whichever browser: their phone and
		// laptop hold the name in a room together, and share a send rate.
		sum := sha256.Sum256([]byte(subject))
		return Session{ID: base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:16]), Name: name, Subject: subject}
	}
	return Session{ID: rand.Text(), Name: name, Subject: subject}
}

// issue sets a session cookie for sess, valid for sessionTTL from now.
func (s sessions) issue(w http.ResponseWriter, r *http.Request, sess Session) {
	exp := s.now().Add(sessionTTL)
	// The expiry field carries the generation after a colon once a
	// sign-out has bumped it; cookies issued before generations had none.
	expires := strconv.FormatInt(exp.Unix(), 10)
	if sess.Gen > 0 {
		expires += ":" + strconv.FormatInt(sess.Gen, 10)
	}
	payload := expires + "|" + sess.ID + "|" + sess.Name
	if sess.Subject != "" {
		// The subject is the provider's (any bytes); the name stays last.
		payload = identityPayload + expires + "|" + sess.ID + "|" +
			base64.RawURLEncoding.EncodeToString([]byte(sess.Subject)) + "|" + sess.Name
	}
	value := base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + s.sign(payload)
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName(r),
		Value:    value,
		Path:     "/",
		Expires:  exp,
		MaxAge:   int(sessionTTL / time.Second),
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   overHTTPS(r),
	})
}

// clear removes the session cookie: the browser is signed out.
func (s sessions) clear(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name:     cookieName(r),
		Value:    "",
		Path:     "/",
		MaxAge:   -1,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   overHTTPS(r),
	})
}

// read returns the request's session; a missing, tampered or expired cookie
// is no session.
func (s sessions) read(r *http.Request) (Session, bool) {
	c, err := r.Cookie(cookieName(r))
	if err != nil {
		return Session{}, false
	}
	enc, mac, ok := strings.Cut(c.Value, ".")
	if !ok {
		return Session{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return Session{}, false
	}
	payload := string(raw)
	if !hmac.Equal([]byte(mac), []byte(s.sign(payload))) {
		return Session{}, false
	}
	var subject string
	if rest, ok := strings.CutPrefix(payload, identityPayload); ok {
		parts := strings.SplitN(rest, "|", 4)
		if len(parts) != 4 {
			return Session{}, false
		}
		sub, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil || len(sub) == 0 {
			return Session{}, false
		}
		subject = string(sub)
		payload = parts[0] + "|" + parts[1] + "|" + parts[3]
	}
	parts := strings.SplitN(payload, "|", 3)
	if len(parts) != 3 {
		return Session{}, false
	}
	expires, genField, hasGen := strings.Cut(parts[0], ":")
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil || s.now().Unix() >= exp {
		return Session{}, false
	}
	var gen int64
	if hasGen {
		if gen, err = strconv.ParseInt(genField, 10, 64); err != nil || gen < 1 {
			return Session{}, false
		}
	}
	if _, bad := validateName(parts[2]); bad != "" {
		return Session{}, false
	}
	return Session{ID: parts[1], Name: parts[2], Subject: subject, Expires: time.Unix(exp, 0), Gen: gen}, true
}

// sessionCredential is a session's id among realtime.Credentials.
func sessionCredential(id string) string { return "session:" + id }
