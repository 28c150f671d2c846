package handlers

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// cookie is one of the service's cookies, holding a value of type T that
// expires. It is the one place that spells a cookie's attributes, applies
// the __Host- rule and refuses a cookie past its expiry, so that the
// session, sign-in flow and identity cookies cannot drift apart. How the
// value and its expiry are written and protected is its codec's: each
// cookie keeps the bytes browsers already hold.
type cookie[T any] struct {
	name  string // without the __Host- prefix, which depends on the request
	ttl   time.Duration
	codec cookieCodec[T]
	now   func() time.Time
}

// cookieCodec writes a value and its expiry as a cookie's value that only
// the service can have written, and reads one back. The cookie's name is
// given so that a codec can bind it in: one cookie cannot pass for another.
type cookieCodec[T any] interface {
	encode(name string, exp time.Time, v T) string
	// decode returns what encode wrote; ok is false for anything else.
	// It does not judge the expiry: the cookie does.
	decode(name, value string) (v T, exp time.Time, ok bool)
}

// set gives the browser a cookie holding v for the cookie's ttl from now.
func (c cookie[T]) set(w http.ResponseWriter, r *http.Request, v T) {
	exp := c.now().Add(c.ttl)
	c.write(w, r, c.codec.encode(c.name, exp, v), exp, int(c.ttl/time.Second))
}

// read returns the value r's cookie holds and when it expires; a missing,
// tampered or expired cookie, or one for the other scheme's name, holds
// none.
func (c cookie[T]) read(r *http.Request) (T, time.Time, bool) {
	var none T
	hc, err := r.Cookie(prefixed(r, c.name))
	if err != nil {
		return none, time.Time{}, false
	}
	v, exp, ok := c.codec.decode(c.name, hc.Value)
	if !ok || c.now().Unix() >= exp.Unix() {
		return none, time.Time{}, false
	}
	return v, exp, true
}

// clear tells the browser to drop the cookie.
func (c cookie[T]) clear(w http.ResponseWriter, r *http.Request) {
	c.write(w, r, "", time.Time{}, -1)
}

// write is every cookie's attributes: Path=/ and no Domain (as __Host-
// requires), out of scripts' reach, sent on top-level navigations from
// other sites (the provider's redirect back), Secure over HTTPS.
func (c cookie[T]) write(w http.ResponseWriter, r *http.Request, value string, exp time.Time, maxAge int) {
	setCookie(w, r, c.name, value, exp, maxAge)
}

// setCookie gives the browser cookie name (prefixed for r's scheme) with
// every cookie's attributes (see cookie.write): the session, sign-in flow
// and identity cookies, and the language cookie, which needs no codec.
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, exp time.Time, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: prefixed(r, name), Value: value,
		Path: "/", Expires: exp, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: overHTTPS(r),
	})
}

// overHTTPS reports whether the browser reached the service over HTTPS:
// directly, or through Cloud Run's front end, which terminates TLS and
// says so in X-Forwarded-Proto.
func overHTTPS(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

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

// macKey signs cookies with HMAC-SHA256 under SESSION_SECRET, which every
// instance of a deployment shares, so that any of them reads a cookie
// another issued.
type macKey []byte

// sign is msg's MAC, as a cookie carries it (base64url).
func (k macKey) sign(msg string) string {
	mac := hmac.New(sha256.New, k)
	mac.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// verify reports, in constant time, whether mac is msg's.
func (k macKey) verify(msg, mac string) bool {
	return hmac.Equal([]byte(mac), []byte(k.sign(msg)))
}

// signedFields is the identity cookie's form: readable by the browser,
// written only by the service. Its value is the fields' body, "." and the
// MAC of name+"|"+body.
type signedFields struct {
	key macKey
	n   int // fields a cookie holds
}

// encode signs the body with the name bound in.
func (c signedFields) encode(name string, exp time.Time, fields []string) string {
	body := encodeFields(exp, fields)
	return body + "." + c.key.sign(name+"|"+body)
}

// decode accepts only a body signed under this name.
func (c signedFields) decode(name, value string) ([]string, time.Time, bool) {
	body, mac, ok := strings.Cut(value, ".")
	if !ok || !c.key.verify(name+"|"+body, mac) {
		return nil, time.Time{}, false
	}
	return decodeFields(body, c.n)
}

// sealedFields is the sign-in flow cookie's form: its fields are secrets
// the browser carries but must not read. Its value is base64url of a
// random nonce and the fields' body sealed with AES-GCM, the cookie's
// name as associated data.
type sealedFields struct {
	aead cipher.AEAD
	n    int // fields a cookie holds
}

// encode seals under a fresh nonce: two cookies of one flow look unrelated.
func (c sealedFields) encode(name string, exp time.Time, fields []string) string {
	nonce := make([]byte, c.aead.NonceSize())
	_, _ = rand.Read(nonce) // never fails (crypto/rand)
	sealed := c.aead.Seal(nonce, nonce, []byte(encodeFields(exp, fields)), []byte(name))
	return base64.RawURLEncoding.EncodeToString(sealed)
}

// decode opens only what was sealed under this name.
func (c sealedFields) decode(name, value string) ([]string, time.Time, bool) {
	sealed, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(sealed) < c.aead.NonceSize() {
		return nil, time.Time{}, false
	}
	nonce, box := sealed[:c.aead.NonceSize()], sealed[c.aead.NonceSize():]
	body, err := c.aead.Open(nil, nonce, box, []byte(name))
	if err != nil {
		return nil, time.Time{}, false
	}
	return decodeFields(string(body), c.n)
}

// encodeFields writes exp and fields as one cookie-safe body: the expiry
// in Unix seconds, then each field base64url, "|" between.
func encodeFields(exp time.Time, fields []string) string {
	enc := make([]string, 0, len(fields)+1)
	enc = append(enc, strconv.FormatInt(exp.Unix(), 10))
	for _, f := range fields {
		enc = append(enc, base64.RawURLEncoding.EncodeToString([]byte(f)))
	}
	return strings.Join(enc, "|")
}

// decodeFields reads the expiry and n fields that encodeFields wrote.
func decodeFields(body string, n int) ([]string, time.Time, bool) {
	enc := strings.Split(body, "|")
	if len(enc) != n+1 {
		return nil, time.Time{}, false
	}
	exp, err := strconv.ParseInt(enc[0], 10, 64)
	if err != nil {
		return nil, time.Time{}, false
	}
	fields := make([]string, n)
	for i, e := range enc[1:] {
		b, err := base64.RawURLEncoding.DecodeString(e)
		if err != nil {
			return nil, time.Time{}, false
		}
		fields[i] = string(b)
	}
	return fields, time.Unix(exp, 0), true
}
