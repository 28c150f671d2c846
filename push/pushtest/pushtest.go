// Package pushtest is a push service and a browser for tests of Web Push:
// an HTTP server on loopback that takes notifications as a push service
// does, and a browser's key pair and secret that decrypt them (aes128gcm,
// RFC 8291), with the VAPID token (RFC 8292) checked.
package pushtest

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/push"
)

// Push is one request the service received.
type Push struct {
	Path   string
	Header http.Header
	Body   []byte
}

// Service is a push service on loopback. It answers Status (201 unless
// set) and, while blocked, holds every request until unblocked or the
// test ends.
type Service struct {
	*httptest.Server
	// Pushes has each request, as it arrives (buffered; a test that
	// ignores them loses none beyond its 1,000).
	Pushes chan Push
	status atomic.Int32
	count  atomic.Int64

	mu      sync.Mutex
	blocked chan struct{} // nil: not blocked
}

// NewService starts a push service until the test ends.
func NewService(t testing.TB) *Service {
	s := &Service{Pushes: make(chan Push, 1000)}
	s.status.Store(http.StatusCreated)
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.Unblock()
		s.Server.Close()
	})
	return s
}

func (s *Service) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.count.Add(1)
	s.mu.Lock()
	block := s.blocked
	s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-r.Context().Done():
			return
		}
	}
	// The answer is decided before the push is handed to the test, so a
	// test that changes it after Next never changes this one's.
	status := int(s.status.Load())
	select {
	case s.Pushes <- Push{Path: r.URL.Path, Header: r.Header.Clone(), Body: body}:
	default:
	}
	w.WriteHeader(status)
}

// Requests is how many requests reached the service.
func (s *Service) Requests() int64 { return s.count.Load() }

// Respond makes the service answer status from now on (410: gone).
func (s *Service) Respond(status int) { s.status.Store(int32(status)) }

// Block holds every request from now on, until Unblock.
func (s *Service) Block() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocked == nil {
		s.blocked = make(chan struct{})
	}
}

// Unblock lets held requests go.
func (s *Service) Unblock() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocked != nil {
		close(s.blocked)
		s.blocked = nil
	}
}

// Host is the service's host:port, for PUSH_ALLOWED_HOSTS.
func (s *Service) Host() string {
	u, _ := url.Parse(s.URL)
	return u.Host
}

// Next waits at most d for the next push.
func (s *Service) Next(t testing.TB, d time.Duration) Push {
	t.Helper()
	select {
	case p := <-s.Pushes:
		return p
	case <-time.After(d):
		t.Fatalf("no push within %v", d)
		return Push{}
	}
}

// Browser is a browser's side of a subscription: its P-256 key pair and
// authentication secret.
type Browser struct {
	Endpoint string
	key      *ecdh.PrivateKey
	auth     []byte
}

// NewBrowser makes a browser's keys for a subscription at endpoint.
func NewBrowser(t testing.TB, endpoint string) *Browser {
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	return &Browser{Endpoint: endpoint, key: key, auth: auth}
}

// Subscription is what the browser's PushSubscription says, in lang.
func (b *Browser) Subscription(lang i18n.Lang) push.Subscription {
	return push.Subscription{Endpoint: b.Endpoint, Lang: lang, Keys: b.Keys()}
}

// Keys are the subscription's keys, base64url without padding as browsers
// give them.
func (b *Browser) Keys() push.Keys {
	return push.Keys{
		P256dh: base64.RawURLEncoding.EncodeToString(b.key.PublicKey().Bytes()),
		Auth:   base64.RawURLEncoding.EncodeToString(b.auth),
	}
}

// JSON is the PushSubscription's toJSON(), as a page posts it.
func (b *Browser) JSON() []byte {
	j, _ := json.Marshal(map[string]any{"endpoint": b.Endpoint, "expirationTime": nil, "keys": b.Keys()})
	return j
}

// Decrypt reads an aes128gcm body (RFC 8188, keyed as RFC 8291 says) of
// one record.
func (b *Browser) Decrypt(body []byte) ([]byte, error) {
	if len(body) < 21 {
		return nil, errors.New("short body")
	}
	salt, rs, idLen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if len(body) < 21+idLen || rs < 18 {
		return nil, errors.New("bad header")
	}
	senderPub, data := body[21:21+idLen], body[21+idLen:]
	if len(data) > int(rs) {
		return nil, errors.New("more than one record")
	}
	pub, err := ecdh.P256().NewPublicKey(senderPub)
	if err != nil {
		return nil, fmt.Errorf("sender key: %w", err)
	}
	shared, err := b.key.ECDH(pub)
	if err != nil {
		return nil, err
	}
	info := append(append([]byte("WebPush: info\x00"), b.key.PublicKey().Bytes()...), senderPub...)
	ikm, err := hkdf.Key(sha256.New, shared, b.auth, string(info), 32)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, data, nil)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	// The last record ends with 0x02, then zero padding.
	plain = bytes.TrimRight(plain, "\x00")
	if len(plain) == 0 || plain[len(plain)-1] != 2 {
		return nil, errors.New("no last-record delimiter")
	}
	return plain[:len(plain)-1], nil
}

// Payload decrypts p's body into the service worker's payload.
func (b *Browser) Payload(p Push) (push.Payload, error) {
	if ce := p.Header.Get("Content-Encoding"); ce != "aes128gcm" {
		return push.Payload{}, fmt.Errorf("Content-Encoding %q", ce)
	}
	plain, err := b.Decrypt(p.Body)
	if err != nil {
		return push.Payload{}, err
	}
	var pl push.Payload
	if err := json.Unmarshal(plain, &pl); err != nil {
		return push.Payload{}, fmt.Errorf("payload %q: %w", plain, err)
	}
	return pl, nil
}

// CheckVAPID checks p's Authorization header ("vapid t=JWT, k=KEY"): the
// key is publicKey (base64url), the token is signed by it with ES256, for
// audience (the endpoint's origin), from subject, and expires in the
// future within 24 hours.
func CheckVAPID(p Push, audience, subject, publicKey string) error {
	auth := p.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "vapid ")
	if !ok {
		return fmt.Errorf("Authorization %q: not vapid", auth)
	}
	var token, k string
	for part := range strings.SplitSeq(rest, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch name {
		case "t":
			token = value
		case "k":
			k = value
		}
	}
	if k != strings.TrimRight(publicKey, "=") {
		return fmt.Errorf("k=%q, want the VAPID public key %q", k, publicKey)
	}
	keyBytes, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil || len(keyBytes) != 65 || keyBytes[0] != 4 {
		return fmt.Errorf("k=%q: not a P-256 point", k)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return fmt.Errorf("t=%q: not a JWT", token)
	}
	var head struct{ Alg, Typ string }
	var claims struct {
		Aud, Sub string
		Exp      int64
	}
	if err := decodeJSON(parts[0], &head); err != nil || head.Alg != "ES256" {
		return fmt.Errorf("JWT header %+v (%v): want alg ES256", head, err)
	}
	if err := decodeJSON(parts[1], &claims); err != nil {
		return fmt.Errorf("JWT claims: %w", err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return errors.New("JWT signature: not 64 bytes")
	}
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), keyBytes)
	if err != nil {
		return fmt.Errorf("k: %w", err)
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(key, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return errors.New("JWT signature: not the VAPID key's")
	}
	now := time.Now()
	exp := time.Unix(claims.Exp, 0)
	switch {
	case claims.Aud != audience:
		return fmt.Errorf("aud %q, want %q", claims.Aud, audience)
	case claims.Sub != subject:
		return fmt.Errorf("sub %q, want %q", claims.Sub, subject)
	case !exp.After(now) || exp.After(now.Add(24*time.Hour)):
		return fmt.Errorf("exp %v: want within 24 h from now", exp)
	}
	return nil
}

func decodeJSON(part string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
