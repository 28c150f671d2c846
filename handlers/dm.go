package handlers

import (
	"context"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/views"
)

// Direct messages (docs/SPEC.md): with AUTH, the private room of exactly
// two identities (one, for a person's notes), made once and found again
// by its name, which their member ids decide and nobody else can work out.

// dmKeyLabel derives the key of direct-message rooms' names from
// SESSION_SECRET.
const dmKeyLabel = "chat direct messages v1"

// dmRoom is the name of the direct-message room of members a and b: the
// same whoever opens it, and a key of the service's in it, so that nobody
// can tell whose it is from its name or find it from theirs.
func (s *Server) dmRoom(a, b string) string {
	if b < a {
		a, b = b, a
	}
	key, err := hkdf.Key(sha256.New, s.sessions.secret, nil, dmKeyLabel, 32)
	if err != nil {
		panic(fmt.Errorf("derive the direct messages' key: %w", err)) // fixed sizes: cannot happen
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(a + "|" + b))
	sum := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(mac.Sum(nil))
	return "dm-" + strings.ToLower(sum[:26])
}

// openDM answers POST /dm, field name (the other person's name): the
// direct-message room of the two of them, made the first time, and 303 to
// it. Without a verified identity: 404.
func (s *Server) openDM(w http.ResponseWriter, r *http.Request) {
	id, ok := identityOf(r)
	if !ok || id.Subject == "" {
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "error.not_found"), i18n.T(r.Context(), "error.not_found_detail")))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		s.page(w, r, http.StatusBadRequest, views.ErrorPage(i18n.T(r.Context(), "request.bad_request"), i18n.T(r.Context(), "request.form_unreadable")))
		return
	}
	name, bad := validateName(r.Context(), r.PostForm.Get("name"))
	if bad != "" {
		s.page(w, r, http.StatusUnprocessableEntity, views.ErrorPage(i18n.T(r.Context(), "dm.title"), bad))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	mine, err := s.chat.BindName(ctx, id.Subject, "")
	if err != nil {
		s.log.Error("read a name", "err", err)
		s.unavailable(w, r)
		return
	}
	if mine == "" {
		s.page(w, r, http.StatusUnprocessableEntity, views.ErrorPage(i18n.T(r.Context(), "dm.title"), i18n.T(r.Context(), "dm.name_first")))
		return
	}
	theirs, err := s.chat.NameOwner(ctx, name)
	if err == nil && theirs != "" {
		name, err = s.chat.BindName(ctx, theirs, "")
	}
	if err != nil {
		s.log.Error("find a name's owner", "err", err)
		s.unavailable(w, r)
		return
	}
	if theirs == "" {
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "dm.title"), i18n.T(r.Context(), "request.nobody_as", "Name", name)))
		return
	}
	me, them := identitySession(id.Subject), identitySession(theirs)
	room := s.dmRoom(me, them)
	info := realtime.RoomInfo{Visibility: realtime.Private, Creator: me, DM: true,
		DMMembers: [2]string{me, them}, DMNames: [2]string{mine, name}}
	switch err := s.chat.CreateRoom(ctx, room, info); {
	case errors.Is(err, realtime.ErrRoomTaken):
		// Made before: theirs and mine already.
	case err != nil:
		s.log.Error("create direct messages", "err", err)
		s.unavailable(w, r)
		return
	case them != me:
		if err := s.chat.AddMember(ctx, room, them); err != nil {
			s.log.Error("add a member", "room", room, "err", err)
			s.unavailable(w, r)
			return
		}
	}
	if _, in, err := s.chat.Access(ctx, room, me); err != nil || !in {
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "dm.title"), i18n.T(r.Context(), "dm.cannot_open")))
		return
	}
	http.Redirect(w, r, "/rooms/"+room, http.StatusSeeOther)
}

// dmWith is the other person of direct messages, as member sees them; ""
// for any other room.
func dmWith(info realtime.RoomInfo, member string) string {
	if !info.DM {
		return ""
	}
	return info.DMName(member)
}
