package push

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"github.com/chatrun/chat/i18n"
)

// Config is what a Service needs.
type Config struct {
	// VAPIDPublicKey and VAPIDPrivateKey are the service's VAPID key pair,
	// base64url as webpush-go's GenerateVAPIDKeys makes them; Subject is
	// a mailto: or https: URL the push services can reach its operator at.
	VAPIDPublicKey, VAPIDPrivateKey, Subject string
	// Allowed are PUSH_ALLOWED_HOSTS' hosts, taken besides the push
	// services (for tests).
	Allowed Allowed
	Store   Store
	// Catalog writes the notifications in each subscription's language;
	// nil: i18n.Default().
	Catalog *i18n.Catalog
	Log     *slog.Logger
	// Workers send at once (default 4); Queue notifications wait (default
	// 1024), and more are dropped.
	Workers, Queue int
	// PerMinute bounds the notifications one person is sent a minute
	// (default 10); more are dropped.
	PerMinute int
	// Timeout bounds one request to a push service (default 10 s); TTL is
	// how long the push service keeps a notification for an offline
	// browser (default an hour).
	Timeout, TTL time.Duration
}

// Notification is a message to tell people about.
type Notification struct {
	Room   string
	Seq    int64
	Sender string
	Text   string
	// Urgent asks the push service to deliver at once, even to a device
	// saving its battery: for mentions.
	Urgent bool
}

// Payload is what the service worker receives, decrypted: a contract
// with static/sw.js (docs/SPEC.md, Web Push).
type Payload struct {
	Title string `json:"title"`
	Body  string `json:"body"`
	URL   string `json:"url"`
	Tag   string `json:"tag"`
}

// bodyRunes is how much of a message's text a notification shows.
const bodyRunes = 120

// Stats are a Service's counts since it started.
type Stats struct {
	Sent, Expired, Failed, Dropped, Limited int64
}

// Service subscribes browsers and sends them notifications, off the
// caller's path: Notify queues, a few workers send.
type Service struct {
	cfg    Config
	client *http.Client
	queue  chan job
	done   sync.WaitGroup
	// stop ends the requests in flight when Close runs out of time.
	stopCtx context.Context
	stop    context.CancelFunc

	mu      sync.Mutex
	closed  bool
	windows map[string]*window // per person, this minute's count
	swept   time.Time

	sent, expired, failed, dropped, limited atomic.Int64
}

type job struct {
	person string
	n      Notification
}

type window struct {
	start time.Time
	count int
}

// New starts a Service's workers; Close stops them.
func New(cfg Config) (*Service, error) {
	if err := CheckVAPID(cfg.VAPIDPublicKey, cfg.VAPIDPrivateKey, cfg.Subject); err != nil {
		return nil, err
	}
	if cfg.Store == nil {
		return nil, errors.New("push: no store")
	}
	cfg.Workers = cmp.Or(cfg.Workers, 4)
	cfg.Queue = cmp.Or(cfg.Queue, 1024)
	cfg.PerMinute = cmp.Or(cfg.PerMinute, 10)
	cfg.Timeout = cmp.Or(cfg.Timeout, 10*time.Second)
	cfg.TTL = cmp.Or(cfg.TTL, time.Hour)
	cfg.Catalog = cmp.Or(cfg.Catalog, i18n.Default())
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, client: newClient(cfg.Allowed, cfg.Timeout), queue: make(chan job, cfg.Queue), windows: map[string]*window{}}
	s.stopCtx, s.stop = context.WithCancel(context.Background())
	for range cfg.Workers {
		s.done.Go(func() {
			for j := range s.queue {
				s.deliver(j)
			}
		})
	}
	return s, nil
}

// PublicKey is the VAPID public key pages subscribe with
// (applicationServerKey).
func (s *Service) PublicKey() string { return s.cfg.VAPIDPublicKey }

// Subscribe stores sub for person, once its endpoint and keys pass
// (ErrEndpoint, ErrKeys otherwise).
func (s *Service) Subscribe(ctx context.Context, person string, sub Subscription) error {
	if err := CheckEndpoint(sub.Endpoint, s.cfg.Allowed); err != nil {
		return err
	}
	if err := CheckKeys(sub.Keys); err != nil {
		return err
	}
	if _, ok := i18n.Parse(string(sub.Lang)); !ok {
		sub.Lang = i18n.English
	}
	sub.Added = time.Now()
	return s.cfg.Store.Add(ctx, person, sub)
}

// Unsubscribe deletes person's subscription at endpoint.
func (s *Service) Unsubscribe(ctx context.Context, person, endpoint string) error {
	return s.cfg.Store.Remove(ctx, person, endpoint)
}

// Notify queues n for each of person's subscriptions and returns at once.
// It reports false when n was dropped: past the person's limit, the queue
// full, or the service closed.
func (s *Service) Notify(person string, n Notification) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.dropped.Add(1)
		return false
	}
	if !s.allow(person, time.Now()) {
		s.limited.Add(1)
		return false
	}
	select {
	case s.queue <- job{person: person, n: n}:
		return true
	default:
		s.dropped.Add(1)
		s.cfg.Log.Warn("push queue full: notification dropped", "room", n.Room, "seq", n.Seq)
		return false
	}
}

// allow counts one notification for person in this minute's window; s.mu
// is held. Windows a minute old are swept once a minute.
func (s *Service) allow(person string, now time.Time) bool {
	if now.Sub(s.swept) >= time.Minute {
		for p, w := range s.windows {
			if now.Sub(w.start) >= time.Minute {
				delete(s.windows, p)
			}
		}
		s.swept = now
	}
	w := s.windows[person]
	if w == nil || now.Sub(w.start) >= time.Minute {
		w = &window{start: now}
		s.windows[person] = w
	}
	if w.count >= s.cfg.PerMinute {
		return false
	}
	w.count++
	return true
}

// Stats are the counts so far.
func (s *Service) Stats() Stats {
	return Stats{Sent: s.sent.Load(), Expired: s.expired.Load(), Failed: s.failed.Load(),
		Dropped: s.dropped.Load(), Limited: s.limited.Load()}
}

// Close stops taking notifications and sends those queued until ctx ends;
// then the requests in flight are cut.
func (s *Service) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	finished := make(chan struct{})
	go func() {
		s.done.Wait()
		close(finished)
	}()
	select {
	case <-finished:
		s.stop()
		return nil
	case <-ctx.Done():
		s.stop()
		<-finished
		return fmt.Errorf("push: drain: %w", ctx.Err())
	}
}

// deliver sends j to each of its person's subscriptions.
func (s *Service) deliver(j job) {
	ctx, cancel := context.WithTimeout(s.stopCtx, s.cfg.Timeout)
	defer cancel()
	subs, err := s.cfg.Store.List(ctx, j.person)
	if err != nil {
		s.failed.Add(1)
		s.cfg.Log.Warn("push: read subscriptions", "err", err)
		return
	}
	for _, sub := range subs {
		s.send(j, sub)
	}
}

// send sends one notification, within its own deadline; a subscription
// the push service no longer knows (404, 410) is deleted.
func (s *Service) send(j job, sub Subscription) {
	ctx, cancel := context.WithTimeout(s.stopCtx, s.cfg.Timeout)
	defer cancel()
	// Stored before the rules were what they are, or by hand: checked again.
	if err := CheckEndpoint(sub.Endpoint, s.cfg.Allowed); err != nil {
		s.failed.Add(1)
		s.cfg.Log.Warn("push: stored endpoint refused", "err", err)
		_ = s.cfg.Store.Remove(ctx, j.person, sub.Endpoint)
		return
	}
	body, err := json.Marshal(s.payload(sub.Lang, j.n))
	if err != nil {
		s.failed.Add(1)
		return
	}
	urgency := webpush.UrgencyNormal
	if j.n.Urgent {
		urgency = webpush.UrgencyHigh
	}
	resp, err := webpush.SendNotificationWithContext(ctx, body, &webpush.Subscription{
		Endpoint: sub.Endpoint,
		Keys:     webpush.Keys{P256dh: sub.Keys.P256dh, Auth: sub.Keys.Auth},
	}, &webpush.Options{
		HTTPClient: s.client,
		// webpush-go writes "mailto:" itself before anything but https.
		Subscriber:      strings.TrimPrefix(s.cfg.Subject, "mailto:"),
		TTL:             int(s.cfg.TTL / time.Second),
		Urgency:         urgency,
		VAPIDPublicKey:  s.cfg.VAPIDPublicKey,
		VAPIDPrivateKey: s.cfg.VAPIDPrivateKey,
	})
	if err != nil {
		s.failed.Add(1)
		s.cfg.Log.Warn("push: send", "room", j.n.Room, "seq", j.n.Seq, "err", err)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		s.expired.Add(1)
		if err := s.cfg.Store.Remove(ctx, j.person, sub.Endpoint); err != nil {
			s.cfg.Log.Warn("push: delete an expired subscription", "err", err)
		}
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		s.sent.Add(1)
	default:
		s.failed.Add(1)
		s.cfg.Log.Warn("push: the push service refused", "room", j.n.Room, "seq", j.n.Seq, "status", resp.StatusCode)
	}
}

// payload is what n says, in lang.
func (s *Service) payload(lang i18n.Lang, n Notification) Payload {
	ctx := i18n.WithPrinter(context.Background(), s.cfg.Catalog.Printer(lang))
	return Payload{
		Title: i18n.T(ctx, "push.title", "Name", n.Sender, "Room", n.Room),
		Body:  firstRunes(n.Text, bodyRunes),
		URL:   "/rooms/" + n.Room + "#msg-" + strconv.FormatInt(n.Seq, 10),
		Tag:   n.Room,
	}
}

func firstRunes(s string, n int) string {
	i := 0
	for at := range s {
		if i == n {
			return s[:at]
		}
		i++
	}
	return s
}

// newClient is the sender's HTTP client: it connects only to public
// addresses (the resolved ones, checked as the socket is made), except
// for allowed hosts; it follows no redirect and no proxy of the
// environment (which would connect for it).
func newClient(allowed Allowed, timeout time.Duration) *http.Client {
	open := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}
	guarded := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: refuseControl}
	return &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				if host, port, err := net.SplitHostPort(addr); err == nil && allowed.has(host, port) {
					return open.DialContext(ctx, network, addr)
				}
				return guarded.DialContext(ctx, network, addr)
			},
			ForceAttemptHTTP2:   true,
			TLSHandshakeTimeout: timeout,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       timeout,
	}
}

// refuseControl refuses a socket to a refused address, after resolution:
// a public name that resolves to 10.0.0.1 gets no further than this.
func refuseControl(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil || refusedAddr(ap.Addr()) {
		return fmt.Errorf("%w: %s", ErrAddress, address)
	}
	return nil
}
