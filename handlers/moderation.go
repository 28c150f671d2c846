package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/views"
)

// Moderators are the verified e-mail addresses (MODERATORS) whose holders
// may delete any message and remove people from rooms. They need a
// verified identity (AUTH): a typed name proves nothing.

// removalDurations are the durations a moderator may choose; 0 is for good.
var removalDurations = map[string]time.Duration{
	"15m": 15 * time.Minute, "1h": time.Hour, "24h": 24 * time.Hour, "7d": 7 * 24 * time.Hour, "forever": 0,
}

// moderator reports whether r comes from a moderator: a verified identity
// whose e-mail address is in MODERATORS.
func (s *Server) moderator(r *http.Request) bool { return s.moderatorOf(r) != "" }

// moderatorOf is the moderator's address r comes from; "" when r does not
// come from a moderator.
func (s *Server) moderatorOf(r *http.Request) string {
	id, ok := identityOf(r)
	if email := strings.ToLower(id.Email); ok && email != "" && s.moderators[email] {
		return email
	}
	return ""
}

// removedSentence says why someone is kept out of a room, and until when,
// in the language of ctx.
func removedSentence(ctx context.Context, until time.Time) string {
	if until.IsZero() {
		return i18n.T(ctx, "moderation.removed_for_good")
	}
	return i18n.T(ctx, "moderation.removed_until", "Time", until.UTC().Format(i18n.T(ctx, "moderation.time_layout")))
}

// keptOut reports whether sess is kept out of room by a moderator, and if
// so, until when. An error of the store lets the person in: a removal is
// checked again at every request, and the store being down stops sending
// anyway.
func (s *Server) keptOut(ctx context.Context, room string, sess Session) (time.Time, bool) {
	if len(s.moderators) == 0 {
		return time.Time{}, false
	}
	until, removed, err := s.chat.Removed(ctx, room, sess.ID)
	if err != nil {
		s.log.Error("read a removal", "room", room, "err", err)
		return time.Time{}, false
	}
	return until, removed
}

// refuseKeptOut answers 403 with the sentence when sess is kept out of
// room, and reports whether it did.
func (s *Server) refuseKeptOut(w http.ResponseWriter, r *http.Request, room string, sess Session) bool {
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	until, out := s.keptOut(ctx, room, sess)
	if out {
		s.page(w, r, http.StatusForbidden, views.ErrorPage(i18n.T(r.Context(), "moderation.removed_title"), removedSentence(r.Context(), until)))
	}
	return out
}

// removePerson is POST /rooms/{room}/removals: a moderator keeps the
// person with a name out of the room for a while. The removal holds the
// person's identity, not the name: another name does not get them back.
func (s *Server) removePerson(w http.ResponseWriter, r *http.Request) {
	room, sess, ok := s.roomSession(w, r, false)
	if !ok {
		return
	}
	if !s.moderator(r) {
		s.page(w, r, http.StatusForbidden, views.ErrorPage(i18n.T(r.Context(), "request.forbidden"), i18n.T(r.Context(), "moderation.not_moderator")))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		s.page(w, r, http.StatusBadRequest, views.ErrorPage(i18n.T(r.Context(), "request.bad_request"), i18n.T(r.Context(), "request.form_unreadable")))
		return
	}
	name, bad := validateName(r.Context(), r.PostForm.Get("name"))
	if bad != "" {
		s.page(w, r, http.StatusUnprocessableEntity, views.ErrorPage(i18n.T(r.Context(), "moderation.not_removed"), bad))
		return
	}
	d, ok := removalDurations[r.PostForm.Get("duration")]
	if !ok {
		s.page(w, r, http.StatusUnprocessableEntity, views.ErrorPage(i18n.T(r.Context(), "moderation.not_removed"), i18n.T(r.Context(), "moderation.choose_duration")))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	subject, err := s.chat.NameOwner(ctx, name)
	if err != nil {
		s.log.Error("find a name's owner", "err", err)
		s.unavailable(w, r)
		return
	}
	if subject == "" {
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "moderation.not_removed"), i18n.T(r.Context(), "request.nobody_as", "Name", name)))
		return
	}
	target := identitySession(subject)
	if target == sess.ID {
		s.page(w, r, http.StatusUnprocessableEntity, views.ErrorPage(i18n.T(r.Context(), "moderation.not_removed"), i18n.T(r.Context(), "moderation.cannot_remove_self")))
		return
	}
	var until time.Time
	if d > 0 {
		until = time.Now().Add(d).Truncate(time.Second)
	}
	if err := s.chat.Remove(ctx, room, target, name, until); err != nil {
		if errors.Is(err, realtime.ErrInvalidName) {
			s.page(w, r, http.StatusUnprocessableEntity, views.ErrorPage(i18n.T(r.Context(), "moderation.not_removed"), i18n.T(r.Context(), "moderation.not_a_name")))
			return
		}
		s.log.Error("remove a person", "room", room, "err", err)
		s.unavailable(w, r)
		return
	}
	id, _ := identityOf(r)
	s.log.Info("moderator action", "action", "remove", "moderator", id.Email, "room", room, "person", name, "until", untilField(until))
	http.Redirect(w, r, "/rooms/"+room, http.StatusSeeOther)
}

// untilField is a removal's end for the log: "forever" for good.
func untilField(until time.Time) string {
	if until.IsZero() {
		return "forever"
	}
	return until.UTC().Format(time.RFC3339)
}

// RemovedFromRoom closes session's sockets in room on this instance, each
// told why first: a moderator removed that person (realtime.WithRemoved).
// It is called from the hub's loop and does not block.
func (s *Server) RemovedFromRoom(room, session string) {
	for _, e := range s.sockets.ofSession(session) {
		if e.ts.room != room {
			continue
		}
		go func() {
			_ = e.ts.wire.Last(framed(e.ts.ctx(), views.NoticeOOB(i18n.T(e.ts.ctx(), "moderation.removed"))))
			e.conn.Close(websocket.StatusPolicyViolation, "removed by a moderator")
		}()
	}
}
