// Package push sends Web Push notifications (RFC 8030, with VAPID, RFC
// 8292, and aes128gcm message encryption, RFC 8291, done by
// github.com/SherClockHolmes/webpush-go) to the browsers people subscribed,
// and keeps their subscriptions.
//
// A subscription's endpoint is chosen by the browser, which an attacker
// controls: only https endpoints on the known push services are taken, and
// the sender never connects to a private, loopback or link-local address.
package push

import (
	"context"
	"crypto/ecdh"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/chatrun/chat/i18n"
)

// Subscription is a browser's PushSubscription (its toJSON()), and the
// language its notifications are written in.
type Subscription struct {
	Endpoint string `json:"endpoint"`
	Keys     Keys   `json:"keys"`
	// Lang is the language of the page that subscribed.
	Lang i18n.Lang `json:"lang"`
	// Added is when it was last stored: the oldest go first.
	Added time.Time `json:"added"`
}

// Keys are the subscription's keys, base64url: the browser's P-256 public
// key (65 bytes, uncompressed) and its authentication secret (16 bytes).
type Keys struct {
	P256dh string `json:"p256dh"`
	Auth   string `json:"auth"`
}

// Store keeps each person's subscriptions: at most MaxPerPerson, one per
// endpoint, the oldest dropped first. A person is a string key such as
// "id:{subject}" or "s:{session}".
type Store interface {
	// Add stores s for person, in place of one with the same endpoint.
	Add(ctx context.Context, person string, s Subscription) error
	// List is person's subscriptions, oldest first.
	List(ctx context.Context, person string) ([]Subscription, error)
	// Remove deletes person's subscription at endpoint, if any.
	Remove(ctx context.Context, person, endpoint string) error
}

// MaxPerPerson is how many subscriptions (browsers, devices) a person
// keeps; the oldest go first.
const MaxPerPerson = 10

// maxEndpoint bounds an endpoint's length: the push services' are well
// under 1 KiB.
const maxEndpoint = 1024

// Refusals of a subscription, for the person who sent it.
var (
	// ErrEndpoint: the endpoint is not on a known push service over
	// https (or on a host of PUSH_ALLOWED_HOSTS).
	ErrEndpoint = errors.New("push: endpoint refused")
	// ErrKeys: the keys are not a P-256 public key and a 16-byte secret.
	ErrKeys = errors.New("push: bad subscription keys")
	// ErrAddress: the sender refused to connect to a private, loopback,
	// link-local or unspecified address.
	ErrAddress = errors.New("push: address refused")
)

// knownHosts are the push services' hosts; a leading dot matches any
// subdomain.
var knownHosts = []string{
	"fcm.googleapis.com", "android.googleapis.com", // Google (Chrome, Edge on Android)
	"updates.push.services.mozilla.com", ".push.services.mozilla.com", // Mozilla
	".push.apple.com",     // Apple (Safari)
	".notify.windows.com", // Microsoft (Edge's legacy WNS)
}

// Allowed is PUSH_ALLOWED_HOSTS: hosts ("host") or addresses
// ("host:port") whose endpoints are taken besides the push services, over
// http too, even on loopback: for tests.
type Allowed []string

// ParseAllowed reads a comma-separated list of host or host:port.
func ParseAllowed(list string) (Allowed, error) {
	var a Allowed
	for e := range strings.SplitSeq(list, ",") {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		host := e
		if h, port, err := net.SplitHostPort(e); err == nil {
			if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 || h == "" {
				return nil, fmt.Errorf("%q: want host or host:port", e)
			}
			host = h
		}
		if host == "" || strings.ContainsAny(host, "/@?#[] ") {
			return nil, fmt.Errorf("%q: want host or host:port", e)
		}
		a = append(a, e)
	}
	return a, nil
}

// has says whether host (with port, the URL's or the default) is allowed.
func (a Allowed) has(host, port string) bool {
	host = strings.ToLower(host)
	for _, e := range a {
		if e == host || e == net.JoinHostPort(host, port) {
			return true
		}
	}
	return false
}

// CheckEndpoint refuses (ErrEndpoint) an endpoint that is not https on a
// known push service, unless its host is allowed.
func CheckEndpoint(endpoint string, allowed Allowed) error {
	u, err := url.Parse(endpoint)
	if err != nil || len(endpoint) > maxEndpoint || u.Host == "" || u.User != nil || u.Opaque != "" {
		return fmt.Errorf("%w: not an absolute URL", ErrEndpoint)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	if allowed.has(host, port) && (u.Scheme == "https" || u.Scheme == "http") {
		return nil
	}
	if u.Scheme != "https" {
		return fmt.Errorf("%w: not https", ErrEndpoint)
	}
	if port != "443" {
		return fmt.Errorf("%w: not port 443", ErrEndpoint)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return fmt.Errorf("%w: an address, not a push service", ErrEndpoint)
	}
	if knownHost(host) {
		return nil
	}
	return fmt.Errorf("%w: %s is not a known push service", ErrEndpoint, host)
}

func knownHost(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, k := range knownHosts {
		if host == k || (strings.HasPrefix(k, ".") && strings.HasSuffix(host, k) && len(host) > len(k)) {
			return true
		}
	}
	return false
}

// CheckKeys refuses (ErrKeys) keys that are not a P-256 public key and a
// 16-byte authentication secret.
func CheckKeys(k Keys) error {
	pub, err := decodeKey(k.P256dh)
	if err != nil {
		return fmt.Errorf("%w: p256dh: %w", ErrKeys, err)
	}
	if _, err := ecdh.P256().NewPublicKey(pub); err != nil {
		return fmt.Errorf("%w: p256dh: %w", ErrKeys, err)
	}
	auth, err := decodeKey(k.Auth)
	if err != nil || len(auth) != 16 {
		return fmt.Errorf("%w: auth is not 16 bytes", ErrKeys)
	}
	return nil
}

// decodeKey reads base64url, with or without padding (browsers give it
// without).
func decodeKey(s string) ([]byte, error) {
	if len(s) > 256 {
		return nil, errors.New("too long")
	}
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// CheckVAPID refuses VAPID settings the sender cannot sign with: a public
// key that is not an uncompressed P-256 point, a private key that is not
// its 32-byte scalar, a subject that is not a mailto: or https: URL.
func CheckVAPID(publicKey, privateKey, subject string) error {
	pub, err := decodeKey(publicKey)
	if err != nil || len(pub) != 65 {
		return errors.New("VAPID_PUBLIC_KEY: want the base64url of a P-256 public key (65 bytes), as webpush-go's GenerateVAPIDKeys makes it")
	}
	priv, err := decodeKey(privateKey)
	if err != nil || len(priv) != 32 {
		return errors.New("VAPID_PRIVATE_KEY: want the base64url of a P-256 private key (32 bytes), as webpush-go's GenerateVAPIDKeys makes it")
	}
	key, err := ecdh.P256().NewPrivateKey(priv)
	if err != nil {
		return fmt.Errorf("VAPID_PRIVATE_KEY: %w", err)
	}
	if string(key.PublicKey().Bytes()) != string(pub) {
		return errors.New("VAPID_PRIVATE_KEY is not the private key of VAPID_PUBLIC_KEY")
	}
	u, err := url.Parse(subject)
	switch {
	case err != nil:
		return errors.New("VAPID_SUBJECT: want a mailto: or https: URL")
	case u.Scheme == "mailto" && strings.Contains(u.Opaque, "@"):
	case u.Scheme == "https" && u.Host != "":
	default:
		return fmt.Errorf("VAPID_SUBJECT=%q: want a mailto: or https: URL, such as mailto:ops@example.com", subject)
	}
	return nil
}

// refusedAddr says whether the sender must not connect to a: private,
// loopback, link-local, unspecified, multicast or shared (CGNAT).
func refusedAddr(a netip.Addr) bool {
	a = a.Unmap()
	return !a.IsValid() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() || a.IsMulticast() ||
		a.IsUnspecified() || sharedSpace.Contains(a) || thisNetwork.Contains(a)
}

var (
	sharedSpace = netip.MustParsePrefix("100.64.0.0/10")
	thisNetwork = netip.MustParsePrefix("0.0.0.0/8")
)
