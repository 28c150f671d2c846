package handlers

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/a-h/templ"
	"github.com/coder/websocket"
	"github.com/go-chi/chi/v5"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/views"
)

// Reactions and replies (docs/SPEC.md): a reaction toggles one emoji of the
// reader's under a message, over the socket ({"react": "{seq}", "emoji"})
// and, without JavaScript, through the reaction page and its post. A reply
// is a message with reply_to, which the server quotes from the message it
// answers.

// The sentences of a refused reaction or reply, in the language of ctx:
// a message gone, an original gone, a number or frame that is none.
func noReaction(ctx context.Context) string { return i18n.T(ctx, "refusal.no_reaction") }

func noOriginal(ctx context.Context) string { return i18n.T(ctx, "refusal.no_original") }

func unreadable(ctx context.Context) string { return i18n.T(ctx, "refusal.unreadable") }

// react toggles sess's reaction emoji under message seq of room, the one
// path for the socket and the forms. Reactions share the send limit and
// the nonce guard of messages. It returns a refusal for the user, or an
// error when the broker failed.
func (s *Server) react(ctx context.Context, room string, sess Session, seq int64, emoji, nonce string, wait time.Duration) (string, error) {
	emoji, err := realtime.ParseEmoji(emoji)
	if err != nil {
		return refusal(ctx, err), nil
	}
	if bad := validateNonce(ctx, nonce); bad != "" {
		return bad, nil
	}
	if seq < 1 {
		return noReaction(ctx), nil
	}
	if refusal, err := s.takeTurn(ctx, sess, wait); refusal != "" || err != nil {
		return refusal, err
	}
	ctx, cancel := context.WithTimeout(ctx, brokerWait)
	defer cancel()
	c := realtime.Change{Seq: seq, Author: sess.ID, Name: sess.Name, React: emoji}
	_, _, err = s.chat.Change(ctx, room, c, guardOf(sess, nonce))
	switch {
	case errors.Is(err, realtime.ErrNoMessage):
		return noReaction(ctx), nil
	case errors.Is(err, realtime.ErrTooManyReactions):
		return refusal(ctx, err), nil
	case err != nil:
		s.log.Error("react", "room", room, "seq", seq, "err", err)
		return "", errors.Join(errUnavailable, err)
	}
	s.pages.Forget(room)
	return "", nil
}

// quoteOf returns what a reply to message seq of room shows of it, or a
// refusal when the room keeps no such message or it was deleted: from the
// hot window, or the archive for an older one.
func (s *Server) quoteOf(ctx context.Context, room string, seq int64) (*realtime.Quote, string, error) {
	if seq < 1 {
		return nil, unreadable(ctx), nil
	}
	m, err := s.storedMessage(ctx, room, seq)
	if err != nil {
		return nil, "", err
	}
	if m.Seq == 0 || m.Deleted != "" {
		return nil, noOriginal(ctx), nil
	}
	q := realtime.QuoteOf(m)
	return &q, "", nil
}

// storedMessage is message seq of room as stored now, from the hot window
// or the archive; Seq 0 when the room keeps no such message.
func (s *Server) storedMessage(ctx context.Context, room string, seq int64) (realtime.Message, error) {
	msgs, err := s.chat.Recent(ctx, room)
	if err != nil {
		return realtime.Message{}, err
	}
	if i := slices.IndexFunc(msgs, func(x realtime.Message) bool { return x.Seq == seq }); i >= 0 {
		return msgs[i], nil
	}
	if s.pageSize > 0 && (len(msgs) == 0 || seq < msgs[0].Seq) {
		older, _, err := s.chat.Before(ctx, room, seq+1, 1)
		if err != nil {
			return realtime.Message{}, err
		}
		if len(older) == 1 && older[0].Seq == seq {
			return older[0], nil
		}
	}
	return realtime.Message{}, nil
}

// parseSeq reads a message number as a frame gives it: a string of
// digits, or a bare number; nil or "" is none (0).
func parseSeq(raw json.RawMessage) (int64, bool) {
	if raw == nil {
		return 0, true
	}
	var num string
	if json.Unmarshal(raw, &num) != nil {
		num = string(raw)
	}
	return seqParam(num)
}

// seqParam reads a message number as a form or an address gives it; ""
// is none (0).
func seqParam(v string) (int64, bool) {
	if v == "" {
		return 0, true
	}
	seq, err := strconv.ParseInt(v, 10, 64)
	return seq, err == nil && seq > 0
}

// reactFrame is a reaction as the page sends it: {"react": "{seq}",
// "emoji", "nonce"}. refusal, when not "", says why it cannot be read.
type reactFrame struct {
	seq     int64
	emoji   string
	nonce   string
	refusal string
}

// decodeReact reads a frame that toggles a reaction, its refusal in the
// language of ctx; ok is false for any other frame.
func decodeReact(ctx context.Context, typ websocket.MessageType, data []byte) (f reactFrame, ok bool) {
	if typ != websocket.MessageText || !utf8.Valid(data) || jsonDepth(data) > maxFrameDepth {
		return reactFrame{}, false
	}
	var in struct {
		React json.RawMessage `json:"react"`
		Emoji *string         `json:"emoji"`
		Nonce *string         `json:"nonce"`
	}
	if json.Unmarshal(data, &in) != nil || in.React == nil {
		return reactFrame{}, false
	}
	if in.Nonce != nil {
		if bad := validateNonce(ctx, *in.Nonce); bad != "" {
			return reactFrame{refusal: bad}, true
		}
		f.nonce = *in.Nonce
	}
	seq, good := parseSeq(in.React)
	if !good || seq == 0 || in.Emoji == nil {
		f.refusal = unreadable(ctx)
		return f, true
	}
	f.seq, f.emoji = seq, *in.Emoji
	return f, true
}

// answerReact applies a reaction frame and says how it went, as a send's
// reply.
func (s *Server) answerReact(ctx context.Context, room string, sess Session, f reactFrame) templ.Component {
	if f.refusal != "" {
		return views.RefusedOOB(f.refusal, f.nonce, false)
	}
	why, err := s.react(ctx, room, sess, f.seq, f.emoji, f.nonce, sendWait)
	switch {
	case err != nil:
		return views.RefusedOOB(notSentUnavailable(ctx), f.nonce, true)
	case why != "":
		return views.RefusedOOB(why, f.nonce, false)
	}
	return views.SentOOB(f.nonce, f.seq)
}

// reactTarget is the room, session and message of a no-JS reaction: it
// answers the request itself and returns false when there is none (sign
// in; 404 for a number that is none or a message gone).
func (s *Server) reactTarget(w http.ResponseWriter, r *http.Request) (string, Session, realtime.Message, bool) {
	room, sess, ok := s.roomSession(w, r, false)
	if !ok {
		return "", Session{}, realtime.Message{}, false
	}
	seq, err := strconv.ParseInt(chi.URLParam(r, "seq"), 10, 64)
	if err != nil || seq < 1 {
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "edit.no_such_message"), noReaction(r.Context())))
		return "", Session{}, realtime.Message{}, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), brokerWait)
	defer cancel()
	q, why, err := s.quoteOf(ctx, room, seq)
	switch {
	case err != nil:
		s.log.Error("read history", "room", room, "err", err)
		s.unavailable(w, r)
		return "", Session{}, realtime.Message{}, false
	case why != "":
		s.page(w, r, http.StatusNotFound, views.ErrorPage(i18n.T(r.Context(), "edit.no_such_message"), noReaction(r.Context())))
		return "", Session{}, realtime.Message{}, false
	}
	return room, sess, realtime.Message{Seq: seq, Name: q.Name, Text: q.Text}, true
}

// reactionPage answers GET /rooms/{room}/messages/{seq}/reactions: the
// quick reactions and a box for any emoji, for a page without JavaScript.
func (s *Server) reactionPage(w http.ResponseWriter, r *http.Request) {
	room, _, m, ok := s.reactTarget(w, r)
	if !ok {
		return
	}
	s.page(w, r, http.StatusOK, views.ReactionPage(views.ReactPage{
		Room: room, Seq: m.Seq, Name: m.Name, Text: m.Text, Nonce: rand.Text(),
	}))
}

// postReaction answers POST /rooms/{room}/messages/{seq}/reactions (the
// reaction page's forms, and the reaction buttons under each message of a
// page without JavaScript): it toggles the reader's emoji, then 303 back
// to the message; a refused one shows the reaction page saying why.
func (s *Server) postReaction(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	formErr := r.ParseForm()
	room, sess, m, ok := s.reactTarget(w, r)
	if !ok {
		return
	}
	emoji := r.PostForm.Get("emoji")
	again := func(why string) {
		s.page(w, r, http.StatusUnprocessableEntity, views.ReactionPage(views.ReactPage{
			Room: room, Seq: m.Seq, Name: m.Name, Text: m.Text, Emoji: emoji, Nonce: rand.Text(), Error: why,
		}))
	}
	if formErr != nil {
		emoji = ""
		again(unreadable(r.Context()))
		return
	}
	why, err := s.react(r.Context(), room, sess, m.Seq, emoji, r.PostForm.Get("nonce"), 0)
	switch {
	case err != nil:
		s.unavailable(w, r)
	case why != "":
		again(why)
	default:
		http.Redirect(w, r, "/rooms/"+room+"#"+"msg-"+strconv.FormatInt(m.Seq, 10), http.StatusSeeOther)
	}
}
