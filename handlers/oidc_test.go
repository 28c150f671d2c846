package handlers

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// Who an ID token lets in. With Google, a domain is the token's hosted
// domain (hd), never the address's: a personal Google account may carry
// any verified address. With another provider it is the address's domain,
// and an hd claim counts for nothing. An address must be verified
// (email_verified true, or "true" as some providers write it) wherever it
// is used, OIDC_ALLOW_ANY included.
func TestOIDCRefusal(t *testing.T) {
	signer := sessions{secret: []byte("test"), now: time.Now}
	google := newOIDCFlow(OIDCConfig{Issuer: "https://accounts.google.com", AllowedDomains: []string{"example.com"}, AllowedEmails: []string{"guest@gmail.com"}}, signer)
	other := newOIDCFlow(OIDCConfig{Issuer: "https://id.example.net", AllowedDomains: []string{"example.com"}}, signer)
	anyone := newOIDCFlow(OIDCConfig{Issuer: "https://accounts.google.com", AllowAny: true}, signer)
	for _, c := range []struct {
		what   string
		flow   *oidcFlow
		claims string
		in     bool
	}{
		{"Google, a Workspace account of the domain", google, `{"email":"ann@example.com","email_verified":true,"hd":"example.com"}`, true},
		{"Google, hd in another case", google, `{"email":"ann@example.com","email_verified":true,"hd":"Example.COM"}`, true},
		{"Google, verified as a string", google, `{"email":"ann@example.com","email_verified":"true","hd":"example.com"}`, true},
		{"Google, a personal account with the domain's address", google, `{"email":"ann@example.com","email_verified":true}`, false},
		{"Google, another Workspace", google, `{"email":"eve@evil.example","email_verified":true,"hd":"evil.example"}`, false},
		{"Google, the domain unverified", google, `{"email":"ceo@example.com","email_verified":false,"hd":"example.com"}`, false},
		{"Google, the domain, verification not said", google, `{"email":"ceo@example.com","hd":"example.com"}`, false},
		{"Google, a listed address", google, `{"email":"Guest@Gmail.com","email_verified":true}`, true},
		{"Google, a listed address unverified", google, `{"email":"guest@gmail.com","email_verified":"false"}`, false},
		{"another provider, the domain's address", other, `{"email":"ann@example.com","email_verified":true}`, true},
		{"another provider, an hd claim", other, `{"email":"eve@evil.example","email_verified":true,"hd":"example.com"}`, false},
		{"another provider, no address", other, `{}`, false},
		{"any account, verified", anyone, `{"email":"eve@evil.example","email_verified":true}`, true},
		{"any account, no address", anyone, `{}`, true},
		{"any account, unverified", anyone, `{"email":"ceo@example.com","email_verified":false}`, false},
	} {
		var claims idClaims
		if err := json.Unmarshal([]byte(c.claims), &claims); err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if why := c.flow.refusal(context.Background(), claims); (why == "") != c.in {
			t.Errorf("%s: refusal %q, want let in %v", c.what, why, c.in)
		}
	}
}

// The identity and flow cookies browsers hold, made before the cookie type
// (commit 2ca4e1e), still read as they did until they expire (24 h, 10 min),
// over HTTP and (__Host-) HTTPS. The identity cookie is built by hand as
// that code built it: encodeFields' body (the expiry, then each field
// base64url, "|" between), "." and the HMAC-SHA256 of "chat_identity|" and
// the body. The flow cookie is the one that code sealed, opened by hand
// with the key derived as then; and the flow cookie set now opens the same
// way, to the same body.
func TestOIDCCookiesOfBeforeStillRead(t *testing.T) {
	b64 := base64.RawURLEncoding.EncodeToString
	body := "1767312000|" + b64([]byte("sub|1")) + "|" + b64([]byte("ann@example.com")) + "|" + b64([]byte("4"))
	mac := hmac.New(sha256.New, []byte(goldenSecret))
	mac.Write([]byte("chat_identity|" + body))
	identity := body + "." + b64(mac.Sum(nil))
	if identity != goldenIdentity {
		t.Fatalf("the identity cookie built by hand is %q, but the old code made %q", identity, goldenIdentity)
	}

	key, err := hkdf.Key(sha256.New, []byte(goldenSecret), nil, "chat oidc flow v1", 32)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	open := func(value string) string {
		sealed, err := base64.RawURLEncoding.DecodeString(value)
		if err != nil || len(sealed) < aead.NonceSize() {
			return ""
		}
		plain, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte("chat_oidc"))
		if err != nil {
			return ""
		}
		return string(plain)
	}
	flowBody := "1767226200|" + b64([]byte("state")) + "|" + b64([]byte("verifier")) + "|" + b64([]byte("nonce")) + "|" + b64([]byte("room"))
	if got := open(goldenFlow); got != flowBody {
		t.Fatalf("the old flow cookie opens by hand to %q, want %q", got, flowBody)
	}

	now := goldenNow()
	o := newOIDCFlow(OIDCConfig{Issuer: "https://id.example.net"}, sessions{secret: []byte(goldenSecret), now: func() time.Time { return now }})
	w := httptest.NewRecorder()
	o.flow.set(w, httptest.NewRequest(http.MethodGet, "/", nil), []string{"state", "verifier", "nonce", "room"})
	if got := open(w.Result().Cookies()[0].Value); got != flowBody {
		t.Errorf("the flow cookie set now opens by hand to %q, want %q", got, flowBody)
	}
	for _, https := range []bool{false, true} {
		prefix := ""
		if https {
			prefix = "__Host-"
		}
		for _, at := range []time.Duration{0, flowTTL - time.Second, flowTTL, identityTTL - time.Second, identityTTL} {
			now = goldenNow().Add(at)
			id, err := o.Identify(requestWithCookie(https, prefix+identityCookie, identity))
			if want := (Identity{Subject: "sub|1", Email: "ann@example.com", Gen: 4}); (err == nil) != (at < identityTTL) || (err == nil && id != want) {
				t.Errorf("the old identity cookie at +%v (HTTPS %v): %+v, %v; want %+v until %v", at, https, id, err, want, identityTTL)
			}
			flow, _, ok := o.flow.read(requestWithCookie(https, prefix+flowCookie, goldenFlow))
			if want := []string{"state", "verifier", "nonce", "room"}; ok != (at < flowTTL) || (ok && !slices.Equal(flow, want)) {
				t.Errorf("the old flow cookie at +%v (HTTPS %v): %q %v; want %q until %v", at, https, flow, ok, want, flowTTL)
			}
		}
	}
}
