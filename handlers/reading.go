package handlers

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/views"
)

// The focus a page reports lasts focusTTL: it says so every
// static/chat.js's 15 s while focused, so one missed beat keeps it.
const focusTTL = 30 * time.Second

// readingRoutes serves where each person stopped reading: their rooms with
// unread counts, read markers and notification levels.
func (s *Server) readingRoutes(r chi.Router) {
	r.Get("/my-rooms", s.myRoomsList)
	r.Post("/rooms/{room}/read", s.postRead)
	r.Post("/rooms/{room}/level", s.postLevel)
}

// person is whose reading and notifications a session's are: its verified
// identity with AUTH (the same on every device), else the session itself.
func (sess Session) person() string {
	if sess.Subject != "" {
		return "id:" + sess.Subject
	}
	return "s:" + sess.ID
}

// myRooms is sess's rooms for a page (current: the room it shows), or nil
// when they cannot be read now: the page goes on without them.
func (s *Server) myRooms(ctx context.Context, sess Session, current string) *views.MyRooms {
	list, err := s.readMyRooms(ctx, sess, current)
	if err != nil {
		s.log.Warn("read a person's rooms", "err", err)
		return nil
	}
	return list
}

// readMyRooms is myRooms, its error returned rather than logged.
func (s *Server) readMyRooms(ctx context.Context, sess Session, current string) (*views.MyRooms, error) {
	ctx, cancel := context.WithTimeout(ctx, brokerWait)
	defer cancel()
	rooms, err := s.chat.ReadingOf(ctx, sess.person())
	if err != nil {
		return nil, err
	}
	list := &views.MyRooms{Current: current, Rooms: make([]views.MyRoom, 0, len(rooms))}
	for _, r := range rooms {
		list.Rooms = append(list.Rooms, views.MyRoom{Room: r.Room, Unread: r.Unread, Mentions: r.Mentions, Level: string(r.Level)})
	}
	return list, nil
}

// myRoomsList answers GET /my-rooms: the list the pages refresh (htmx,
// the fragment <ul id="my-rooms">), or a page of it. Without a session,
// htmx gets an empty list and a browser the sign-in page.
func (s *Server) myRoomsList(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	htmx := r.Header.Get("HX-Request") == "true"
	session := s.session
	if htmx {
		session = s.pollSession
	}
	sess, ok := session(r)
	if !ok {
		if htmx {
			s.fragment(w, r, views.MyRoomList(views.MyRooms{}))
			return
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	current, _ := validateRoom(r.Context(), r.URL.Query().Get("current"))
	list := s.myRooms(r.Context(), sess, current)
	if list == nil {
		s.unavailable(w, r)
		return
	}
	if htmx {
		s.fragment(w, r, views.MyRoomList(*list))
		return
	}
	s.page(w, r, http.StatusOK, views.MyRoomsPage(*list))
}

// postRead answers POST /rooms/{room}/read from the page's script: the
// newest message visible in a focused page (field seq), and with
// focused=1 that the page is focused now (a heartbeat). 204; 400 for a
// seq that is no number. A focused page reports every few seconds, and
// only its person's own marks change: its session is trusted as a poll's
// (pollSession), not read from the store each time.
func (s *Server) postRead(w http.ResponseWriter, r *http.Request) {
	room, sess, ok := s.roomSessionBy(w, r, false, s.pollSession)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	focused := r.PostForm.Get("focused") == "1"
	var err error
	switch v := r.PostForm.Get("seq"); {
	case v != "":
		seq, bad := strconv.ParseInt(v, 10, 64)
		if bad != nil || seq < 0 {
			http.Error(w, "bad seq", http.StatusBadRequest)
			return
		}
		if focused { // both in one round trip to the store
			err = s.chat.MarkReadFocused(ctx, room, sess.person(), sess.Name, seq, focusTTL)
		} else {
			err = s.chat.MarkRead(ctx, room, sess.person(), sess.Name, seq)
		}
	case focused:
		err = s.chat.Focus(ctx, room, sess.person(), focusTTL)
	}
	if err != nil {
		s.log.Error("mark read", "room", room, "err", err)
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// postLevel answers POST /rooms/{room}/level (field level: all, mentions
// or none): 204 for htmx, else 303 back to the room; 422 for another
// level.
func (s *Server) postLevel(w http.ResponseWriter, r *http.Request) {
	room, sess, ok := s.roomSession(w, r, false)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	level, good := realtime.ParseLevel(r.PostForm.Get("level"))
	if !good {
		http.Error(w, "level: all, mentions or none", http.StatusUnprocessableEntity)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	if err := s.chat.SetLevel(ctx, room, sess.person(), level); err != nil {
		s.log.Error("set level", "room", room, "err", err)
		s.unavailable(w, r)
		return
	}
	if r.Header.Get("HX-Request") == "true" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, "/rooms/"+url.PathEscape(room), http.StatusSeeOther)
}

// readAll marks room read up to its newest message for sess: its page is
// loaded (without JavaScript, that is all the reading there is).
func (s *Server) readAll(ctx context.Context, room string, sess Session) {
	ctx, cancel := context.WithTimeout(ctx, brokerWait)
	defer cancel()
	if err := s.chat.MarkRead(ctx, room, sess.person(), sess.Name, math.MaxInt64); err != nil {
		s.log.Warn("mark a room read", "room", room, "err", err)
	}
}
