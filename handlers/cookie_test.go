package handlers

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

const (
	// goldenUnix and goldenSecret are the clock (2026-01-01 00:00:00 UTC)
	// and SESSION_SECRET that the golden values below were made with, by
	// the code before one cookie type held every cookie (commit 2ca4e1e):
	// what browsers hold today.
	goldenUnix   = 1_767_225_600
	goldenSecret = "golden secret"

	// goldenSession is Session{ID: "S1", Name: "Ann|with a bar"}'s cookie.
	goldenSession = "MTc2NzgzMDQwMHxTMXxBbm58d2l0aCBhIGJhcg.bd3tY5VFxhNc20qC-iLoE0kfW2MOAuWJpWXVEgZ643o"
	// goldenSessionGen is Session{ID: "S2", Name: "Bob", Gen: 3}'s.
	goldenSessionGen = "MTc2NzgzMDQwMDozfFMyfEJvYg.HpboR3pxlzRz9rCaasyYzvxAUK57qEoE3Ca9cgb7Yy4"
	// goldenSessionVerified is Session{ID: "S3", Name: "Ann|B", Subject:
	// goldenSubject, Gen: 2}'s: a verified identity's ("i|" payload).
	goldenSessionVerified = "aXwxNzY3ODMwNDAwOjJ8UzN8WVdOamIzVnVkSE11WjI5dloyeGxMbU52YlRveE1UaDhNZ0I0fEFubnxC.34e-n-rEws5ioNmnKe3fQrxfwvQR3PAcSCUpX5XuPn8"
	goldenSubject         = "accounts.google.com:118|2\x00x"
	// goldenIdentity is the identity cookie of subject "sub|1",
	// ann@example.com, generation 4.
	goldenIdentity = "1767312000|c3VifDE|YW5uQGV4YW1wbGUuY29t|NA.mdIbj70UwqNMET71m3MS29HSmvzKTE8cw3D4tMSRQc4"
	// goldenFlow is the flow cookie of state, verifier, nonce and room
	// "state", "verifier", "nonce", "room" (sealed under a random nonce).
	goldenFlow = "87kV2neQFQce2SMt2kU8UoTH9MKCsLE09W4V0JwXm-RFaXtFahIf_tRKcF_jBwoQbRWQNYXPBcEwRUIvgCfCfdeNSALnrmKbTA"
)

// goldenNow is goldenUnix as a time, for the clocks tests give.
func goldenNow() time.Time { return time.Unix(goldenUnix, 0) }

// cookieRequest is a GET of /, over HTTPS behind a proxy when https is set.
func cookieRequest(https bool) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if https {
		r.Header.Set("X-Forwarded-Proto", "https")
	}
	return r
}

// requestWithCookie is a request over the scheme https says, carrying name=value.
func requestWithCookie(https bool, name, value string) *http.Request {
	r := cookieRequest(https)
	r.AddCookie(&http.Cookie{Name: name, Value: value})
	return r
}

// Every cookie the service sets, and every clearing, is the Set-Cookie
// header the code before this type wrote, byte for byte, over HTTP and
// HTTPS: browsers' cookies keep reading, and a rollback reads the new ones.
// (The flow cookie is sealed under a random nonce:
// TestOIDCCookiesOfBeforeStillRead shows its form is unchanged.)
func TestCookieHeadersAreUnchanged(t *testing.T) {
	s := sessions{secret: []byte(goldenSecret), now: goldenNow}
	o := newOIDCFlow(OIDCConfig{Issuer: "https://id.example.net"}, s)
	const (
		week = "; Path=/; Expires=Thu, 08 Jan 2026 00:00:00 GMT; Max-Age=604800; HttpOnly"
		day  = "; Path=/; Expires=Fri, 02 Jan 2026 00:00:00 GMT; Max-Age=86400; HttpOnly"
		gone = "=; Path=/; Max-Age=0; HttpOnly"
	)
	for _, https := range []bool{false, true} {
		host, secure := "", ""
		if https {
			host, secure = "__Host-", "; Secure"
		}
		for _, c := range []struct {
			what string
			set  func(http.ResponseWriter, *http.Request)
			want string
		}{
			{"a session", func(w http.ResponseWriter, r *http.Request) {
				s.issue(w, r, Session{ID: "S1", Name: "Ann|with a bar"})
			}, host + "chat_session=" + goldenSession + week + secure + "; SameSite=Lax"},
			{"a session with a generation", func(w http.ResponseWriter, r *http.Request) {
				s.issue(w, r, Session{ID: "S2", Name: "Bob", Gen: 3})
			}, host + "chat_session=" + goldenSessionGen + week + secure + "; SameSite=Lax"},
			{"a verified identity's session", func(w http.ResponseWriter, r *http.Request) {
				s.issue(w, r, Session{ID: "S3", Name: "Ann|B", Subject: goldenSubject, Gen: 2})
			}, host + "chat_session=" + goldenSessionVerified + week + secure + "; SameSite=Lax"},
			{"the session cleared", s.clear, host + "chat_session" + gone + secure + "; SameSite=Lax"},
			{"an identity", func(w http.ResponseWriter, r *http.Request) {
				o.identity.set(w, r, []string{"sub|1", "ann@example.com", "4"})
			}, host + "chat_identity=" + goldenIdentity + day + secure + "; SameSite=Lax"},
			{"the identity cleared", o.signOut, host + "chat_identity" + gone + secure + "; SameSite=Lax"},
			{"the flow cleared", o.flow.clear, host + "chat_oidc" + gone + secure + "; SameSite=Lax"},
		} {
			w := httptest.NewRecorder()
			c.set(w, cookieRequest(https))
			if got := w.Header()["Set-Cookie"]; len(got) != 1 || got[0] != c.want {
				t.Errorf("%s (HTTPS %v): Set-Cookie %q, want %q", c.what, https, got, c.want)
			}
		}
		w := httptest.NewRecorder()
		o.flow.set(w, cookieRequest(https), []string{"state", "verifier", "nonce", "room"})
		c := w.Result().Cookies()[0]
		if c.Name != host+"chat_oidc" || c.Path != "/" || c.MaxAge != 600 || !c.HttpOnly || c.Secure != https ||
			c.SameSite != http.SameSiteLaxMode || !c.Expires.Equal(goldenNow().Add(flowTTL)) {
			t.Errorf("the flow cookie (HTTPS %v): %s", https, w.Header()["Set-Cookie"])
		}
	}
}

// The cookie type refuses a cookie from its expiry on (to the second, as
// before), and one made for another name, under either codec.
func TestCookieExpiresAndIsBoundToItsName(t *testing.T) {
	now := goldenNow()
	clock := func() time.Time { return now }
	o := newOIDCFlow(OIDCConfig{Issuer: "https://id.example.net"}, sessions{secret: []byte(goldenSecret), now: clock})
	for _, c := range []cookie[[]string]{o.identity, o.flow} {
		now = goldenNow()
		w := httptest.NewRecorder()
		want := []string{"a", "b|c", ""}
		if c.name == flowCookie {
			want = append(want, "d")
		}
		c.set(w, cookieRequest(false), want)
		value := w.Result().Cookies()[0].Value
		for _, at := range []struct {
			at   time.Duration
			good bool
		}{{0, true}, {c.ttl - time.Nanosecond, true}, {c.ttl, false}, {c.ttl + time.Hour, false}} {
			now = goldenNow().Add(at.at)
			got, exp, ok := c.read(requestWithCookie(false, c.name, value))
			if ok != at.good || (ok && (!slices.Equal(got, want) || !exp.Equal(goldenNow().Add(c.ttl)))) {
				t.Errorf("%s at +%v: %q %v %v, want it read %v", c.name, at.at, got, exp, ok, at.good)
			}
		}
		now = goldenNow()
		other := c
		other.name = "chat_other"
		if got, _, ok := other.read(requestWithCookie(false, other.name, value)); ok {
			t.Errorf("%s's value read as another cookie's: %q", c.name, got)
		}
		// Over HTTPS only the __Host- cookie is read.
		if _, _, ok := c.read(requestWithCookie(true, c.name, value)); ok {
			t.Errorf("%s: over HTTPS, a cookie without the __Host- prefix was read", c.name)
		}
		if _, _, ok := c.read(requestWithCookie(true, "__Host-"+c.name, value)); !ok {
			t.Errorf("%s: over HTTPS, the __Host- cookie was not read", c.name)
		}
		for _, bad := range []string{"", ".", value[1:], value + "x", "%%%.%%%"} {
			if got, _, ok := c.read(requestWithCookie(false, c.name, bad)); ok {
				t.Errorf("%s: %q read as %q", c.name, bad, got)
			}
		}
	}
}
