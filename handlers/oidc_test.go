package handlers

import (
	"encoding/json"
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
		if why := c.flow.refusal(claims); (why == "") != c.in {
			t.Errorf("%s: refusal %q, want let in %v", c.what, why, c.in)
		}
	}
}
