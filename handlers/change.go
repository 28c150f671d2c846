package handlers

import (
	"context"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/views"
)

// Editing and deleting one's own messages (docs/SPEC.md): over the socket
// ({"edit": seq, "text", "nonce"} and {"delete": seq, "nonce"}) and, without
// JavaScript, through the edit and delete pages and their posts. The server
// decides whose a message is: the session that sent it (Message.Author),
// which no page ever sees. Pages see an author handle instead.

// authorHandleLabel derives the key of author handles from SESSION_SECRET:
// a key of their own, so that a handle is no MAC any cookie carries.
const authorHandleLabel = "chat author handle v1"

// authorHandleLen is how many base64url characters of the MAC a handle
// keeps: 96 bits, enough that nobody finds another's by chance.
const authorHandleLen = 16

// AuthorHandles returns the function that turns a message's author (a
// session id) into the handle pages show in data-author: a keyed
// HMAC-SHA256 under a key derived from secret, truncated. Every instance
// that shares the secret gives one author the same handle; a handle tells
// nothing of the session and cannot be turned back into it. An empty
// author (a message stored before authors were kept) has no handle.
func AuthorHandles(secret []byte) func(author string) string {
	key, err := hkdf.Key(sha256.New, secret, nil, authorHandleLabel, 32)
	if err != nil {
		panic(fmt.Errorf("derive the author handles' key: %w", err)) // fixed sizes: cannot happen
	}
	mac := macKey(key)
	return func(author string) string {
		if author == "" {
			return ""
		}
		return mac.sign(author)[:authorHandleLen]
	}
}

// RoomChanged forgets the pages of scrollback kept of room: one of its
// messages was edited or deleted, here or on another instance (the hub's
// WithChanged). It does not block.
func (s *Server) RoomChanged(room string) { s.pages.Forget(room) }

// The sentences of a refused change, in the language of ctx: someone
// else's message, and one that is gone.
func notYours(ctx context.Context) string { return i18n.T(ctx, "edit.not_yours") }

func noMessage(ctx context.Context) string { return i18n.T(ctx, "edit.no_message") }

// change edits (del false) or deletes message seq of room for sess, the one
// path for the socket and the forms. Edits take the same text as a new
// message, and changes share the send limit and the nonce guard of sends.
// It returns a refusal for the user, or an error when the broker failed.
func (s *Server) change(ctx context.Context, room string, sess Session, moderator string, seq int64, del bool, text, nonce string, wait time.Duration) (string, error) {
	if !del {
		parsed, err := realtime.ParseText(text)
		if err != nil {
			return refusal(ctx, err), nil
		}
		text = parsed
	}
	if bad := validateNonce(ctx, nonce); bad != "" {
		return bad, nil
	}
	if seq < 1 {
		return noMessage(ctx), nil
	}
	if refusal, err := s.takeTurn(ctx, sess, wait); refusal != "" || err != nil {
		return refusal, err
	}
	guard := guardOf(sess, nonce)
	ctx, cancel := context.WithTimeout(ctx, brokerWait)
	defer cancel()
	var gone []realtime.Attachment
	if del && s.files.up != nil {
		// The files go with the message: which they are is known only
		// before (a deleted message keeps none). Nobody adds files to a
		// stored message, so this read cannot miss one.
		before, err := s.storedMessage(ctx, room, seq)
		if err != nil {
			s.log.Error("read a message to delete", "room", room, "seq", seq, "err", err)
			return "", errors.Join(errUnavailable, err)
		}
		gone = before.Files
	}
	c := realtime.Change{Seq: seq, Author: sess.ID, Moderator: moderator != "", Delete: del, Text: text}
	m, dup, err := s.chat.Change(ctx, room, c, guard)
	switch {
	case errors.Is(err, realtime.ErrNotAuthor):
		return notYours(ctx), nil
	case errors.Is(err, realtime.ErrNoMessage):
		return noMessage(ctx), nil
	case err != nil:
		s.log.Error("change message", "room", room, "seq", seq, "err", err)
		return "", errors.Join(errUnavailable, err)
	}
	if !dup && m.Deleted != "" {
		s.deleteFiles(gone)
	}
	if !dup && m.Deleted == realtime.DeletedByModerator {
		s.log.Info("moderator action", "action", "delete", "moderator", moderator, "room", room, "seq", m.Seq, "person", m.Name)
	}
	// Every instance forgets the room's pages (WithChanged); this one at
	// once, so that its own next page of scrollback is the new one.
	s.pages.Forget(room)
	return "", nil
}

// changeTarget is the room, session and message of a no-JS edit or delete
// request, the message as it is now. It answers the request itself and
// returns false when there is none to change: no session (sign in), a
// number that is none (404), a message that is gone (404) or someone
// else's (403).
func (s *Server) changeTarget(w http.ResponseWriter, r *http.Request, del bool) (string, Session, realtime.Message, bool) {
	room, sess, ok := s.roomSession(w, r, false)
	if !ok {
		return "", Session{}, realtime.Message{}, false
	}
	seq, err := strconv.ParseInt(chi.URLParam(r, "seq"), 10, 64)
	if err != nil || seq < 1 {
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "edit.no_such_message"), noMessage(r.Context())))
		return "", Session{}, realtime.Message{}, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	msgs, err := s.chat.Recent(ctx, room)
	if err != nil {
		s.log.Error("read history", "room", room, "err", err)
		s.unavailable(w, r)
		return "", Session{}, realtime.Message{}, false
	}
	var m realtime.Message
	for _, x := range msgs {
		if x.Seq == seq {
			m = x
		}
	}
	mod := s.moderator(r)
	switch {
	case m.Seq == 0 || m.Deleted != "":
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "edit.no_such_message"), noMessage(r.Context())))
		return "", Session{}, realtime.Message{}, false
	case m.Author == "" || m.Author != sess.ID:
		// A moderator deletes anyone's message, and edits none but theirs.
		if !mod || !del {
			s.page(w, r, http.StatusForbidden, views.ErrorPage(i18n.T(r.Context(), "edit.not_yours_title"), notYours(r.Context())))
			return "", Session{}, realtime.Message{}, false
		}
	}
	return room, sess, m, true
}

// editPage answers GET /rooms/{room}/messages/{seq}/edit: the message's
// text in a box, for a page without JavaScript.
func (s *Server) editPage(w http.ResponseWriter, r *http.Request) {
	room, _, m, ok := s.changeTarget(w, r, false)
	if !ok {
		return
	}
	s.page(w, r, http.StatusOK, views.EditPage(views.ChangePage{
		Room: room, Seq: m.Seq, Text: m.Text, Nonce: rand.Text(), MaxText: maxText,
	}))
}

// deletePage answers GET /rooms/{room}/messages/{seq}/delete: the message
// and a form that confirms its deletion.
func (s *Server) deletePage(w http.ResponseWriter, r *http.Request) {
	room, _, m, ok := s.changeTarget(w, r, true)
	if !ok {
		return
	}
	s.page(w, r, http.StatusOK, views.DeletePage(views.ChangePage{
		Room: room, Seq: m.Seq, Text: m.Text, Nonce: rand.Text(),
	}))
}

// postEdit answers POST /rooms/{room}/messages/{seq}: the edit page's form.
func (s *Server) postEdit(w http.ResponseWriter, r *http.Request) {
	s.postChange(w, r, false)
}

// postDelete answers POST /rooms/{room}/messages/{seq}/delete.
func (s *Server) postDelete(w http.ResponseWriter, r *http.Request) {
	s.postChange(w, r, true)
}

// postChange applies a no-JS edit or delete, then 303 to the room; a
// refused one shows its page again saying why, the text kept.
func (s *Server) postChange(w http.ResponseWriter, r *http.Request, del bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	formErr := r.ParseForm()
	room, sess, m, ok := s.changeTarget(w, r, del)
	if !ok {
		return
	}
	again := func(status int, text, why string) {
		p := views.ChangePage{Room: room, Seq: m.Seq, Text: text, Nonce: r.PostForm.Get("nonce"), MaxText: maxText, Error: why}
		if del {
			p.Text = m.Text
			s.page(w, r, status, views.DeletePage(p))
			return
		}
		s.page(w, r, status, views.EditPage(p))
	}
	if formErr != nil {
		again(http.StatusUnprocessableEntity, m.Text, i18n.T(r.Context(), "refusal.too_large"))
		return
	}
	text := r.PostForm.Get("text")
	// A form is refused at once past the limit, as a post is.
	why, err := s.change(r.Context(), room, sess, s.moderatorOf(r), m.Seq, del, text, r.PostForm.Get("nonce"), 0)
	switch {
	case err != nil:
		s.unavailable(w, r)
	case why == notYours(r.Context()):
		s.page(w, r, http.StatusForbidden, views.ErrorPage(i18n.T(r.Context(), "edit.not_yours_title"), notYours(r.Context())))
	case why == noMessage(r.Context()):
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "edit.no_such_message"), noMessage(r.Context())))
	case why != "":
		again(http.StatusUnprocessableEntity, text, why)
	default:
		http.Redirect(w, r, "/rooms/"+room, http.StatusSeeOther)
	}
}
