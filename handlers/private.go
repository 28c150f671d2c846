package handlers

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/views"
)

// Private rooms (docs/SPEC.md): with AUTH, a room created private is its
// members' alone, and to anyone else it does not exist. Membership belongs
// to verified identities: a member is an identity's member id, the session
// id its browsers share (identitySession).

const (
	// inviteTTL is how long an invitation link lets people in.
	inviteTTL = 7 * 24 * time.Hour
	// inviteKeyLabel derives the invitations' key from SESSION_SECRET: a
	// key of their own, so that a token is no MAC any cookie carries.
	inviteKeyLabel = "chat invitation v1"
)

// memberOf is the member id of r's verified identity; "" without one.
func memberOf(r *http.Request) string {
	if id, ok := identityOf(r); ok && id.Subject != "" {
		return identitySession(id.Subject)
	}
	return ""
}

// hidden answers 404, as for a room that does not exist, when room is
// private and r's identity is not a member, and reports whether it did.
func (s *Server) hidden(w http.ResponseWriter, r *http.Request, room string) bool {
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	_, ok, err := s.chat.Access(ctx, room, memberOf(r))
	switch {
	case err != nil:
		s.log.Error("read a room's access", "room", room, "err", err)
		s.unavailable(w, r)
		return true
	case !ok:
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "request.no_such_room"), i18n.T(r.Context(), "private.no_such_room")))
		return true
	}
	return false
}

// createRoom answers POST /rooms: fields room and visibility=private. With
// a verified identity the room is private, its creator its one member,
// unless the name is taken. Without AUTH there is nobody to hold a
// membership: the room is unlisted instead, under a name nobody can guess
// (unlistedName), and anyone with its link may enter.
func (s *Server) createRoom(w http.ResponseWriter, r *http.Request) {
	member := memberOf(r)
	if member == "" && s.identifier != nil {
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "error.not_found"), i18n.T(r.Context(), "error.not_found_detail")))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		s.page(w, r, http.StatusBadRequest, views.ErrorPage(i18n.T(r.Context(), "request.bad_request"), i18n.T(r.Context(), "request.form_unreadable")))
		return
	}
	f := s.signInForm(r)
	f.PrivateRoom = r.PostForm.Get("room")
	if r.PostForm.Get("visibility") != "private" {
		f.PrivateError = i18n.T(r.Context(), "private.choose_private")
		s.page(w, r, http.StatusUnprocessableEntity, views.SignIn(f))
		return
	}
	vis, room, bad := realtime.Private, "", ""
	if member == "" {
		vis, room = realtime.Unlisted, unlistedName()
	} else if room, bad = validateRoom(r.Context(), f.PrivateRoom); bad != "" {
		f.PrivateError = bad
		s.page(w, r, http.StatusUnprocessableEntity, views.SignIn(f))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	switch err := s.chat.CreateRoom(ctx, room, realtime.RoomInfo{Visibility: vis, Creator: member}); {
	case errors.Is(err, realtime.ErrRoomTaken):
		f.PrivateError = i18n.T(r.Context(), "private.room_taken")
		s.page(w, r, http.StatusUnprocessableEntity, views.SignIn(f))
		return
	case errors.Is(err, realtime.ErrNoPrivateRooms):
		f.PrivateError = i18n.T(r.Context(), "private.need_auth")
		s.page(w, r, http.StatusUnprocessableEntity, views.SignIn(f))
		return
	case err != nil:
		s.log.Error("create a room", "room", room, "err", err)
		s.unavailable(w, r)
		return
	}
	http.Redirect(w, r, "/rooms/"+room, http.StatusSeeOther)
}

// unlistedName is a room's name nobody can guess: 26 base32 characters,
// 130 random bits, in lower case (a room's alphabet).
func unlistedName() string { return strings.ToLower(rand.Text()) }

// inviteKey is the MAC key of invitation tokens.
func (s *Server) inviteKey() macKey {
	key, err := hkdf.Key(sha256.New, s.sessions.secret, nil, inviteKeyLabel, 32)
	if err != nil {
		panic(fmt.Errorf("derive the invitations' key: %w", err)) // fixed sizes: cannot happen
	}
	return macKey(key)
}

// inviteToken is the link's token for invitation id to room, until exp:
// the fields and a MAC of them, so that none can be changed.
func (s *Server) inviteToken(room, id string, exp time.Time) string {
	payload := room + "|" + id + "|" + strconv.FormatInt(exp.Unix(), 10)
	return base64.RawURLEncoding.EncodeToString([]byte(payload)) + "." + s.inviteKey().sign(payload)
}

// readInvite returns the room, id and expiry a token names; ok is false
// for a token the service did not make.
func (s *Server) readInvite(token string) (room, id string, exp time.Time, ok bool) {
	enc, mac, found := strings.Cut(token, ".")
	if !found {
		return "", "", time.Time{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || !s.inviteKey().verify(string(raw), mac) {
		return "", "", time.Time{}, false
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 {
		return "", "", time.Time{}, false
	}
	unix, err := strconv.ParseInt(parts[2], 10, 64)
	if err != nil {
		return "", "", time.Time{}, false
	}
	return parts[0], parts[1], time.Unix(unix, 0), true
}

// invite answers POST /rooms/{room}/invites: a member makes an invitation
// link, which the room page then shows (?invite=).
func (s *Server) invite(w http.ResponseWriter, r *http.Request) {
	room, _, _, ok := s.privateRoom(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	id := rand.Text()
	exp := time.Now().Add(inviteTTL).Truncate(time.Second)
	if err := s.chat.AddInvite(ctx, room, id, inviteTTL); err != nil {
		s.log.Error("make an invitation", "room", room, "err", err)
		s.unavailable(w, r)
		return
	}
	http.Redirect(w, r, "/rooms/"+room+"?invite="+url.QueryEscape(s.inviteToken(room, id, exp)), http.StatusSeeOther)
}

// revokeInvites answers POST /rooms/{room}/invites/revoke: the creator
// closes every open invitation.
func (s *Server) revokeInvites(w http.ResponseWriter, r *http.Request) {
	room, _, info, ok := s.privateRoom(w, r)
	if !ok {
		return
	}
	if info.Creator != memberOf(r) {
		s.page(w, r, http.StatusForbidden, views.ErrorPage(i18n.T(r.Context(), "request.forbidden"), i18n.T(r.Context(), "private.not_creator")))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	if err := s.chat.RevokeInvites(ctx, room); err != nil {
		s.log.Error("revoke invitations", "room", room, "err", err)
		s.unavailable(w, r)
		return
	}
	http.Redirect(w, r, "/rooms/"+room, http.StatusSeeOther)
}

// removeMember answers POST /rooms/{room}/members/remove, field name: the
// creator (or a moderator) ends that person's membership, on every
// instance.
func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) {
	room, sess, info, ok := s.privateRoom(w, r)
	if !ok {
		return
	}
	if info.Creator != memberOf(r) && !s.moderator(r) {
		s.page(w, r, http.StatusForbidden, views.ErrorPage(i18n.T(r.Context(), "request.forbidden"), i18n.T(r.Context(), "private.not_creator")))
		return
	}
	name, bad := validateName(r.Context(), r.PostForm.Get("name"))
	if bad != "" {
		s.page(w, r, http.StatusUnprocessableEntity, views.ErrorPage(i18n.T(r.Context(), "moderation.not_removed"), bad))
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
	member := ""
	if subject != "" {
		member = identitySession(subject)
	}
	in := false
	if member != "" {
		if _, in, err = s.chat.Access(ctx, room, member); err != nil {
			s.log.Error("read a room's access", "room", room, "err", err)
			s.unavailable(w, r)
			return
		}
	}
	switch {
	case !in:
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "moderation.not_removed"), i18n.T(r.Context(), "private.not_a_member", "Name", name)))
		return
	case member == sess.ID:
		s.page(w, r, http.StatusUnprocessableEntity, views.ErrorPage(i18n.T(r.Context(), "moderation.not_removed"), i18n.T(r.Context(), "moderation.cannot_remove_self")))
		return
	}
	if err := s.chat.RemoveMember(ctx, room, member); err != nil {
		s.log.Error("remove a member", "room", room, "err", err)
		s.unavailable(w, r)
		return
	}
	http.Redirect(w, r, "/rooms/"+room, http.StatusSeeOther)
}

// privateRoom is the room, session and info of a request about a private
// room's membership, its form read; it answers the request itself (404
// for a public room or a non-member, as roomSession does) and returns
// false when there is none.
func (s *Server) privateRoom(w http.ResponseWriter, r *http.Request) (string, Session, realtime.RoomInfo, bool) {
	room, sess, ok := s.roomSession(w, r, false)
	if !ok {
		return "", Session{}, realtime.RoomInfo{}, false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		s.page(w, r, http.StatusBadRequest, views.ErrorPage(i18n.T(r.Context(), "request.bad_request"), i18n.T(r.Context(), "request.form_unreadable")))
		return "", Session{}, realtime.RoomInfo{}, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	info, _, err := s.chat.Access(ctx, room, memberOf(r))
	if err != nil {
		s.log.Error("read a room's access", "room", room, "err", err)
		s.unavailable(w, r)
		return "", Session{}, realtime.RoomInfo{}, false
	}
	// Direct messages are two people's: nobody is invited or removed.
	if info.Visibility != realtime.Private || info.DM {
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "error.not_found"), i18n.T(r.Context(), "error.not_found_detail")))
		return "", Session{}, realtime.RoomInfo{}, false
	}
	return room, sess, info, true
}

// join answers GET /join/{token}: a verified person becomes a member of the
// room the invitation names, and goes there; an expired, revoked or forged
// invitation says so, and makes no member.
func (s *Server) join(w http.ResponseWriter, r *http.Request) {
	member := memberOf(r)
	if member == "" {
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "error.not_found"), i18n.T(r.Context(), "error.not_found_detail")))
		return
	}
	room, id, exp, ok := s.readInvite(chi.URLParam(r, "token"))
	if !ok {
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "private.no_such_invitation"), i18n.T(r.Context(), "private.invite_forged")))
		return
	}
	if !time.Now().Before(exp) {
		s.page(w, r, http.StatusGone, views.ErrorPage(i18n.T(r.Context(), "private.invitation_expired"), i18n.T(r.Context(), "private.invite_expired")))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	open, err := s.chat.InviteOpen(ctx, room, id)
	if err != nil {
		s.log.Error("read an invitation", "room", room, "err", err)
		s.unavailable(w, r)
		return
	}
	if !open {
		s.page(w, r, http.StatusGone, views.ErrorPage(i18n.T(r.Context(), "private.invitation_revoked"), i18n.T(r.Context(), "private.invite_revoked")))
		return
	}
	if err := s.chat.AddMember(ctx, room, member); err != nil {
		s.log.Error("add a member", "room", room, "err", err)
		s.unavailable(w, r)
		return
	}
	http.Redirect(w, r, "/rooms/"+room, http.StatusSeeOther)
}

// ExcludedFromRoom closes member's sockets in room on this instance, each
// told why first: the room's creator removed them (realtime.WithExcluded).
// It is called from the hub's loop and does not block.
func (s *Server) ExcludedFromRoom(room, member string) {
	for _, e := range s.sockets.ofSession(member) {
		if e.ts.room != room {
			continue
		}
		go func() {
			_ = e.ts.wire.Last(framed(e.ts.ctx(), views.NoticeOOB(i18n.T(e.ts.ctx(), "private.not_member"))))
			e.conn.Close(websocket.StatusPolicyViolation, "no longer a member")
		}()
	}
}

// inviteLink is the invitation link the room page shows after the reader
// made one (?invite=), when the token is one of the service's, for this
// room; "" otherwise.
func (s *Server) inviteLink(r *http.Request, room string) string {
	token := r.URL.Query().Get("invite")
	if token == "" {
		return ""
	}
	if to, _, _, ok := s.readInvite(token); !ok || to != room {
		return ""
	}
	scheme := "http"
	if overHTTPS(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/join/" + token
}

// nameMember records, for a private room's creator's list of members, the
// name r's member signed in to room with. Best effort: the list shows who
// it can.
func (s *Server) nameMember(ctx context.Context, r *http.Request, room, name string) {
	member := memberOf(r)
	if member == "" {
		return
	}
	info, in, err := s.chat.Access(ctx, room, member)
	if err != nil || !in || info.Visibility != realtime.Private || info.DM {
		return
	}
	if err := s.chat.SetMemberName(ctx, room, member, name); err != nil {
		s.log.Warn("name a member", "room", room, "err", err)
	}
}

// roomMembers is the names of a private room's members who signed in to
// it, sorted, for its creator (show); nil for anyone else.
func (s *Server) roomMembers(ctx context.Context, room string, show bool) []string {
	if !show {
		return nil
	}
	names, err := s.chat.RoomMemberNames(ctx, room)
	if err != nil {
		s.log.Warn("names of a room's members", "room", room, "err", err)
		return nil
	}
	out := slices.Sorted(maps.Values(names))
	return out
}
