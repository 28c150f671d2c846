// Package handlers is the HTTP surface of docs/SPEC.md: it parses and validates
// requests, calls the realtime hub and renders views.
package handlers

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"golang.org/x/time/rate"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/views"
)

// Chat is what the handlers need of the realtime hub.
type Chat interface {
	// Join registers a socket of u in room; its queue starts with the
	// room's history.
	Join(ctx context.Context, room string, u realtime.User, conn realtime.Conn, opts ...realtime.JoinOption) (*realtime.Socket, error)
	// Claim gives u's name in room to u's session, unless another holds it.
	Claim(ctx context.Context, room string, u realtime.User) (bool, error)
	// SendCounted stores and relays a message; guard makes a repeat count
	// once. It counts the message for the readers as Arrived does, as
	// sender's (a person), in the same step, and returns whom to tell.
	SendCounted(ctx context.Context, room string, m realtime.Message, guard, sender string) (realtime.Message, []string, error)
	// Change edits or deletes a stored message for its author (or a
	// moderator) and relays it; guard makes a repeat count once.
	// realtime.ErrNotAuthor: not the asker's; realtime.ErrNoMessage: no
	// such message, or deleted.
	Change(ctx context.Context, room string, c realtime.Change, guard string) (realtime.Message, bool, error)
	// Recent is the room's recent messages, as a page shows them.
	Recent(ctx context.Context, room string) ([]realtime.Message, error)
	// MemberNames is the names of who is in the room, on every instance.
	MemberNames(ctx context.Context, room string) ([]string, error)
	// Ping reports whether messages can be stored now.
	Ping(ctx context.Context) error
	// Before is a page of scrollback: up to limit messages numbered below
	// before, oldest first, and whether older ones exist.
	Before(ctx context.Context, room string, before int64, limit int) ([]realtime.Message, bool, error)
	// Typing tells the room's pages that name is typing; nothing is stored.
	Typing(ctx context.Context, room, name string) error
	// Directory is the rooms in use and how many are in each, busiest first.
	Directory(ctx context.Context) ([]realtime.RoomCount, error)
	// BindName gives name to the verified identity subject for good; it
	// returns subject's name, and realtime.ErrNameTaken when another
	// identity holds name. An empty name only reads subject's.
	BindName(ctx context.Context, subject, name string) (string, error)
	// Credentials ends sessions and identities at sign-out, and makes a
	// sign-in's callback count once, on every instance.
	realtime.Credentials
	// SignOut closes the sockets of session on every instance (each
	// instance's server is told through EndSession).
	SignOut(ctx context.Context, session string) error
	// Remove keeps session out of room until until (zero: for good), on
	// every instance; Removed says whether it is kept out, and until when.
	Remove(ctx context.Context, room, session, name string, until time.Time) error
	Removed(ctx context.Context, room, session string) (time.Time, bool, error)
	// NameOwner is the verified identity a name is bound to; "" when none.
	NameOwner(ctx context.Context, name string) (string, error)
	// Access says whether member (a verified identity's member id, or "")
	// may enter room, and what the room is.
	Access(ctx context.Context, room, member string) (realtime.RoomInfo, bool, error)
	// CreateRoom makes a private room of creator's, or an unlisted one
	// (realtime.ErrRoomTaken: the name is in use).
	CreateRoom(ctx context.Context, room string, info realtime.RoomInfo) error
	// AddMember, RemoveMember and RoomsOf keep private rooms' members;
	// RemoveMember closes the member's sockets there on every instance.
	AddMember(ctx context.Context, room, member string) error
	RemoveMember(ctx context.Context, room, member string) error
	RoomsOf(ctx context.Context, member string) ([]string, error)
	// SetMemberName and RoomMemberNames keep the names members signed in
	// to a private room with, for its creator's list.
	SetMemberName(ctx context.Context, room, member, name string) error
	RoomMemberNames(ctx context.Context, room string) (map[string]string, error)
	// AddInvite, InviteOpen and RevokeInvites keep a private room's open
	// invitations.
	AddInvite(ctx context.Context, room, id string, ttl time.Duration) error
	InviteOpen(ctx context.Context, room, id string) (bool, error)
	RevokeInvites(ctx context.Context, room string) error
	// Reading keeps where each person stopped reading, their levels and
	// focused pages (handlers/reading.go).
	realtime.Reading
	// MarkReadFocused does MarkRead and Focus, in one round trip where the
	// store can: a focused page reports both.
	MarkReadFocused(ctx context.Context, room, person, name string, seq int64, ttl time.Duration) error
}

// Metrics is told about sockets and messages, for monitoring.
type Metrics interface {
	// SocketOpened counts a socket accepted and tracked.
	SocketOpened()
	// SocketClosed counts a tracked socket gone.
	SocketClosed()
	// MessageIn counts a message stored for one of this instance's users.
	MessageIn()
}

// noMetrics counts nothing: a Server's default.
type noMetrics struct{}

func (noMetrics) SocketOpened() {}
func (noMetrics) SocketClosed() {}
func (noMetrics) MessageIn()    {}

// Config holds a Server's dependencies.
type Config struct {
	Chat      Chat
	Static    fs.FS  // served under /static/
	Secret    []byte // signs session cookies
	SendRate  rate.Limit
	SendBurst int
	Log       *slog.Logger
	// PingInterval is how often an idle socket is pinged; a peer that does
	// not answer within half of it is dropped. Default 30 s.
	PingInterval time.Duration
	// WriteTimeout bounds one write to a socket; a peer that takes longer
	// is dead. Default 10 s.
	WriteTimeout time.Duration
	// MaxSocketsPerIP caps the sockets one address may hold open on this
	// instance. Default 100, room for a busy office behind one NAT.
	MaxSocketsPerIP int
	// Metrics, when set, is told about sockets and messages.
	Metrics Metrics
	// Catalog holds what pages say in each language; nil: the catalogs
	// compiled in (i18n.Default).
	Catalog *i18n.Catalog
	// ReadyNote, when set, says in /ready's body how the service runs
	// below what it was configured for, while still serving.
	ReadyNote string
	// ScrollbackPage, when not 0, is how many older messages a page of
	// scrollback shows: the rooms keep more than their hot window (an
	// archive), and pages link to it. 0: no scrollback.
	ScrollbackPage int
	// TrustProxy says that a proxy in front (Cloud Run's front end) adds
	// the client's address to X-Forwarded-For, so that MaxSocketsPerIP
	// counts that address. Off, the peer's address counts: without a proxy,
	// any client can write the header.
	TrustProxy bool
	// Identifier, when set, is the identity provider in front (AUTH=iap):
	// requests without a valid identity get 401, and display names belong
	// to identities (Chat's BindName).
	Identifier Identifier
	// OIDC, when set, signs people in with an OpenID Connect provider
	// (AUTH=oidc), in place of Identifier: pages without a sign-in there
	// lead to it, and display names belong to identities as with IAP.
	OIDC *OIDCConfig
	// RoomDirectory lists the rooms in use, with their member counts, on
	// the sign-in and room pages and at GET /rooms. Off, rooms stay
	// unlisted and GET /rooms is a 404.
	RoomDirectory bool
	// SocketMaxAge, when not 0, is how long a socket stays open: then the
	// server closes it with 1012 and the page reconnects at once. Each
	// socket's age is drawn within ±10 % of it, so a room that joined
	// together does not reconnect together. It must be under the
	// platform's request timeout, which would cut the socket silently.
	SocketMaxAge time.Duration
	// Moderators are the verified e-mail addresses (MODERATORS, lower
	// case) whose holders may delete any message and remove people from
	// rooms; they need Identifier or OIDC.
	Moderators []string
	// Push, when set, keeps Web Push subscriptions and sends
	// notifications (VAPID settings); nil: no push, and no control for it.
	Push Pusher
	// Files, when set, keeps the files attached to messages
	// (UPLOAD_BUCKET or UPLOAD_DIR); nil: no uploads, and no control.
	Files Uploader
	// UploadPerHour is how many bytes a session may upload an hour on an
	// instance (UPLOAD_PER_HOUR); 0: DefaultUploadPerHour.
	UploadPerHour int64
}

// Server serves the pages, the WebSocket and the no-JS fallback, and keeps
// track of its sockets so that it can close them when it shuts down.
type Server struct {
	catalog  *i18n.Catalog
	chat     Chat
	static   fs.FS
	sessions sessions
	limits   *limiter
	opens    *limiter // new rooms, per session
	opensAt  *limiter // new rooms, per address
	loads    *limiter // room pages, per session
	older    *limiter // scrollback, per session
	olderAt  *limiter // scrollback, per address
	typing   *limiter // typing signals, per session and room
	typed    *limiter // typing signals published, per room and name
	// pages keeps pages of scrollback that can no longer change, and
	// bounds every page in bytes like the room page's history.
	pages *realtime.PageCache
	// handle turns a message's author into what pages show of it.
	handle    func(author string) string
	log       *slog.Logger
	metrics   Metrics
	readyMsg  string
	pageSize  int // of scrollback; 0: none
	listRooms bool
	// identifier is the identity provider in front; nil: names are typed.
	identifier Identifier
	// oidc signs people in with an OpenID Connect provider; it is then the
	// identifier too. nil: none.
	oidc *oidcFlow
	// moderators are MODERATORS' addresses, lower case.
	moderators map[string]bool
	// push is Web Push; its pusher nil: none.
	push pushState
	// files is uploads; its up nil: none.
	files fileState

	// sockets is the sockets open here, to close them at sign-out and
	// shutdown.
	sockets *socketRegistry
	// dirFrags and gens keep what the pages' polls need (polls.go).
	dirFrags directoryFragments
	gens     generations

	pingInterval time.Duration
	writeTimeout time.Duration
	trustProxy   bool
	maxAge       time.Duration // 0: sockets are not aged
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	s := &Server{
		catalog:      cfg.Catalog,
		chat:         cfg.Chat,
		static:       cfg.Static,
		sessions:     sessions{secret: cfg.Secret, now: time.Now},
		limits:       newLimiter(cfg.SendRate, cfg.SendBurst),
		opens:        newLimiter(rate.Limit(newRoomsPerSession)/3600, newRoomsPerSession),
		opensAt:      newLimiter(rate.Limit(newRoomsPerAddress)/3600, newRoomsPerAddress),
		loads:        newLimiter(roomPageRate, roomPageBurst),
		older:        newLimiter(scrollbackRate, scrollbackBurst),
		olderAt:      newLimiter(scrollbackAddressRate, scrollbackAddressBurst),
		typing:       newLimiter(typingRate, typingBurst),
		typed:        newLimiter(rate.Every(typingRepeat), 1),
		log:          cfg.Log,
		pingInterval: cmp.Or(cfg.PingInterval, 30*time.Second),
		writeTimeout: cmp.Or(cfg.WriteTimeout, 10*time.Second),
		trustProxy:   cfg.TrustProxy,
		maxAge:       cfg.SocketMaxAge,
		metrics:      cfg.Metrics,
		pageSize:     cfg.ScrollbackPage,
		listRooms:    cfg.RoomDirectory,
		identifier:   cfg.Identifier,
		readyMsg:     "ready\n",
		handle:       AuthorHandles(cfg.Secret),
		push:         newPushState(cfg.Push),
		files:        newFileState(cfg.Files, cfg.UploadPerHour),
	}
	s.pages = realtime.NewPageCache(func(ctx context.Context, room string, before int64, limit int) ([]realtime.Message, bool, error) {
		return s.chat.Before(ctx, room, before, limit)
	}, pageCacheEntries, pageCacheBytes, pageCacheTTL)
	if cfg.OIDC != nil {
		s.oidc = newOIDCFlow(*cfg.OIDC, s.sessions)
		s.identifier = s.oidc
	}
	s.moderators = make(map[string]bool, len(cfg.Moderators))
	for _, m := range cfg.Moderators {
		s.moderators[strings.ToLower(m)] = true
	}
	if cfg.ReadyNote != "" {
		s.readyMsg = "ready, degraded: " + cfg.ReadyNote + "\n"
	}
	if s.metrics == nil {
		s.metrics = noMetrics{}
	}
	s.sockets = newSocketRegistry(cmp.Or(cfg.MaxSocketsPerIP, 100), s.metrics)
	if s.catalog == nil {
		s.catalog = i18n.Default()
	}
	return s
}

// Handler returns the routes of docs/SPEC.md.
func (s *Server) Handler() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer, securityHeaders, s.language, s.identify)
	r.Get("/", s.signInPage)
	r.Post("/lang", s.switchLanguage)
	r.Post("/signin", s.signIn)
	r.Post("/signout", s.signOut)
	if s.oidc != nil {
		r.Get("/auth/login", s.login)
		r.Get("/auth/callback", s.callback)
	}
	r.Get("/session", s.sessionCheck)
	r.Get("/rooms", s.roomDirectory)
	r.Get("/rooms/{room}", s.roomPage)
	r.Get("/rooms/{room}/ws", s.socket)
	r.Post("/rooms/{room}/messages", s.postMessage)
	r.Post("/rooms/{room}/removals", s.removePerson)
	r.Post("/rooms", s.createRoom)
	r.Post("/rooms/{room}/invites", s.invite)
	r.Post("/rooms/{room}/invites/revoke", s.revokeInvites)
	r.Post("/rooms/{room}/members/remove", s.removeMember)
	r.Get("/join/{token}", s.join)
	r.Post("/dm", s.openDM)
	r.Get("/rooms/{room}/messages/{seq}/edit", s.editPage)
	r.Post("/rooms/{room}/messages/{seq}", s.postEdit)
	r.Get("/rooms/{room}/messages/{seq}/delete", s.deletePage)
	r.Post("/rooms/{room}/messages/{seq}/delete", s.postDelete)
	r.Get("/rooms/{room}/messages/{seq}/reactions", s.reactionPage)
	r.Post("/rooms/{room}/messages/{seq}/reactions", s.postReaction)
	s.readingRoutes(r)
	s.pushRoutes(r)
	s.appRoutes(r)
	s.fileRoutes(r)
	r.Get("/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	r.Get("/ready", s.ready)
	r.Handle("/static/*", http.StripPrefix("/static/", staticFiles(s.static)))
	// Where browsers and bookmarks look when a page names no icon.
	r.Get("/favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/static/favicon.svg", http.StatusMovedPermanently)
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "error.not_found"), i18n.T(r.Context(), "error.not_found_detail")))
	})
	// Refuses unsafe requests from other origins (Origin or
	// Sec-Fetch-Site: cross-site) with 403. It lets GET through, so the
	// WebSocket handshake checks its Origin itself.
	return http.NewCrossOriginProtection().Handler(r)
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; manifest-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func staticFiles(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// sessionCheck answers a page whose socket's handshake failed: 204 while
// its session holds (the handshake failed for another reason, and the page
// tries again), 401 when it does not (the page stops and asks to sign in).
// Behind IAP, a request whose identity has lapsed never gets here: IAP
// (or the identify middleware) answers it, and the page takes that answer
// the same way.
func (s *Server) sessionCheck(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if _, ok := s.session(r); !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if err := s.chat.Ping(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("broker unreachable\n"))
		return
	}
	_, _ = w.Write([]byte(s.readyMsg))
}

// signInPage keeps the signed-in user's name filled in: "Change room"
// leads here.
func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	f := s.signInForm(r)
	f.Room = r.URL.Query().Get("room")
	if sess, ok := s.session(r); ok {
		f.Name = sess.Name
		// The directory is for people in the chat (with AUTH, a session
		// of the verified identity): a room's name is all a stranger
		// needs to read it.
		f.Rooms = s.directory(r.Context(), memberOf(r))
		f.MyRooms = s.myRooms(r.Context(), sess, "")
	} else if id, ok := identityOf(r); ok {
		f.Name = s.boundName(r.Context(), id) // the name this person chose before
	}
	s.page(w, r, http.StatusOK, views.SignIn(f))
}

// directory is the rooms in use for a page, or nil when they are not
// listed or cannot be read now (the page goes on without them).
func (s *Server) directory(ctx context.Context, member string) []views.RoomCount {
	if !s.listRooms {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, brokerWait)
	defer cancel()
	rooms, err := s.chat.Directory(ctx)
	if err != nil {
		s.log.Warn("room directory", "err", err)
		return nil
	}
	out := make([]views.RoomCount, 0, len(rooms))
	// A member sees their private rooms first, marked so; nobody else
	// sees them at all.
	if member != "" {
		mine, err := s.chat.RoomsOf(ctx, member)
		if err != nil {
			s.log.Warn("a member's private rooms", "err", err)
		}
		slices.Sort(mine)
		for _, room := range mine {
			info, _, err := s.chat.Access(ctx, room, member)
			if err != nil {
				s.log.Warn("a private room's info", "room", room, "err", err)
				continue
			}
			if info.DM {
				out = append(out, views.RoomCount{Room: room, DM: true, Label: info.DMName(member)})
				continue
			}
			names, err := s.chat.MemberNames(ctx, room)
			if err != nil {
				s.log.Warn("a private room's members", "room", room, "err", err)
			}
			out = append(out, views.RoomCount{Room: room, Members: len(names), Private: true})
		}
	}
	return append(out, publicRooms(rooms)...)
}

// publicRooms is the directory every visitor sees, as views show it.
func publicRooms(rooms []realtime.RoomCount) []views.RoomCount {
	out := make([]views.RoomCount, len(rooms))
	for i, r := range rooms {
		out[i] = views.RoomCount{Room: r.Room, Members: r.Members}
	}
	return out
}

// roomDirectory answers GET /rooms: the list the pages refresh (htmx), or
// a page of it, for people with a session. Without one, a page is sent to
// sign in, and a list refreshing itself is told so and stops.
func (s *Server) roomDirectory(w http.ResponseWriter, r *http.Request) {
	if !s.listRooms {
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "error.not_found"), i18n.T(r.Context(), "error.not_found_detail")))
		return
	}
	htmx := r.Header.Get("HX-Request") == "true"
	session := s.session
	if htmx {
		session = s.pollSession
	}
	if _, ok := session(r); !ok {
		if htmx {
			s.fragment(w, r, views.RoomListSignedOut())
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	rooms := s.directory(r.Context(), memberOf(r))
	if htmx {
		s.directoryFragment(w, r, rooms, r.URL.Query().Get("current"))
		return
	}
	s.page(w, r, http.StatusOK, views.Directory(rooms))
}

// signOut ends the browser's session (the cookie goes) and leads to the
// sign-in page, for the room it came from when the form says which.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	_ = r.ParseForm() // a form that cannot be read signs out all the same
	if sess, ok := s.sessions.read(r); ok {
		s.forgetBrowser(r.Context(), sess, r.PostForm.Get("push_endpoint"))
		s.endSession(r.Context(), sess)
	}
	if id, ok := identityOf(r); ok && s.oidc != nil {
		// The service's own identity cookie (24 h) ends too, everywhere:
		// a copy of it signs nobody in again.
		ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
		if _, err := s.chat.Revoke(ctx, identityCredential(id.Subject), identityTTL); err != nil {
			s.log.Error("sign out: revoke the identity", "err", err)
		}
		cancel()
	}
	s.sessions.clear(w, r)
	if s.oidc != nil {
		s.oidc.signOut(w, r)
	}
	to := "/"
	if room, bad := validateRoom(r.Context(), r.PostForm.Get("room")); bad == "" {
		to = "/?room=" + url.QueryEscape(room)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		s.page(w, r, http.StatusBadRequest, views.ErrorPage(i18n.T(r.Context(), "request.bad_request"), i18n.T(r.Context(), "request.form_unreadable")))
		return
	}
	f := s.signInForm(r)
	f.Name, f.Room = r.PostForm.Get("name"), r.PostForm.Get("room")
	if _, ok := identityOf(r); s.identifier != nil && !ok {
		// Signed in with the provider no longer (or never): there first.
		s.page(w, r, http.StatusUnauthorized, views.SignIn(f))
		return
	}
	name, nameErr := validateName(r.Context(), f.Name)
	room, roomErr := validateRoom(r.Context(), f.Room)
	if nameErr != "" || roomErr != "" {
		f.NameError, f.RoomError = nameErr, roomErr
		s.page(w, r, http.StatusUnprocessableEntity, views.SignIn(f))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	var subject string
	if id, ok := identityOf(r); ok {
		subject = id.Subject
		bound, err := s.chat.BindName(ctx, subject, name)
		switch {
		case errors.Is(err, realtime.ErrNameTaken):
			f.NameError = i18n.T(r.Context(), "refusal.name_bound")
			s.page(w, r, http.StatusUnprocessableEntity, views.SignIn(f))
			return
		case err != nil:
			s.log.Error("bind name", "err", err)
			s.unavailable(w, r)
			return
		case bound != name:
			f.Name, f.NameError = bound, i18n.T(r.Context(), "refusal.name_yours", "Name", bound)
			s.page(w, r, http.StatusUnprocessableEntity, views.SignIn(f))
			return
		}
	}
	sess := s.sessions.forName(r, name, subject)
	if until, out := s.keptOut(ctx, room, sess); out {
		f.RoomError = removedSentence(r.Context(), until)
		s.page(w, r, http.StatusForbidden, views.SignIn(f))
		return
	}
	held, err := s.chat.Claim(ctx, room, realtime.User{Name: name, Session: sess.ID})
	if err != nil {
		s.log.Error("claim name", "room", room, "err", err)
		s.unavailable(w, r)
		return
	}
	if !held {
		f.NameError = nameTaken(r.Context())
		s.page(w, r, http.StatusUnprocessableEntity, views.SignIn(f))
		return
	}
	// The cookie carries the session's generation now: one issued before
	// a sign-out of this session (a verified person's, shared by their
	// browsers) is refused, this one is not.
	if sess.Gen, err = s.chat.Generation(ctx, sessionCredential(sess.ID)); err != nil {
		s.log.Error("read a session's generation", "err", err)
		s.unavailable(w, r)
		return
	}
	s.nameMember(ctx, r, room, name)
	s.sessions.issue(w, r, sess)
	http.Redirect(w, r, "/rooms/"+room, http.StatusSeeOther)
}

// endSession signs sess out on every instance: cookies issued before now
// are refused from here on, and its sockets are closed wherever they are
// open. A store that cannot be reached leaves copies of the cookie valid:
// the log says so.
func (s *Server) endSession(ctx context.Context, sess Session) {
	s.gens.signedOut(sess.ID, time.Now())
	ctx, cancel := context.WithTimeout(ctx, brokerWait)
	defer cancel()
	if _, err := s.chat.Revoke(ctx, sessionCredential(sess.ID), sessionTTL); err != nil {
		s.log.Error("sign out: revoke the session", "err", err)
		return
	}
	if err := s.chat.SignOut(ctx, sess.ID); err != nil {
		s.log.Error("sign out: close the session's sockets", "err", err)
	}
}

// roomParam returns the request's room, lower-cased. It answers the request
// itself and returns false for an invalid name (404) and, when canonical is
// set, for a name with capitals (a redirect to the lower-case page).
func (s *Server) roomParam(w http.ResponseWriter, r *http.Request, canonical bool) (string, bool) {
	raw := chi.URLParam(r, "room")
	room, bad := validateRoom(r.Context(), raw)
	if bad != "" {
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "request.no_such_room"), bad))
		return "", false
	}
	if canonical && room != raw {
		http.Redirect(w, r, "/rooms/"+room, http.StatusMovedPermanently)
		return "", false
	}
	return room, true
}

// roomSession is roomParam, then the session: without one, the user is sent
// to sign in, with the room filled in.
func (s *Server) roomSession(w http.ResponseWriter, r *http.Request, canonical bool) (string, Session, bool) {
	return s.roomSessionBy(w, r, canonical, s.session)
}

// roomSessionBy is roomSession with the session found by session.
func (s *Server) roomSessionBy(w http.ResponseWriter, r *http.Request, canonical bool, session func(*http.Request) (Session, bool)) (string, Session, bool) {
	room, ok := s.roomParam(w, r, canonical)
	if !ok {
		return "", Session{}, false
	}
	sess, ok := session(r)
	if !ok {
		http.Redirect(w, r, "/?room="+url.QueryEscape(room), http.StatusSeeOther)
		return "", Session{}, false
	}
	if s.hidden(w, r, room) || s.refuseKeptOut(w, r, room, sess) {
		return "", Session{}, false
	}
	return room, sess, true
}

func (s *Server) roomPage(w http.ResponseWriter, r *http.Request) {
	room, sess, ok := s.roomSession(w, r, true)
	if !ok {
		return
	}
	if v := r.URL.Query().Get("before"); v != "" {
		before, err := strconv.ParseInt(v, 10, 64)
		if err != nil || before < 1 || s.pageSize == 0 {
			s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "error.not_found"), i18n.T(r.Context(), "request.no_earlier")))
			return
		}
		s.scrollback(w, r, room, sess, before)
		return
	}
	// Each page read costs the store a read or two: a session opening
	// made-up rooms by the thousand is held back.
	if ok, retry := s.loads.allowOrRetry(sess.ID, time.Now()); !ok {
		setRetryAfter(w, retry)
		s.page(w, r, http.StatusTooManyRequests, views.ErrorPage(i18n.T(r.Context(), "request.too_many_pages"), i18n.T(r.Context(), "request.pages_too_fast")))
		return
	}
	// A Reply link (?reply_to): the box answers that message.
	replyTo, good := seqParam(r.URL.Query().Get("reply_to"))
	if !good {
		s.renderRoom(w, r, http.StatusNotFound, room, sess, "", unreadable(r.Context()), 0)
		return
	}
	s.readAll(r.Context(), room, sess)
	s.renderRoom(w, r, http.StatusOK, room, sess, "", "", replyTo)
}

// setRetryAfter says in whole seconds, at least one, when to try again.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(max(1, int((d+time.Second-1)/time.Second))))
}

// scrollbackAllowed takes a token of the session's and the address's
// scrollback limits, or says how long until there is one.
func (s *Server) scrollbackAllowed(r *http.Request, sess Session) (bool, time.Duration) {
	now := time.Now()
	if ok, retry := s.older.allowOrRetry(sess.ID, now); !ok {
		return false, retry
	}
	return s.olderAt.allowOrRetry(clientIP(r, s.trustProxy), now)
}

// scrollback answers GET /rooms/{room}?before=N: a page of the messages
// older than N, or, for htmx (the page's "Earlier messages" link), the
// fragment that puts them above those already shown.
func (s *Server) scrollback(w http.ResponseWriter, r *http.Request, room string, sess Session, before int64) {
	htmx := r.Header.Get("HX-Request") == "true"
	if ok, retry := s.scrollbackAllowed(r, sess); !ok {
		// The fragment is swapped in, so it answers 200, as below.
		if htmx {
			s.fragment(w, r, views.ScrollbackOOB(room, nil, before, i18n.T(r.Context(), "request.older_too_fast"), views.Viewer{}))
			return
		}
		setRetryAfter(w, retry)
		s.page(w, r, http.StatusTooManyRequests, views.Scrollback(views.ScrollbackPage{
			Room: room, Name: sess.Name, Unavailable: i18n.T(r.Context(), "request.older_too_fast"),
		}))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	msgs, more, err := s.pages.Before(ctx, room, before, s.pageSize)
	unavailable := err != nil
	if unavailable {
		s.log.Warn("read scrollback", "room", room, "before", before, "err", err)
	}
	earlier := int64(0)
	switch {
	case unavailable:
		earlier = before // to try again
	case more && len(msgs) > 0:
		earlier = msgs[0].Seq
	}
	if htmx {
		s.fragment(w, r, views.ScrollbackOOB(room, viewMessages(msgs, s.handle), earlier, unavailableIf(r.Context(), unavailable), s.viewer(r, room, sess)))
		return
	}
	status := http.StatusOK
	why := ""
	if unavailable {
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
		why = i18n.T(r.Context(), "request.older_unavailable_retry")
	}
	s.page(w, r, status, views.Scrollback(views.ScrollbackPage{
		Room: room, Name: sess.Name, Handle: s.handle(sess.ID), Moderator: s.moderator(r),
		Messages: viewMessages(msgs, s.handle), Earlier: earlier, Unavailable: why,
	}))
}

// unavailableIf is what the scrollback fragment says, in the language of
// ctx, when the older messages cannot be read now.
func unavailableIf(ctx context.Context, unavailable bool) string {
	if unavailable {
		return i18n.T(ctx, "request.older_unavailable")
	}
	return ""
}

// The limits on reading: room pages per session (a person opens a few,
// and a no-JS reader reloads after each message), pages of scrollback per
// session and per address (a person pages back a screen at a time; an
// office shares its address). Each read costs the store, and each page up
// to 128 KiB on the way out.
const (
	roomPageRate           = rate.Limit(1) // a second
	roomPageBurst          = 30
	scrollbackRate         = rate.Limit(1)
	scrollbackBurst        = 20
	scrollbackAddressRate  = rate.Limit(5)
	scrollbackAddressBurst = 100
)

// The scrollback cache's bounds: pages of up to 128 KiB of text, for a few
// minutes (messages past HISTORY_RETENTION leave the archive).
const (
	pageCacheEntries = 512
	pageCacheBytes   = 16 << 20
	pageCacheTTL     = 5 * time.Minute
)

// renderRoom renders the room page with its history; text and errText are
// a refused message and why.
func (s *Server) renderRoom(w http.ResponseWriter, r *http.Request, status int, room string, sess Session, text, errText string, replyTo int64) {
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	msgs, err := s.chat.Recent(ctx, room)
	if err != nil {
		s.log.Error("read history", "room", room, "err", err)
		s.unavailable(w, r)
		return
	}
	var reply *views.Quote
	if replyTo > 0 {
		q, why, err := s.quoteOf(ctx, room, replyTo)
		switch {
		case err != nil:
			s.log.Warn("read a reply's original", "room", room, "seq", replyTo, "err", err)
			errText = cmp.Or(errText, unavailableNotice(ctx))
		case why != "":
			errText = cmp.Or(errText, why)
		default:
			reply = viewQuote(replyTo, *q)
		}
	}
	info, _, err := s.chat.Access(ctx, room, memberOf(r))
	if err != nil {
		s.log.Error("read a room's access", "room", room, "err", err)
		s.unavailable(w, r)
		return
	}
	private := info.Visibility == realtime.Private
	s.page(w, r, status, views.Room(views.RoomPage{
		Private:     private,
		Unlisted:    info.Visibility == realtime.Unlisted,
		DMWith:      dmWith(info, memberOf(r)),
		Creator:     private && info.Creator == memberOf(r),
		RoomMembers: s.roomMembers(ctx, room, private && info.Creator == memberOf(r)),
		InviteLink:  s.inviteLink(r, room),
		Room:        room,
		Name:        sess.Name,
		Members:     s.members(ctx, room, sess.Name),
		Messages:    viewMessages(msgs, s.handle),
		Handle:      s.handle(sess.ID),
		Nonce:       rand.Text(),
		Text:        text,
		Error:       errText,
		MaxText:     maxText,
		Earlier:     s.earlier(msgs),
		Link:        roomLink(r, room),
		Rooms:       s.directory(ctx, memberOf(r)),
		Verified:    s.identifier != nil,
		// The page's script shows Delete on every message for a
		// moderator; the page itself renders it.
		Moderator: s.moderator(r),
		Reply:     reply,
		MyRooms:   s.myRooms(ctx, sess, room),
		PushKey:   s.pushKey(),
		Uploads:   s.uploads(room),
	}))
}

// viewer is who reads a list rendered for r: their own messages get Edit
// and Delete.
func (s *Server) viewer(r *http.Request, room string, sess Session) views.Viewer {
	return views.Viewer{Room: room, Name: sess.Name, Handle: s.handle(sess.ID), Moderator: s.moderator(r)}
}

// roomLink is the room's address as people share it: the scheme the
// browser used (Cloud Run's front end says https in X-Forwarded-Proto).
func roomLink(r *http.Request, room string) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/rooms/" + room
}

// earlier is where the room page's scrollback starts: the oldest message it
// shows, when older ones may exist and are kept; 0 for no link.
func (s *Server) earlier(msgs []realtime.Message) int64 {
	if s.pageSize == 0 || len(msgs) == 0 || msgs[0].Seq <= 1 {
		return 0
	}
	return msgs[0].Seq
}

// members is who is in the room, with the user, who is about to connect.
func (s *Server) members(ctx context.Context, room, me string) []string {
	names, err := s.chat.MemberNames(ctx, room)
	if err != nil {
		s.log.Warn("read members", "room", room, "err", err)
	}
	if !slices.Contains(names, me) {
		names = append(names, me)
	}
	slices.Sort(names)
	return names
}

func (s *Server) unavailable(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Retry-After", "2")
	s.page(w, r, http.StatusServiceUnavailable, views.ErrorPage(i18n.T(r.Context(), "request.unavailable_title"), i18n.T(r.Context(), "request.unavailable")))
}

// postMessage is the no-JS fallback: the same form, posted over HTTP.
func (s *Server) postMessage(w http.ResponseWriter, r *http.Request) {
	room, sess, ok := s.roomSession(w, r, false)
	if !ok {
		return
	}
	var (
		fields  map[string]string
		uploads []string
	)
	if isMultipart(r) {
		// A form with files: they are stored as they stream in, and
		// dropped again if anything of the message is refused.
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBody+int64(realtime.MaxFiles)*(s.files.limits.MaxBytes+maxFormBody))
		var (
			status int
			why    string
			err    error
		)
		fields, uploads, status, why, err = s.readMultipartMessage(r.Context(), r, room, sess)
		if err != nil || status != 0 {
			// The browser is still sending: read the rest, so that it
			// gets the answer rather than a cut connection.
			_, _ = io.Copy(io.Discard, r.Body)
		}
		switch {
		case err != nil:
			s.log.Error("store an upload", "room", room, "err", err)
			s.unavailable(w, r)
			return
		case status != 0:
			s.renderRoom(w, r, http.StatusUnprocessableEntity, room, sess, fields["text"], why, 0)
			return
		}
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
		if err := r.ParseForm(); err != nil {
			s.renderRoom(w, r, http.StatusUnprocessableEntity, room, sess, "", i18n.T(r.Context(), "refusal.too_large"), 0)
			return
		}
		fields = map[string]string{"text": r.PostForm.Get("text"), "nonce": r.PostForm.Get("nonce"), "reply_to": r.PostForm.Get("reply_to")}
	}
	// Whatever is refused from here on leaves none of the files kept.
	stored := false
	defer func() {
		if !stored {
			s.dropUploads(uploads)
		}
	}()
	text := fields["text"]
	replyTo, good := seqParam(fields["reply_to"])
	if !good {
		s.renderRoom(w, r, http.StatusUnprocessableEntity, room, sess, text, unreadable(r.Context()), 0)
		return
	}
	// The session may have been signed in elsewhere: in this room, its name
	// must be its own, or the post would pass for whoever holds it here.
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	held, err := s.chat.Claim(ctx, room, realtime.User{Name: sess.Name, Session: sess.ID})
	if err != nil {
		s.log.Error("claim name", "room", room, "err", err)
		s.unavailable(w, r)
		return
	}
	if !held {
		s.renderRoom(w, r, http.StatusConflict, room, sess, text, i18n.T(r.Context(), "refusal.name_held"), replyTo)
		return
	}
	// A form post is not held back by the rate limit: it is refused at once,
	// its text kept in the form.
	_, refusal, err := s.send(ctx, room, sess, clientIP(r, s.trustProxy), outgoing{text: text, nonce: fields["nonce"], replyTo: replyTo, uploads: uploads}, 0)
	switch {
	case err != nil:
		// Its fate is unknown (stored, maybe): its files stay with it.
		stored = true
		s.unavailable(w, r)
	case refusal == noOriginal(r.Context()):
		// The original is gone: the text stays, without the reply.
		s.renderRoom(w, r, http.StatusUnprocessableEntity, room, sess, text, refusal, 0)
	case refusal != "":
		s.renderRoom(w, r, http.StatusUnprocessableEntity, room, sess, text, refusal, replyTo)
	default:
		stored = true
		http.Redirect(w, r, "/rooms/"+room, http.StatusSeeOther)
	}
}

// nameTaken refuses a name someone else holds in the room, in the
// language of ctx.
func nameTaken(ctx context.Context) string { return i18n.T(ctx, "refusal.name_taken") }

// errUnavailable wraps broker failures that the user can only retry.
var errUnavailable = errors.New("chat unavailable")

// outgoing is a message as a page sends it: its text, its nonce, and
// the seq of the message it answers (0: none).
type outgoing struct {
	text, nonce string
	replyTo     int64
	// uploads are the ids of the files it carries (files.Info.ID).
	uploads []string
}

// send validates and stores a message from sess at addr, the one path for
// the socket and the form. A send past the rate limit waits for its turn up
// to wait, and is refused beyond. It returns the message's seq, or a
// refusal for the user, or an error when the broker failed.
func (s *Server) send(ctx context.Context, room string, sess Session, addr string, out outgoing, wait time.Duration) (int64, string, error) {
	text, err := realtime.ParseText(out.text)
	switch {
	case errors.Is(err, realtime.ErrTextEmpty) && len(out.uploads) > 0:
		text = "" // the files are the message
	case err != nil:
		return 0, refusal(ctx, err), nil
	}
	if why := s.checkUploads(ctx, out.uploads); why != "" {
		return 0, why, nil
	}
	nonce := out.nonce
	if bad := validateNonce(ctx, nonce); bad != "" {
		return 0, bad, nil
	}
	if refusal, err := s.takeTurn(ctx, sess, wait); refusal != "" || err != nil {
		return 0, refusal, err
	}
	guard := guardOf(sess, nonce)
	ctx, cancel := context.WithTimeout(ctx, brokerWait)
	defer cancel()
	now := time.Now()
	if !s.opens.hasToken(sess.ID, now) || !s.opensAt.hasToken(addr, now) {
		// Out of new rooms: only a room with messages takes one. (Asked
		// only then: everyone else's sends cost nothing more.)
		msgs, err := s.chat.Recent(ctx, room)
		if err != nil {
			s.log.Error("read history", "room", room, "err", err)
			return 0, "", errors.Join(errUnavailable, err)
		}
		if len(msgs) == 0 {
			return 0, i18n.T(ctx, "refusal.too_many_rooms"), nil
		}
	}
	var quote *realtime.Quote
	if out.replyTo > 0 {
		q, why, err := s.quoteOf(ctx, room, out.replyTo)
		if err != nil {
			s.log.Error("read a reply's original", "room", room, "err", err)
			return 0, "", errors.Join(errUnavailable, err)
		}
		if why != "" {
			return 0, why, nil
		}
		quote = q
	}
	attached, why, err := s.attach(ctx, room, sess, guard, out.uploads)
	if why != "" || err != nil {
		return 0, why, err
	}
	// The author is the session (with AUTH, derived from the verified
	// identity): who may change the message later.
	m, notify, err := s.chat.SendCounted(ctx, room, realtime.Message{Name: sess.Name, Text: text, Verified: sess.Subject != "", Author: sess.ID,
		ReplyTo: out.replyTo, Quote: quote, Files: attached}, guard, sess.person())
	if err != nil {
		s.log.Error("send message", "room", room, "err", err)
		return 0, "", errors.Join(errUnavailable, err)
	}
	if extra := notCarried(out.uploads, m.Files); len(extra) > 0 {
		// A repeat of a message already stored (its guard) with files
		// the stored one does not carry (a form posted twice, each with
		// its uploads): they were claimed for it and would be kept for
		// nothing.
		s.dropUploads(extra)
	}
	if m.First {
		// The room's numbering starts here (new, or lost by the store):
		// pages kept of an older numbering are not this room's.
		s.pages.Forget(room)
		s.opens.take(sess.ID, now)
		s.opensAt.take(addr, now)
	}
	s.metrics.MessageIn()
	if len(notify) > 0 {
		s.notifyPeople(room, m, notify)
	}
	return m.Seq, "", nil
}

// The rooms one session, and one address (an office behind one NAT), may
// start (write the first message in) an hour: every room is kept in Redis
// for ROOM_TTL after its last message.
const (
	newRoomsPerSession = 20
	newRoomsPerAddress = 100
)

// brokerWait bounds every call to the broker made for a request or a
// socket: a broker that does not answer is an error the user can retry,
// not a request or a drain that hangs.
const brokerWait = 5 * time.Second

// takeTurn waits for sess's turn under the send limit, which sends and
// changes share, at most wait: past it, a refusal for the user; an error
// when ctx ends first.
func (s *Server) takeTurn(ctx context.Context, sess Session, wait time.Duration) (string, error) {
	delay, ok := s.limits.reserve(sess.ID, wait)
	if !ok {
		return i18n.T(ctx, "refusal.slow_down"), nil
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	return "", nil
}

// guardOf is the store's guard of a request of sess under nonce: repeats
// count once. No nonce, no guard.
func guardOf(sess Session, nonce string) string {
	if nonce == "" {
		return ""
	}
	return sess.ID + ":" + nonce
}
