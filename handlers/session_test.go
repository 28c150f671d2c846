package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSessionCookie(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := sessions{secret: []byte("k1"), now: func() time.Time { return now }}
	issue := func(r *http.Request, name string) *http.Cookie {
		w := httptest.NewRecorder()
		s.issue(w, r, s.forName(r, name, ""))
		return w.Result().Cookies()[0]
	}
	read := func(s sessions, c *http.Cookie) (Session, bool) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(c)
		return s.read(r)
	}

	c := issue(httptest.NewRequest(http.MethodGet, "/", nil), "Ann|with a bar")
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure {
		t.Errorf("cookie flags: HttpOnly %v SameSite %v Secure %v", c.HttpOnly, c.SameSite, c.Secure)
	}
	got, ok := read(s, c)
	if !ok || got.Name != "Ann|with a bar" || got.ID == "" {
		t.Fatalf("read back %+v %v", got, ok)
	}
	if again, _ := read(s, issue(httptest.NewRequest(http.MethodGet, "/", nil), "Ann|with a bar")); again.ID == got.ID {
		t.Error("two sign-ins share a session id")
	}
	// Signing in again with the same name keeps the session; another name
	// gets a new one.
	signedIn := httptest.NewRequest(http.MethodGet, "/", nil)
	signedIn.AddCookie(c)
	if same, _ := read(s, issue(signedIn, "Ann|with a bar")); same.ID != got.ID {
		t.Error("signing in again with the same name changed the session")
	}
	if other, _ := read(s, issue(signedIn, "Bob")); other.ID == got.ID {
		t.Error("signing in with another name kept the session")
	}

	// Over HTTPS the cookie is Secure and __Host- prefixed, and only that
	// cookie is read there.
	behindProxy := httptest.NewRequest(http.MethodGet, "/", nil)
	behindProxy.Header.Set("X-Forwarded-Proto", "https")
	secure := issue(behindProxy, "Ann")
	if !secure.Secure || secure.Name != "__Host-chat_session" || secure.Path != "/" || secure.Domain != "" {
		t.Errorf("a cookie over HTTPS: %s", secure)
	}
	httpsRead := httptest.NewRequest(http.MethodGet, "/", nil)
	httpsRead.Header.Set("X-Forwarded-Proto", "https")
	httpsRead.AddCookie(secure)
	if got, ok := s.read(httpsRead); !ok || got.Name != "Ann" {
		t.Errorf("the __Host- cookie was not read over HTTPS: %+v %v", got, ok)
	}
	plainOverHTTPS := httptest.NewRequest(http.MethodGet, "/", nil)
	plainOverHTTPS.Header.Set("X-Forwarded-Proto", "https")
	plainOverHTTPS.AddCookie(&http.Cookie{Name: "chat_session", Value: secure.Value})
	if _, ok := s.read(plainOverHTTPS); ok {
		t.Error("over HTTPS, a cookie without the __Host- prefix was accepted")
	}

	tampered := *c
	enc, mac, _ := strings.Cut(c.Value, ".")
	tampered.Value = strings.ToUpper(enc[:1]) + enc[1:] + "." + mac
	if enc[:1] == strings.ToUpper(enc[:1]) {
		tampered.Value = strings.ToLower(enc[:1]) + enc[1:] + "." + mac
	}
	for name, bad := range map[string]string{
		"tampered": tampered.Value,
		"no mac":   enc,
		"garbage":  "%%%.%%%",
		"empty":    "",
	} {
		if _, ok := read(s, &http.Cookie{Name: sessionCookie, Value: bad}); ok {
			t.Errorf("%s cookie accepted", name)
		}
	}
	if _, ok := read(sessions{secret: []byte("k2"), now: s.now}, c); ok {
		t.Error("a cookie signed with another secret was accepted")
	}
	later := sessions{secret: s.secret, now: func() time.Time { return now.Add(sessionTTL + time.Second) }}
	if _, ok := read(later, c); ok {
		t.Error("an expired cookie was accepted")
	}
}

// A session a verified identity signed in carries its subject, whatever
// bytes the provider uses, and a session of one identity is not reused for
// another.
func TestSessionCookieCarriesTheIdentity(t *testing.T) {
	s := sessions{secret: []byte("k1"), now: time.Now}
	subject := "accounts.google.com:118|2\x00x"
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	s.issue(w, r, s.forName(r, "Ann|B", subject))
	c := w.Result().Cookies()[0]
	signedIn := httptest.NewRequest(http.MethodGet, "/", nil)
	signedIn.AddCookie(c)
	got, ok := s.read(signedIn)
	if !ok || got.Name != "Ann|B" || got.Subject != subject {
		t.Fatalf("read back %+v %v; want the name and subject %q", got, ok, subject)
	}
	if same := s.forName(signedIn, "Ann|B", subject); same.ID != got.ID {
		t.Error("the same identity signing in again got a new session")
	}
	if other := s.forName(signedIn, "Ann|B", "someone else"); other.ID == got.ID || other.Subject != "someone else" {
		t.Errorf("another identity took over the session: %+v", other)
	}
	// The same person in another browser (no cookie) gets the same session.
	if again := s.forName(r, "Ann|B", subject); again.ID != got.ID {
		t.Error("the same identity in another browser got another session")
	}
	// A session without an identity reads with none.
	w = httptest.NewRecorder()
	s.issue(w, r, s.forName(r, "Bob", ""))
	plain := httptest.NewRequest(http.MethodGet, "/", nil)
	plain.AddCookie(w.Result().Cookies()[0])
	if got, ok := s.read(plain); !ok || got.Subject != "" || got.Name != "Bob" {
		t.Errorf("a plain session read back as %+v %v", got, ok)
	}
}

// oldSessionValue is a session cookie's value as the code before the
// cookie type (commit 2ca4e1e) wrote it, built here by hand: the payload
// base64url, "." and the payload's HMAC-SHA256 under secret, base64url.
func oldSessionValue(secret []byte, payload string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// Session cookies browsers hold, issued before the cookie type, still read
// as the sessions they were, over HTTP and (__Host-) HTTPS, until their
// 7 days end: a deploy signs no one out. That covers the oldest form (no
// generation), one with a generation, and a verified identity's ("i|").
// What the old reader refused, it still refuses.
func TestSessionCookiesOfBeforeStillRead(t *testing.T) {
	exp := time.Unix(1_767_830_400, 0) // goldenNow() + 7 days
	for _, c := range []struct {
		what, payload, golden string
		want                  Session
	}{
		{"a session", "1767830400|S1|Ann|with a bar", goldenSession,
			Session{ID: "S1", Name: "Ann|with a bar", Expires: exp}},
		{"a session with a generation", "1767830400:3|S2|Bob", goldenSessionGen,
			Session{ID: "S2", Name: "Bob", Expires: exp, Gen: 3}},
		{"a verified identity's session", "i|1767830400:2|S3|" + base64.RawURLEncoding.EncodeToString([]byte(goldenSubject)) + "|Ann|B",
			goldenSessionVerified, Session{ID: "S3", Name: "Ann|B", Subject: goldenSubject, Expires: exp, Gen: 2}},
		{"a verified identity's session without a generation", "i|1767830400|S4|" + base64.RawURLEncoding.EncodeToString([]byte("sub")) + "|Ann",
			"", Session{ID: "S4", Name: "Ann", Subject: "sub", Expires: exp}},
	} {
		value := oldSessionValue([]byte(goldenSecret), c.payload)
		if c.golden != "" && value != c.golden {
			t.Fatalf("%s: built by hand as %q, but the old code made %q", c.what, value, c.golden)
		}
		for _, at := range []time.Duration{0, sessionTTL - time.Second} {
			s := sessions{secret: []byte(goldenSecret), now: func() time.Time { return goldenNow().Add(at) }}
			if got, ok := s.read(requestWithCookie(false, sessionCookie, value)); !ok || got != c.want {
				t.Errorf("%s at +%v: read %+v %v, want %+v", c.what, at, got, ok, c.want)
			}
			if got, ok := s.read(requestWithCookie(true, "__Host-"+sessionCookie, value)); !ok || got != c.want {
				t.Errorf("%s over HTTPS at +%v: read %+v %v, want %+v", c.what, at, got, ok, c.want)
			}
		}
		expired := sessions{secret: []byte(goldenSecret), now: func() time.Time { return exp }}
		if got, ok := expired.read(requestWithCookie(false, sessionCookie, value)); ok {
			t.Errorf("%s read at its expiry: %+v", c.what, got)
		}
	}
	s := sessions{secret: []byte(goldenSecret), now: func() time.Time { return goldenNow() }}
	for what, payload := range map[string]string{
		"generation 0":         "1767830400:0|S|Ann",
		"an empty generation":  "1767830400:|S|Ann",
		"a generation of text": "1767830400:x|S|Ann",
		"no expiry":            "|S|Ann",
		"two fields":           "1767830400|Ann",
		"an invalid name":      "1767830400|S|" + strings.Repeat("x", 200),
		"an empty subject":     "i|1767830400|S||Ann",
		"a subject of text":    "i|1767830400|S|%%|Ann",
		"an identity's, short": "i|1767830400|S|c3Vi",
	} {
		if got, ok := s.read(requestWithCookie(false, sessionCookie, oldSessionValue([]byte(goldenSecret), payload))); ok {
			t.Errorf("a signed cookie with %s read as %+v", what, got)
		}
	}
}
