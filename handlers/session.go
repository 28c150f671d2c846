package handlers

import (
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

// sessions issues and reads session cookies, signed with an HMAC key that
// every instance of a deployment shares.
type sessions struct {
	secret []byte
	now    func() time.Time
}

// cookie is the session cookie, built on each use: sessions is a plain
// value that Server and tests spell out, with nothing to set up.
func (s sessions) cookie() cookie[Session] {
	return cookie[Session]{name: sessionCookie, ttl: sessionTTL, codec: sessionCodec{key: s.secret}, now: s.now}
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
		return Session{ID: identitySession(subject), Name: name, Subject: subject}
	}
	return Session{ID: rand.Text(), Name: name, Subject: subject}
}

// issue sets a session cookie for sess, valid for sessionTTL from now.
func (s sessions) issue(w http.ResponseWriter, r *http.Request, sess Session) {
	s.cookie().set(w, r, sess)
}

// clear removes the session cookie: the browser is signed out.
func (s sessions) clear(w http.ResponseWriter, r *http.Request) { s.cookie().clear(w, r) }

// read returns the request's session; a missing, tampered or expired cookie,
// or one whose name is no longer a valid one, is no session.
func (s sessions) read(r *http.Request) (Session, bool) {
	sess, exp, ok := s.cookie().read(r)
	if !ok {
		return Session{}, false
	}
	if _, bad := validateName(r.Context(), sess.Name); bad != "" {
		return Session{}, false
	}
	sess.Expires = exp
	return sess, true
}

// sessionCodec is the session cookie's form, older than the other cookies'
// and kept byte for byte, so that no one is signed out by a deploy: the
// payload base64url, "." and the payload's MAC. The payload is the expiry
// in Unix seconds (then ":" and the generation, once a sign-out has bumped
// it: cookies issued before generations had none), "|", the session id,
// "|" and the name; a verified identity's starts with identityPayload and
// has the subject, base64url, before the name.
type sessionCodec struct{ key macKey }

// encode writes sess (but for Expires, which is exp) as the payload above.
func (c sessionCodec) encode(_ string, exp time.Time, sess Session) string {
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
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + c.key.sign(payload)
}

// decode reads what encode wrote, refusing a payload it could not have
// written (a generation below 1, an empty subject) even when signed.
func (c sessionCodec) decode(_, value string) (Session, time.Time, bool) {
	enc, mac, ok := strings.Cut(value, ".")
	if !ok {
		return Session{}, time.Time{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return Session{}, time.Time{}, false
	}
	payload := string(raw)
	if !c.key.verify(payload, mac) {
		return Session{}, time.Time{}, false
	}
	var subject string
	if rest, ok := strings.CutPrefix(payload, identityPayload); ok {
		parts := strings.SplitN(rest, "|", 4)
		if len(parts) != 4 {
			return Session{}, time.Time{}, false
		}
		sub, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil || len(sub) == 0 {
			return Session{}, time.Time{}, false
		}
		subject = string(sub)
		payload = parts[0] + "|" + parts[1] + "|" + parts[3]
	}
	parts := strings.SplitN(payload, "|", 3)
	if len(parts) != 3 {
		return Session{}, time.Time{}, false
	}
	expires, genField, hasGen := strings.Cut(parts[0], ":")
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil {
		return Session{}, time.Time{}, false
	}
	var gen int64
	if hasGen {
		if gen, err = strconv.ParseInt(genField, 10, 64); err != nil || gen < 1 {
			return Session{}, time.Time{}, false
		}
	}
	return Session{ID: parts[1], Name: parts[2], Subject: subject, Gen: gen}, time.Unix(exp, 0), true
}

// sessionCredential is a session's id among realtime.Credentials.
func sessionCredential(id string) string { return "session:" + id }

// identitySession is the session id of a verified identity: the same in
// every browser and on every instance, and not the subject itself.
func identitySession(subject string) string {
	sum := sha256.Sum256([]byte(subject))
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:16])
}
