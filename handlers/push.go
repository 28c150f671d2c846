package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"golang.org/x/time/rate"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/push"
	"github.com/chatrun/chat/realtime"
)

// Pusher is what the handlers need of Web Push (push.Service): it keeps
// people's subscriptions and sends them notifications off the request's
// path.
type Pusher interface {
	// PublicKey is the VAPID public key pages subscribe with.
	PublicKey() string
	// Subscribe stores a subscription of person's; push.ErrEndpoint and
	// push.ErrKeys refuse it.
	Subscribe(ctx context.Context, person string, sub push.Subscription) error
	// Unsubscribe deletes person's subscription at endpoint.
	Unsubscribe(ctx context.Context, person, endpoint string) error
	// Notify queues a notification for person's browsers and returns at
	// once; false when it was dropped.
	Notify(person string, n push.Notification) bool
}

// pushState is the server's Web Push: nil pusher, none.
type pushState struct {
	pusher Pusher
	// posts limits subscribe and unsubscribe requests per session: a
	// page sends its subscription again each time it loads.
	posts *limiter
}

func newPushState(p Pusher) pushState {
	return pushState{pusher: p, posts: newLimiter(rate.Every(6*time.Second), 20)}
}

// maxPushBody bounds a subscription's JSON: a browser's is under 1 KiB.
const maxPushBody = 8 << 10

// pushRoutes serves Web Push subscriptions.
func (s *Server) pushRoutes(r chi.Router) {
	r.Post("/push/subscriptions", s.subscribe)
	r.Post("/push/subscriptions/delete", s.unsubscribe)
	r.Delete("/push/subscriptions", s.unsubscribe)
}

// pushKey is the VAPID public key the room page hands its script; ""
// without push: no control.
func (s *Server) pushKey() string {
	if s.push.pusher == nil {
		return ""
	}
	return s.push.pusher.PublicKey()
}

// pushRequest is the checks both routes share: push configured, a
// session, JSON, within the limit. It answers the request itself when it
// returns false.
func (s *Server) pushRequest(w http.ResponseWriter, r *http.Request) (push.Subscription, Session, bool) {
	w.Header().Set("Cache-Control", "no-store")
	if s.push.pusher == nil {
		plain(w, http.StatusNotFound, i18n.T(r.Context(), "push.not_configured"))
		return push.Subscription{}, Session{}, false
	}
	sess, ok := s.session(r)
	if !ok {
		plain(w, http.StatusUnauthorized, i18n.T(r.Context(), "push.sign_in"))
		return push.Subscription{}, Session{}, false
	}
	if ok, retry := s.push.posts.allowOrRetry(sess.ID, time.Now()); !ok {
		setRetryAfter(w, retry)
		plain(w, http.StatusTooManyRequests, i18n.T(r.Context(), "refusal.slow_down"))
		return push.Subscription{}, Session{}, false
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		plain(w, http.StatusUnsupportedMediaType, i18n.T(r.Context(), "push.unreadable"))
		return push.Subscription{}, Session{}, false
	}
	var sub push.Subscription
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxPushBody)).Decode(&sub); err != nil || sub.Endpoint == "" {
		plain(w, http.StatusUnprocessableEntity, i18n.T(r.Context(), "push.unreadable"))
		return push.Subscription{}, Session{}, false
	}
	return sub, sess, true
}

// subscribe is POST /push/subscriptions: the browser's PushSubscription
// JSON, stored for the session's person with the page's language.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) {
	sub, sess, ok := s.pushRequest(w, r)
	if !ok {
		return
	}
	// The language is the page's, not the browser's say: a person who
	// reads the chat in Chinese is notified in Chinese.
	sub.Lang = i18n.From(r.Context()).Lang()
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	switch err := s.push.pusher.Subscribe(ctx, sess.person(), sub); {
	case errors.Is(err, push.ErrEndpoint):
		s.log.Info("push subscription refused", "err", err)
		plain(w, http.StatusUnprocessableEntity, i18n.T(r.Context(), "push.endpoint_refused"))
	case errors.Is(err, push.ErrKeys):
		plain(w, http.StatusUnprocessableEntity, i18n.T(r.Context(), "push.keys_refused"))
	case err != nil:
		s.log.Error("store a push subscription", "err", err)
		w.Header().Set("Retry-After", "2")
		plain(w, http.StatusServiceUnavailable, i18n.T(r.Context(), "push.unavailable"))
	default:
		plain(w, http.StatusCreated, i18n.T(r.Context(), "push.saved"))
	}
}

// unsubscribe is POST /push/subscriptions/delete (and DELETE
// /push/subscriptions): {"endpoint": …}, deleted from the session's
// person's subscriptions.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	sub, sess, ok := s.pushRequest(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	if err := s.push.pusher.Unsubscribe(ctx, sess.person(), sub.Endpoint); err != nil {
		s.log.Error("delete a push subscription", "err", err)
		w.Header().Set("Retry-After", "2")
		plain(w, http.StatusServiceUnavailable, i18n.T(r.Context(), "push.unavailable"))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// plain answers a sentence as text.
func plain(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text + "\n"))
}

// notifyPeople sends a Web Push of m, stored in room, to each of people
// (Session.person keys). It returns at once: a slow push service never
// slows a message.
func (s *Server) notifyPeople(room string, m realtime.Message, people []string) {
	if s.push.pusher == nil {
		return
	}
	n := push.Notification{Room: room, Seq: m.Seq, Sender: m.Name, Text: m.Summary(),
		// A message that names someone is delivered at once, even to a
		// phone saving its battery.
		Urgent: strings.Contains(m.Text, "@")}
	for _, p := range people {
		s.push.pusher.Notify(p, n)
	}
}

// forgetBrowser deletes the push subscription of the browser signing out
// (its endpoint, which the page's script adds to the sign-out form):
// a shared computer gets no more notifications of the person who left.
// The person's other devices keep theirs.
func (s *Server) forgetBrowser(ctx context.Context, sess Session, endpoint string) {
	if s.push.pusher == nil || endpoint == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, brokerWait)
	defer cancel()
	if err := s.push.pusher.Unsubscribe(ctx, sess.person(), endpoint); err != nil {
		s.log.Error("sign out: delete the browser's push subscription", "err", err)
	}
}
