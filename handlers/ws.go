package handlers

import (
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/a-h/templ"
	"github.com/coder/websocket"
	"golang.org/x/time/rate"

	"github.com/chatrun/chat/handlers/transport"
	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/views"
)

// socket serves GET /rooms/{room}/ws: history first, then live events; each
// text frame from the page is a message to store and broadcast.
func (s *Server) socket(w http.ResponseWriter, r *http.Request) {
	room, ok := s.roomParam(w, r, false)
	if !ok {
		return
	}
	// A private room is its members' alone: to anyone else its socket is
	// a room that does not exist, 404 and no upgrade.
	if s.hidden(w, r, room) {
		return
	}
	sess, signedIn := s.session(r)
	// Accept refuses a browser Origin other than the host with 403
	// (cross-site WebSocket hijacking); CrossOriginProtection lets GET by.
	conn, wire, err := transport.Accept(w, r, s.writeTimeout)
	if err != nil {
		return
	}
	ip := clientIP(r, s.trustProxy)
	switch s.sockets.track(conn, trackedSocket{wire: wire, session: sess.ID, room: room, lang: i18n.From(r.Context())}, ip) {
	case trackDraining:
		conn.Close(websocket.StatusServiceRestart, "server restarting")
		conn.CloseNow()
		return
	case trackTooMany:
		s.write(r.Context(), conn, renderBytes(r.Context(), views.NoticeOOB(i18n.T(r.Context(), "socket.too_many_connections"))))
		conn.Close(websocket.StatusTryAgainLater, "too many connections")
		conn.CloseNow()
		return
	}
	conn.SetReadLimit(maxDiscard)
	stopAging := s.age(conn)
	// The socket outlives this handler and its request: it needs none of
	// the request's context values, and a shutdown closes it by itself.
	// Each call to the broker gets a deadline of its own. It keeps the
	// page's language, which everything the socket is told is written in.
	ctx := i18n.WithPrinter(context.Background(), i18n.From(r.Context()))
	wire.OnEnd(func(tooSlow bool) { endSocket(conn, tooSlow) })
	actx, cancel := context.WithTimeout(ctx, brokerWait)
	sock, ok := s.admit(actx, conn, wire, room, sess, signedIn, memberOf(r))
	cancel()
	if !ok {
		stopAging()
		conn.CloseNow()
		s.sockets.untrack(conn, ip)
		return
	}
	// Reading goes on in a goroutine of its own, which starts with a small
	// stack; this handler's deep stack and the request are let go, which
	// is most of what an idle socket would otherwise cost. There is no
	// writer goroutine: the hub writes (see realtime.Socket), and a timer
	// pings.
	stopPings := s.keepAlive(conn)
	// Asked once, from the handshake's request: who may delete anyone's
	// message for the socket's life.
	mod := s.moderatorOf(r)
	stopMyRooms := s.sendMyRooms(ctx, sess, room, sock)
	go func() {
		s.readLoop(ctx, conn, room, sess, mod, ip, sock)
		stopMyRooms()
		stopPings()
		stopAging()
		sock.Leave()
		// A read that fails (the peer went away, or only half-closed)
		// does not close the connection: without this it would stay open.
		conn.CloseNow()
		s.sockets.untrack(conn, ip)
	}()
}

// endSocket closes a socket that will be written no more. One that fell too
// far behind is closed with 1013, so htmx reconnects and catches up from
// the history.
func endSocket(conn *websocket.Conn, tooSlow bool) {
	if tooSlow {
		conn.Close(websocket.StatusTryAgainLater, "too slow")
	}
	conn.CloseNow()
}

// age closes the socket with 1012 once it has been open for the server's
// maximum age, drawn within ±10 % of it (a little inside, so that a page
// that measures from its own open never sees more): the page reconnects at
// once and catches up from the history, before the platform's request
// timeout cuts the socket without a close frame. A timer, not a goroutine,
// until then.
func (s *Server) age(conn *websocket.Conn) (stop func()) {
	if s.maxAge <= 0 {
		return func() {}
	}
	spread := float64(s.maxAge) * maxAgeJitter
	d := s.maxAge + time.Duration((rand.Float64()*2-1)*spread)
	t := time.AfterFunc(d, func() {
		// Close waits for the page's answer, bounded by coder/websocket.
		conn.Close(websocket.StatusServiceRestart, "socket max age")
	})
	return func() { t.Stop() }
}

// maxAgeJitter is how far either way a socket's age may be drawn from the
// maximum: inside SPEC's ±10 %, leaving room for the close frame's way to
// the page, and keeping SOCKET_MAX_AGE's default 55 minutes under Cloud
// Run's longest request timeout, 60.
const maxAgeJitter = 0.09

// keepAlive pings the socket every ping interval, so that a dead peer is
// found and let go: a timer, not a goroutine, while the socket is idle.
func (s *Server) keepAlive(conn *websocket.Conn) (stop func()) {
	k := &pinger{conn: conn, every: s.pingInterval}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.timer = time.AfterFunc(k.every, k.ping)
	return k.stop
}

// pinger is one socket's keep-alive.
type pinger struct {
	conn    *websocket.Conn
	every   time.Duration
	mu      sync.Mutex // guards the fields below
	timer   *time.Timer
	stopped bool
}

func (k *pinger) ping() {
	ctx, cancel := context.WithTimeout(context.Background(), k.every/2)
	err := k.conn.Ping(ctx)
	cancel()
	if err != nil {
		k.conn.CloseNow() // no pong: the peer is gone
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if !k.stopped {
		k.timer.Reset(k.every)
	}
}

func (k *pinger) stop() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.stopped = true
	k.timer.Stop()
}

// admit joins the socket to the room, or tells it why not and closes it.
func (s *Server) admit(ctx context.Context, conn *websocket.Conn, wire *transport.Wire, room string, sess Session, signedIn bool, member string) (*realtime.Socket, bool) {
	// A refused handshake makes htmx retry for ever; 1008 makes it stop.
	// Nothing of the room is sent first.
	if !signedIn {
		s.write(ctx, conn, renderBytes(ctx, views.SignInAgainOOB(room, i18n.T(ctx, "socket.session_ended"))))
		conn.Close(websocket.StatusPolicyViolation, "sign in again")
		return nil, false
	}
	if until, out := s.keptOut(ctx, room, sess); out {
		s.write(ctx, conn, renderBytes(ctx, views.NoticeOOB(removedSentence(ctx, until))))
		conn.Close(websocket.StatusPolicyViolation, "removed by a moderator")
		return nil, false
	}
	user := realtime.User{Name: sess.Name, Session: sess.ID}
	held, err := s.chat.Claim(ctx, room, user)
	if err != nil {
		s.log.Error("claim name", "room", room, "err", err)
		s.unavailableSocket(ctx, conn)
		return nil, false
	}
	if !held {
		s.write(ctx, conn, renderBytes(ctx, views.SignInAgainOOB(room, nameTaken(ctx))))
		conn.Close(websocket.StatusPolicyViolation, "name taken")
		return nil, false
	}
	opts := []realtime.JoinOption{realtime.InLanguage(string(i18n.From(ctx).Lang()))}
	if s.sharedDirectory(ctx, member) {
		opts = append(opts, realtime.FollowingDirectory())
	}
	sock, err := s.chat.Join(ctx, room, user, wire, opts...)
	if err != nil {
		s.log.Error("join room", "room", room, "err", err)
		s.unavailableSocket(ctx, conn)
		return nil, false
	}
	return sock, true
}

// sharedDirectory reports whether member's pages show the directory
// everyone sees, which their sockets can be sent: the directory is listed
// and they have no private room of their own in it (a room they are made
// a member of later shows when a page of theirs loads). A member whose
// rooms cannot be read now polls as before.
func (s *Server) sharedDirectory(ctx context.Context, member string) bool {
	if !s.listRooms {
		return false
	}
	if member == "" {
		return true
	}
	rooms, err := s.chat.RoomsOf(ctx, member)
	return err == nil && len(rooms) == 0
}

// unavailableSocket tells a page that the chat cannot take it now, and
// closes its socket with 1013 so that the page tries again later.
func (s *Server) unavailableSocket(ctx context.Context, conn *websocket.Conn) {
	_ = s.write(ctx, conn, renderBytes(ctx, views.NoticeOOB(unavailableNotice(ctx))))
	conn.Close(websocket.StatusTryAgainLater, "chat unavailable")
}

// unavailableNotice says, in the language of ctx, that the chat cannot
// take messages now.
func unavailableNotice(ctx context.Context) string { return i18n.T(ctx, "socket.unavailable") }

func (s *Server) write(ctx context.Context, conn *websocket.Conn, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.writeTimeout)
	defer cancel()
	return conn.Write(ctx, websocket.MessageText, data)
}

// The typing limit, per session and room, whatever the number of its
// sockets here: pages send one every 2 s at most. And a name's signal in
// a room is published at most once every typingRepeat from this instance:
// a page shows it for longer than that, so a repeat says nothing.
const (
	typingRate   = rate.Limit(1) // per second
	typingBurst  = 2
	typingRepeat = 1500 * time.Millisecond
)

// isTyping reports whether a frame is the page's {"typing": true}.
func isTyping(typ websocket.MessageType, data []byte) bool {
	if typ != websocket.MessageText || len(data) > 256 || !utf8.Valid(data) || jsonDepth(data) > maxFrameDepth {
		return false
	}
	var in struct {
		Typing bool    `json:"typing"`
		Text   *string `json:"text"`
	}
	return json.Unmarshal(data, &in) == nil && in.Typing && in.Text == nil
}

// visibility reads a frame that is the page's {"visible": true} or
// {"visible": false}: whether the page is shown (ok: it is one).
func visibility(typ websocket.MessageType, data []byte) (visible, ok bool) {
	if typ != websocket.MessageText || len(data) > 256 || !utf8.Valid(data) || jsonDepth(data) > maxFrameDepth {
		return false, false
	}
	var in struct {
		Visible *bool   `json:"visible"`
		Text    *string `json:"text"`
	}
	if json.Unmarshal(data, &in) != nil || in.Visible == nil || in.Text != nil {
		return false, false
	}
	return *in.Visible, true
}

// incoming is the JSON object htmx's ws extension sends for the form: its
// fields plus a headers object, which is ignored.
type incoming struct {
	Text    *string         `json:"text"`
	Nonce   *string         `json:"nonce"`
	ReplyTo json.RawMessage `json:"reply_to"`
	// Uploads are the ids of files uploaded for the message: an array of
	// strings, or one string (a form field given once).
	Uploads json.RawMessage `json:"uploads"`
}

// decodeFrame reads a frame from the page: the message's text, nonce and
// the message it answers, or why the frame is refused (with the nonce
// when it could be read), in the language of ctx.
func decodeFrame(ctx context.Context, typ websocket.MessageType, data []byte) (out outgoing, refusal string) {
	if typ != websocket.MessageText {
		return outgoing{}, i18n.T(ctx, "refusal.not_text")
	}
	// encoding/json would quietly turn invalid UTF-8 into U+FFFD.
	if !utf8.Valid(data) {
		return outgoing{}, i18n.T(ctx, "refusal.text_not_text")
	}
	var in incoming
	if jsonDepth(data) > maxFrameDepth || json.Unmarshal(data, &in) != nil {
		return outgoing{}, unreadable(ctx)
	}
	if in.Nonce != nil && validateNonce(ctx, *in.Nonce) == "" {
		out.nonce = *in.Nonce
	}
	uploads, good := parseUploads(in.Uploads)
	if !good {
		return outgoing{nonce: out.nonce}, unreadable(ctx)
	}
	if in.Text == nil && len(uploads) == 0 {
		return outgoing{nonce: out.nonce}, i18n.T(ctx, "refusal.text_empty")
	}
	if in.Nonce != nil && out.nonce == "" {
		return outgoing{}, validateNonce(ctx, *in.Nonce)
	}
	replyTo, good := parseSeq(in.ReplyTo)
	if !good {
		return outgoing{nonce: out.nonce}, unreadable(ctx)
	}
	if in.Text != nil {
		out.text = *in.Text
	}
	out.replyTo, out.uploads = replyTo, uploads
	return out, ""
}

// changeFrame is an edit ({"edit": "{seq}", "text", "nonce"}) or a
// deletion ({"delete": "{seq}", "nonce"}) of a message, as the page
// sends it. refusal, when not "", says why it cannot be read.
type changeFrame struct {
	seq     int64
	del     bool
	text    string
	nonce   string
	refusal string
}

// decodeChange reads a frame that edits or deletes a message, its refusal
// in the language of ctx; ok is false for any other frame (a message to
// send, which decodeFrame reads).
func decodeChange(ctx context.Context, typ websocket.MessageType, data []byte) (c changeFrame, ok bool) {
	if typ != websocket.MessageText || !utf8.Valid(data) || jsonDepth(data) > maxFrameDepth {
		return changeFrame{}, false
	}
	var in struct {
		Edit   *json.RawMessage `json:"edit"`
		Delete *json.RawMessage `json:"delete"`
		Text   *string          `json:"text"`
		Nonce  *string          `json:"nonce"`
	}
	if json.Unmarshal(data, &in) != nil || (in.Edit == nil && in.Delete == nil) {
		return changeFrame{}, false
	}
	if in.Nonce != nil {
		if bad := validateNonce(ctx, *in.Nonce); bad != "" {
			return changeFrame{refusal: bad}, true
		}
		c.nonce = *in.Nonce
	}
	raw := in.Edit
	if in.Delete != nil {
		raw, c.del = in.Delete, true
	}
	if in.Edit != nil && in.Delete != nil {
		c.refusal = unreadable(ctx)
		return c, true
	}
	// The number as a string, as a form sends it (a bare number too).
	seq, good := parseSeq(*raw)
	if !good || seq == 0 {
		c.refusal = unreadable(ctx)
		return c, true
	}
	c.seq = seq
	if !c.del {
		if in.Text == nil {
			c.refusal = i18n.T(ctx, "refusal.text_empty")
			return c, true
		}
		c.text = *in.Text
	}
	return c, true
}

// answerChange applies a change frame and says how it went, as a send's
// reply: sent (with the message's seq), refused with why, or unavailable.
func (s *Server) answerChange(ctx context.Context, room string, sess Session, moderator string, c changeFrame) templ.Component {
	if c.refusal != "" {
		return views.RefusedOOB(c.refusal, c.nonce, false)
	}
	refusal, err := s.change(ctx, room, sess, moderator, c.seq, c.del, c.text, c.nonce, sendWait)
	switch {
	case err != nil:
		return views.RefusedOOB(notSentUnavailable(ctx), c.nonce, true)
	case refusal != "":
		return views.RefusedOOB(refusal, c.nonce, false)
	}
	return views.SentOOB(c.nonce, c.seq)
}

// maxFrameDepth bounds the nesting of a frame's JSON: htmx sends two levels
// (the form's fields and a headers object); deeper is not from the page.
const maxFrameDepth = 8

// jsonDepth returns the deepest nesting of objects and arrays in data,
// reading it as JSON text without decoding it.
func jsonDepth(data []byte) int {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
			deepest = max(deepest, depth)
		case c == '}' || c == ']':
			depth--
		}
	}
	return deepest
}

// sendWait is how long a message past the rate limit may wait for its
// turn before it is refused: a page that comes back online sends what it
// queued at once, and all of it should get through.
const sendWait = 3 * time.Second

// Replies to a message the chat could not take for now; the page keeps the
// message and sends it again when the chat says it is back.
func notSentUnavailable(ctx context.Context) string {
	return i18n.T(ctx, "refusal.not_sent_unavailable")
}

func (s *Server) readLoop(ctx context.Context, conn *websocket.Conn, room string, sess Session, moderator string, addr string, sock *realtime.Socket) {
	for {
		typ, data, dropped, err := readFrame(ctx, conn)
		if err != nil {
			return // closed by the peer, over maxDiscard (1009), or the server shut down
		}
		if dropped {
			sock.Push(framed(ctx, views.RefusedOOB(i18n.T(ctx, "refusal.too_large_frame"), "", false)))
			continue
		}
		if isTyping(typ, data) {
			// Past the limit it is dropped: it says nothing a later one
			// would not, and needs no answer.
			if s.typingAllowed(room, sess) {
				tctx, cancel := context.WithTimeout(ctx, brokerWait)
				if err := s.chat.Typing(tctx, room, sess.Name); err != nil {
					s.log.Debug("typing", "room", room, "err", err)
				}
				cancel()
			}
			continue
		}
		if visible, ok := visibility(typ, data); ok {
			sock.SetVisible(visible) // no answer: the page needs none
			continue
		}
		if c, ok := decodeChange(ctx, typ, data); ok {
			sock.Push(framed(ctx, s.answerChange(ctx, room, sess, moderator, c)))
			continue
		}
		if f, ok := decodeReact(ctx, typ, data); ok {
			sock.Push(framed(ctx, s.answerReact(ctx, room, sess, f)))
			continue
		}
		out, refusal := decodeFrame(ctx, typ, data)
		if refusal != "" {
			sock.Push(framed(ctx, views.RefusedOOB(refusal, out.nonce, false)))
			continue
		}
		seq, refusal, err := s.send(ctx, room, sess, addr, out, sendWait)
		switch {
		case err != nil:
			sock.Push(framed(ctx, views.RefusedOOB(notSentUnavailable(ctx), out.nonce, true)))
		case refusal != "":
			sock.Push(framed(ctx, views.RefusedOOB(refusal, out.nonce, false)))
		default:
			sock.Push(framed(ctx, views.SentOOB(out.nonce, seq)))
		}
	}
}

// typingAllowed reports whether a typing signal of sess in room is to be
// published: within the session's limit in that room (shared by all its
// sockets on this instance), and not a repeat of one published for its
// name there a moment ago.
func (s *Server) typingAllowed(room string, sess Session) bool {
	now := time.Now()
	// NUL is in no room, session id or name: keys cannot run together.
	return s.typing.allowAt(sess.ID+"\x00"+room, now) && s.typed.allowAt(room+"\x00"+sess.Name, now)
}

// readFrame reads the next frame. One over maxFrame is read to its end and
// dropped: the page is told, and its socket stays usable. Only past
// maxDiscard does coder/websocket close the socket, with 1009.
func readFrame(ctx context.Context, conn *websocket.Conn) (typ websocket.MessageType, data []byte, dropped bool, err error) {
	typ, r, err := conn.Reader(ctx)
	if err != nil {
		return 0, nil, false, err
	}
	data, err = io.ReadAll(io.LimitReader(r, maxFrame+1))
	if err != nil {
		return 0, nil, false, err
	}
	if len(data) > maxFrame {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return 0, nil, false, err
		}
		return typ, nil, true, nil
	}
	return typ, data, false, nil
}
