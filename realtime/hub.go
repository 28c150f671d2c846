package realtime

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// Renderer turns events into the bytes written to sockets. The Hub calls it
// once per event per instance for each language read in the event's room
// (see InLanguage), and writes the same bytes to every socket in that
// language.
type Renderer interface {
	// Message is a new message, to append to what the page shows.
	Message(m Message) []byte
	// Presence says who entered and who left, then replaces the page's
	// member list with names: one message.
	Presence(entered, left, names []string) []byte
	// MessageList replaces what the page shows with msgs, oldest first.
	MessageList(msgs []Message) []byte
	// MemberList replaces the page's member list with names.
	MemberList(names []string) []byte
	// Availability says whether the room takes messages now. Every socket
	// gets it after its history, and again whenever it changes.
	Availability(ok bool) []byte
	// Typing says that each of names is typing, in one frame.
	Typing(names []string) []byte
	// Directory replaces the page's room directory with rooms, for a
	// page in room.
	Directory(rooms []RoomCount, room string) []byte
	// Changed replaces a message the page shows with m, edited or deleted.
	Changed(m Message) []byte
	// Removed says that a moderator removed name from the room.
	Removed(name string) []byte
}

// defaultQueueSize is how many frames a socket may have waiting before it is
// dropped as too slow. Its writer takes all that wait at once, joined into
// one write (Socket.next), so a socket is dropped only when it falls this
// many frames behind while a write is blocked.
const defaultQueueSize = 64

// presenceTiming sets how presence behaves. A user stays listed for
// LeaveGrace after their last socket closes, so reloads and reconnects make
// no noise; an instance renews its users every Beat, and the users of an
// instance that stopped renewing vanish after TTL, seen by the others
// within a Beat more. A room's sockets are told of changes at most once per
// Batch: who came and went meanwhile, and the new list, in one frame.
type presenceTiming struct {
	LeaveGrace, Beat, TTL, Batch time.Duration
}

// defaultPresenceTiming lists a user who is gone for good within 10 s, and
// the users of a dead instance within 20 s (docs/SPEC.md allows 10 and 30);
// a crowd arriving costs each socket a frame a second.
var defaultPresenceTiming = presenceTiming{LeaveGrace: 5 * time.Second, Beat: 5 * time.Second, TTL: 15 * time.Second, Batch: time.Second}

// defaultHealthCheck is how often the hub pings its broker to tell pages
// whether messages can be sent.
const defaultHealthCheck = 2 * time.Second

// HubOption changes a Hub's defaults.
type HubOption func(*Hub)

// withPresenceTiming replaces defaultPresenceTiming: for tests, which want a faster clock.
func withPresenceTiming(t presenceTiming) HubOption { return func(h *Hub) { h.timing = t } }

// Hub holds this instance's sockets by room and fans the broker's events out
// to them.
//
// It takes rooms and names only as ParseRoom and ParseName return them: any
// other is refused with an error that wraps ErrInvalidRoom or
// ErrInvalidName, before anything reaches the broker.
//
// Concurrency. Locks are taken in this order, never the other way:
// availMu, localRoom.subMu, Hub.mu, localRoom.mu, Socket.mu, rendition.mu.
// presMu and a presenceLock are taken alone (presMu never with another
// held).
//
//   - Hub.mu, localRoom.mu, Socket.mu, presMu and availMu guard maps and fields
//     and are held only while those are read or written, or while frames are
//     queued (queueing never blocks: a full queue drops its socket). None
//     is ever held across broker I/O, nor across a socket's write: what is
//     queued is flushed once they are let go (flushList).
//   - localRoom.subMu is held across the room's Subscribe or Unsubscribe: only a
//     join of that same room waits for it.
//   - A presenceLock (one user in one room) is held across that user's
//     presence I/O: only that user's next join or leave in that room waits.
//   - The directory's readMu is held across a directory read: only other
//     directory reads wait for it. Under it the read takes Hub.mu, then
//     each localRoom.mu, one at a time, for the lists at hand. Its touchMu
//     is taken alone, by sends, and never held across I/O.
//
// Run's loop never waits on I/O. It does no broker I/O: a resync reads the
// history in a goroutine of its own (Hub.bg), and so does a join's presence
// work. It does write to sockets, but only by non-blocking tries
// (Conn.TryWrite, see Socket): what a socket does not take at once is left
// to that socket's writer goroutine.
type Hub struct {
	broker      Broker
	render      Renderer            // the default language's
	renderers   map[string]Renderer // by language; see WithLanguages
	fallback    string              // the language of sockets in one without a Renderer
	log         *slog.Logger
	queueSize   int
	timing      presenceTiming
	healthEvery time.Duration
	// directoryEvery is how often the directory is read to be sent to
	// sockets (WithDirectoryPush); 0: it is not.
	directoryEvery time.Duration
	obs            Observer
	archive        Archive // nil: scrollback reaches as far as the broker's history
	// signedOut is told, from Run's loop, the id of a session signed out
	// on any instance; it must not block. nil: nobody is told.
	signedOut func(session string)
	// changed is told, from Run's loop, the room of every message changed
	// on any instance; removed, the room and session of every removal
	// from a room with sockets here. nil: nobody is told.
	changed  func(room string)
	removed  func(room, session string)
	excluded func(room, member string)
	// known is the rooms whose visibility cannot change any more.
	known knownRooms

	availMu   sync.Mutex // orders the availability frames pages get
	available bool       // whether the broker took the last send or ping

	mu    sync.Mutex
	rooms map[string]*localRoom

	presMu    sync.Mutex // guards pending and presLocks; never held across I/O
	pending   map[presenceKey]*time.Timer
	presLocks map[presenceKey]*presenceLock

	dirty *roomQueue // rooms whose member list must be read again

	flushes flushList // sockets for Run's loop to flush; Run's loop only

	dir directory // the room directory as this instance last read it

	life context.Context // ends when Run returns: background work stops
	end  context.CancelFunc
	bg   sync.WaitGroup // resyncs and joins' presence work under way
}

type presenceKey struct {
	room string
	user User
}

// localRoom is one room's sockets on this instance. Its fields are guarded by
// localRoom.mu unless said otherwise; see Hub for the lock order.
type localRoom struct {
	name string
	refs int // sockets and joins under way; guarded by Hub.mu

	subMu      sync.Mutex // orders Subscribe and Unsubscribe of this room
	subscribed bool

	mu      sync.RWMutex
	sockets map[*Socket]struct{}
	users   map[User]int // local sockets per user
	listed  []string     // the names last sent to local sockets
	known   bool         // whether listed has been read yet
	reads   uint64       // history reads started; numbers each read's frame (see Socket.accept)
	toldAt  time.Time    // when local sockets were last told of a presence change
	// lapse is when the first entry of the list last read lapses unless
	// renewed (MembersLapse; zero: not known): till then the beat need
	// not read the list again.
	lapse time.Time

	// A resync under way holds the room's live messages (guarded by mu).
	resyncing bool
	again     bool    // another resync was asked for meanwhile
	held      []frame // live messages that arrived during the read

	lastLive int64 // seq of the last live message dispatched; Run's loop only

	typing roomTyping
}

// maxHeld bounds the live messages held during a resync; past it the
// oldest go, and another resync follows (the history has them).
const maxHeld = 256

// dispatchMessage hands a live message to every socket, or holds it while
// a resync is under way. It returns how many members it reached, and
// whether one of them shows another numbering than f's.
func (r *localRoom) dispatchMessage(f frame, fl *flushList) (n int, behind bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.resyncing {
		if len(r.held) == maxHeld {
			r.held = r.held[1:]
			r.again = true
		}
		r.held = append(r.held, f)
		return 0, false
	}
	return r.deliverLocked(f, fl)
}

// resynced sends the history read by a resync (when ok) and then the live
// messages held meanwhile, and says whether to read again.
func (r *localRoom) resynced(history frame, ok bool) (again bool) {
	var fl flushList
	defer fl.flush()
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok {
		r.deliverLocked(history, &fl)
	}
	for _, f := range r.held {
		r.deliverLocked(f, &fl)
	}
	r.held = nil
	again, r.again = r.again, false
	r.resyncing = again
	return again
}

// historyRead numbers a read of the room's history that is about to start.
func (r *localRoom) historyRead() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	return r.reads
}

// NewHub returns a hub on broker. Call Run to start delivering events.
func NewHub(broker Broker, render Renderer, log *slog.Logger, opts ...HubOption) *Hub {
	h := &Hub{
		broker:      broker,
		render:      render,
		log:         log,
		queueSize:   defaultQueueSize,
		timing:      defaultPresenceTiming,
		healthEvery: defaultHealthCheck,
		available:   true,
		obs:         noObserver{},
		rooms:       make(map[string]*localRoom),
		pending:     make(map[presenceKey]*time.Timer),
		presLocks:   make(map[presenceKey]*presenceLock),
		dirty:       newRoomQueue(),
	}
	h.life, h.end = context.WithCancel(context.Background())
	for _, o := range opts {
		o(h)
	}
	return h
}

// Run delivers the broker's events to local sockets and keeps presence
// current until ctx is done or the broker is closed.
func (h *Hub) Run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { h.presenceLoop(ctx) })
	wg.Go(func() { h.healthLoop(ctx) })
	wg.Go(func() { h.followSignOuts(ctx) })
	if h.directoryEvery > 0 {
		wg.Go(func() { h.directoryLoop(ctx) })
	}
	defer func() {
		cancel()
		wg.Wait()
		h.end()
		h.bg.Wait()
		h.stopPending()
		for _, r := range h.roomList() {
			r.typing.stop()
		}
	}()
	events := h.broker.Events()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			h.dispatch(ev)
		}
	}
}

func (h *Hub) dispatch(ev Event) {
	if ev.Room == SignOutsRoom {
		switch {
		case ev.Kind == KindSignedOut && h.signedOut != nil:
			h.signedOut(ev.Message.Name)
		case ev.Kind == KindResync && h.signedOut != nil:
			h.signedOut("") // the channel was cut: sign-outs may be lost
		case ev.Kind == KindChanged && h.changed != nil:
			h.changed(ev.Message.Name)
		}
		return
	}
	h.mu.Lock()
	r := h.rooms[ev.Room]
	h.mu.Unlock()
	if r == nil {
		return
	}
	switch ev.Kind {
	case KindMessage:
		start := time.Now()
		h.messaged(r, ev.Message.Name)
		// A message more than one past the last one this instance saw of
		// the room means one went missing on the way (a publish lost in a
		// reconnect): the room's history has it.
		gap := r.lastLive != 0 && !ev.Message.First && ev.Message.Seq > r.lastLive+1
		r.lastLive = ev.Message.Seq
		n, behind := r.dispatchMessage(frame{seq: ev.Message.Seq, first: ev.Message.First, out: renderAs(func(r Renderer) []byte { return r.Message(ev.Message) })}, &h.flushes)
		h.flushes.flush()
		h.obs.Delivered(n)
		h.obs.FanOut(time.Since(start))
		if behind || gap {
			// behind: the room's numbering started over (its store lost
			// it), and pages that show the old one take the history as it
			// is now.
			h.resync(r)
		}
	case KindTyping:
		h.typed(r, ev.Message.Name)
	case KindChanged:
		// Not numbered: it replaces a message the page has, or that the
		// page's history has as changed already.
		r.broadcast(frame{out: renderAs(func(r Renderer) []byte { return r.Changed(ev.Message) })}, &h.flushes)
		h.flushes.flush()
	case KindExcluded:
		if h.excluded != nil {
			h.excluded(ev.Room, ev.Message.Author)
		}
	case KindRemoved:
		if h.removed != nil {
			h.removed(ev.Room, ev.Message.Author)
		}
		r.broadcast(frame{out: renderAs(func(r Renderer) []byte { return r.Removed(ev.Message.Name) })}, &h.flushes)
		h.flushes.flush()
	case KindPresence:
		h.markDirty(ev.Room)
	case KindResync:
		h.resync(r)
		h.markDirty(ev.Room)
	}
}

// resyncWait bounds a resync's read of the history.
const resyncWait = 5 * time.Second

// resync sends every socket of r the room's history again, after events may
// have been lost; the history fragment replaces what the client shows. The
// read goes on beside the event loop, so that a slow Redis stalls no other
// room; the room's live messages that arrive meanwhile are held and follow
// the history, which keeps them on the pages. Asked for while one is under
// way, another follows it.
func (h *Hub) resync(r *localRoom) {
	r.mu.Lock()
	if r.resyncing {
		r.again = true
		r.mu.Unlock()
		return
	}
	r.resyncing = true
	r.mu.Unlock()
	h.obs.Resynced()
	h.bg.Go(func() {
		for {
			read := r.historyRead()
			ctx, cancel := context.WithTimeout(h.life, resyncWait)
			msgs, err := h.recent(ctx, r.name)
			cancel()
			if err != nil {
				h.brokerFailed("resync room", r.name, err)
			}
			if !r.resynced(h.historyFrame(msgs, read), err == nil) {
				return
			}
		}
	})
}

// historyFrame is the frame that replaces a page's messages with msgs, read
// by the read'th history read of the room.
func (h *Hub) historyFrame(msgs []Message, read uint64) frame {
	f := frame{out: renderAs(func(r Renderer) []byte { return r.MessageList(msgs) }), history: read}
	if len(msgs) > 0 {
		f.seq = msgs[len(msgs)-1].Seq
	}
	return f
}

// Send stores and publishes m (its sender, text and Verified; the hub
// stamps the time) in room. A repeated guard is answered like the
// original, with nothing stored again.
func (h *Hub) Send(ctx context.Context, room string, m Message, guard string) (Message, error) {
	m, _, err := h.SendCounted(ctx, room, m, guard, "")
	return m, err
}

// SendCounted is Send, and with a sender (a person, as Reading names
// them; "": none) counts the message as Arrived does in the same step,
// and returns whom to tell of it.
func (h *Hub) SendCounted(ctx context.Context, room string, m Message, guard, sender string) (Message, []string, error) {
	if err := checkRoomAndName(room, m.Name); err != nil {
		return Message{}, nil, err
	}
	m.Time = time.Now().UTC()
	var notify []string
	var err error
	if sender == "" {
		m, _, err = h.broker.Send(ctx, room, m, guard)
	} else {
		m, _, notify, err = h.broker.SendCounted(ctx, room, m, guard, sender)
		if err != nil && m.Seq > 0 {
			// Stored and published: the sender is answered. What the
			// other instances keep of the people it mentions stays stale
			// until they read it again (a few minutes at most).
			h.log.Warn("tell the instances whom a message mentions", "room", room, "seq", m.Seq, "err", err)
			err = nil
		}
	}
	switch {
	case err == nil:
		h.setAvailable(true)
		h.hasMessages(ctx, room)
		h.touched(ctx, room)
	case ctx.Err() == nil: // not the sender giving up
		h.obs.BrokerError()
		h.setAvailable(false)
	}
	return m, notify, err
}

// Typing tells every page in the room, on every instance, that name is
// typing. Nothing is stored: it is one publish.
func (h *Hub) Typing(ctx context.Context, room, name string) error {
	if err := checkRoomAndName(room, name); err != nil {
		return err
	}
	if err := h.broker.Announce(ctx, room, KindTyping, name); err != nil {
		return fmt.Errorf("typing in room %q: %w", room, err)
	}
	return nil
}

// healthLoop pings the broker every healthEvery, so that pages learn when
// sending stops and starts working without having to try.
func (h *Hub) healthLoop(ctx context.Context) {
	tick := time.NewTicker(h.healthEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		pctx, cancel := context.WithTimeout(ctx, h.healthEvery)
		err := h.broker.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		h.setAvailable(err == nil)
	}
}

// setAvailable records whether the broker takes messages and, when that
// changed, tells every local socket.
func (h *Hub) setAvailable(ok bool) {
	// The frames are queued in order under availMu, and written once no
	// lock is held.
	var fl flushList
	defer fl.flush()
	h.availMu.Lock()
	defer h.availMu.Unlock()
	if h.available == ok {
		return
	}
	h.available = ok
	if ok {
		h.log.Info("broker reachable: messages are taken again")
	} else {
		h.log.Warn("broker unreachable: messages are refused until it is back")
	}
	f := frame{out: renderAs(func(r Renderer) []byte { return r.Availability(ok) })}
	for _, r := range h.roomList() {
		r.broadcast(f, &fl)
	}
}

// roomList returns the rooms with sockets here now.
func (h *Hub) roomList() []*localRoom {
	h.mu.Lock()
	defer h.mu.Unlock()
	rooms := make([]*localRoom, 0, len(h.rooms))
	for _, r := range h.rooms {
		rooms = append(rooms, r)
	}
	return rooms
}

// MemberNames returns the names of who is in the room, across instances.
func (h *Hub) MemberNames(ctx context.Context, room string) ([]string, error) {
	if err := checkRoom(room); err != nil {
		return nil, err
	}
	users, err := h.broker.Members(ctx, room)
	return Names(users), err
}

// Claim gives u's name in the room to u's session, unless another session
// holds it or a name that looks the same ("ALICE", Cyrillic "Аlice" and
// "AIice" are all "Alice"). The claim lasts while u is present in the room
// and a presence TTL after; it reports whether u holds the name now. Claims
// are atomic: of two sessions claiming one name at once, one gets it.
func (h *Hub) Claim(ctx context.Context, room string, u User) (bool, error) {
	if err := checkRoomAndName(room, u.Name); err != nil {
		return false, err
	}
	return h.broker.Claim(ctx, room, u, h.timing.TTL)
}

// BindName gives name to the verified identity subject for good (NameBook):
// the name it returns is subject's, and ErrNameTaken says that another
// identity holds name.
func (h *Hub) BindName(ctx context.Context, subject, name string) (string, error) {
	if name != "" {
		if err := checkName(name); err != nil {
			return "", err
		}
	}
	return h.broker.BindName(ctx, subject, name)
}

// Generation returns a credential's generation (Credentials).
func (h *Hub) Generation(ctx context.Context, id string) (int64, error) {
	return h.broker.Generation(ctx, id)
}

// Revoke bumps a credential's generation, on every instance (Credentials).
func (h *Hub) Revoke(ctx context.Context, id string, ttl time.Duration) (int64, error) {
	return h.broker.Revoke(ctx, id, ttl)
}

// FirstUse reports whether id is used for the first time within ttl, on
// any instance (Credentials).
func (h *Hub) FirstUse(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	return h.broker.FirstUse(ctx, id, ttl)
}

// Recent returns the room's recent messages, oldest first, as a page shows
// them: the newest of its history that fit maxHistoryBytes.
func (h *Hub) Recent(ctx context.Context, room string) ([]Message, error) {
	if err := checkRoom(room); err != nil {
		return nil, err
	}
	msgs, err := h.recent(ctx, room)
	if len(msgs) > 0 {
		h.hasMessages(ctx, room)
	}
	return msgs, err
}

// recent is Recent of a room the hub holds already, its name checked.
func (h *Hub) recent(ctx context.Context, room string) ([]Message, error) {
	msgs, err := h.broker.History(ctx, room)
	return lastFitting(msgs), err
}

// WithSignedOut has f told the id of every session signed out, on any
// instance, so that it closes that session's sockets here, and "" when
// the broker's channel of sign-outs was cut and some may have been lost.
// f is called from the hub's event loop and must not block.
func WithSignedOut(f func(session string)) HubOption {
	return func(h *Hub) { h.signedOut = f }
}

// SignOut tells every instance that session was signed out: each closes
// the session's sockets.
func (h *Hub) SignOut(ctx context.Context, session string) error {
	if err := h.broker.Announce(ctx, SignOutsRoom, KindSignedOut, session); err != nil {
		return fmt.Errorf("announce a sign-out: %w", err)
	}
	return nil
}

// followSignOuts subscribes to SignOutsRoom until that succeeds or ctx
// ends: a broker down at start is tried again every couple of seconds,
// and the broker keeps the subscription from then on.
func (h *Hub) followSignOuts(ctx context.Context) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		sctx, cancel := context.WithTimeout(ctx, presenceWait)
		err := h.broker.Subscribe(sctx, SignOutsRoom)
		cancel()
		if err == nil {
			return
		}
		h.log.Warn("subscribe to sign-outs", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// WithArchive has scrollback read a, which keeps what the broker's hot
// window no longer holds.
func WithArchive(a Archive) HubOption { return func(h *Hub) { h.archive = a } }

// Before returns up to limit messages of the room numbered below before,
// oldest first, and whether older ones exist: a page of scrollback, from
// the archive, or from the broker's history without one.
func (h *Hub) Before(ctx context.Context, room string, before int64, limit int) ([]Message, bool, error) {
	if err := checkRoom(room); err != nil {
		return nil, false, err
	}
	if h.archive != nil {
		return h.archive.Before(ctx, room, before, limit)
	}
	msgs, err := h.broker.History(ctx, room)
	if err != nil {
		return nil, false, err
	}
	end, _ := slices.BinarySearchFunc(msgs, before, func(m Message, seq int64) int { return cmp.Compare(m.Seq, seq) })
	start := max(0, end-limit)
	return msgs[start:end], start > 0, nil
}

// maxHistoryBytes bounds the text of a history a page or socket is sent, as
// HTML, beside HISTORY_SIZE's count: a hundred messages of 2,000 "<" would
// otherwise make every room page 800 KB.
const maxHistoryBytes = 128 << 10

// lastFitting returns the newest messages whose names and texts, escaped
// as HTML, fit in maxHistoryBytes.
func lastFitting(msgs []Message) []Message {
	size := 0
	for i := len(msgs) - 1; i >= 0; i-- {
		size += escapedLen(msgs[i].Name) + escapedLen(msgs[i].Text)
		if size > maxHistoryBytes {
			return msgs[i+1:]
		}
	}
	return msgs
}

// escapedLen is how long s is once HTML-escaped: & < > " ' grow to an
// entity of up to five bytes.
func escapedLen(s string) int {
	n := len(s)
	for i := range len(s) {
		switch s[i] {
		case '&', '<', '>', '"', '\'':
			n += 4
		}
	}
	return n
}

// Ping reports whether the broker is reachable.
func (h *Hub) Ping(ctx context.Context) error { return h.broker.Ping(ctx) }

// Join registers a socket of user u in room. Its first frame is the
// room's history; live events follow, each once: the socket is registered
// before the history is read, and events the history already holds are
// dropped.
func (h *Hub) Join(ctx context.Context, room string, u User, conn Conn, opts ...JoinOption) (*Socket, error) {
	if err := checkRoomAndName(room, u.Name); err != nil {
		return nil, err
	}
	r, err := h.acquire(ctx, room)
	if err != nil {
		return nil, err
	}
	sock := &Socket{hub: h, room: r, User: u, conn: conn}
	for _, o := range opts {
		o(sock)
	}
	sock.lang = h.language(sock.lang)
	sock.render = h.renderer(sock.lang)
	first := r.add(sock)
	read := r.historyRead()
	msgs, err := h.recent(ctx, room)
	if err != nil {
		h.obs.BrokerError()
		sock.leave(false)
		return nil, fmt.Errorf("join room %q: %w", room, err)
	}
	behind, flush := sock.start(h.historyFrame(msgs, read))
	if behind {
		h.resync(r)
	}
	// The page takes this frame as the sign that it is in the room.
	h.availMu.Lock()
	_, more := sock.deliver(frame{data: sock.render.Availability(h.available)})
	h.availMu.Unlock()
	if flush || more {
		sock.flush()
	}
	// Presence goes on while the caller starts writing to the socket: a
	// joiner's queue must not fill with live messages while Redis, busy
	// with everyone reconnecting at once, records who is here.
	h.bg.Go(func() {
		ctx, cancel := context.WithTimeout(h.life, presenceWait)
		defer cancel()
		h.enter(ctx, r, sock, first)
	})
	return sock, nil
}

// presenceWait bounds the presence work of one join.
const presenceWait = 5 * time.Second

// enter records a joiner's presence (first: its user's first socket here)
// and sends it the member list.
func (h *Hub) enter(ctx context.Context, r *localRoom, sock *Socket, first bool) {
	h.knowMembers(ctx, r)
	if first && !sock.gone() {
		if err := h.present(ctx, r.name, sock.User); err != nil {
			h.brokerFailed("record presence", r.name, err)
		}
	}
	r.mu.RLock()
	listed, known := r.listed, r.known
	r.mu.RUnlock()
	if known {
		// The page's list may be older than this instance's.
		if !slices.Contains(listed, sock.User.Name) {
			listed = slices.Sorted(slices.Values(append(slices.Clip(listed), sock.User.Name)))
		}
		sock.Push(sock.render.MemberList(listed))
	}
	h.markDirty(r.name)
}

// acquire returns the room, subscribed, with a reference held for the caller.
func (h *Hub) acquire(ctx context.Context, name string) (*localRoom, error) {
	h.mu.Lock()
	r := h.rooms[name]
	if r == nil {
		r = &localRoom{name: name, sockets: make(map[*Socket]struct{}), users: make(map[User]int)}
		h.rooms[name] = r
		h.obs.RoomsActive(len(h.rooms))
	}
	r.refs++
	h.mu.Unlock()

	r.subMu.Lock()
	defer r.subMu.Unlock()
	if !r.subscribed {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := h.broker.Subscribe(ctx, name); err != nil {
			h.mu.Lock()
			r.refs--
			if r.refs == 0 && h.rooms[name] == r {
				delete(h.rooms, name)
				h.obs.RoomsActive(len(h.rooms))
			}
			h.obs.BrokerError()
			h.mu.Unlock()
			return nil, fmt.Errorf("join room %q: %w", name, err)
		}
		r.subscribed = true
	}
	return r, nil
}

// release drops a reference to r; the last one unsubscribes the room.
func (h *Hub) release(r *localRoom) {
	h.mu.Lock()
	r.refs--
	last := r.refs == 0
	h.mu.Unlock()
	if !last {
		return
	}
	r.subMu.Lock()
	defer r.subMu.Unlock()
	h.mu.Lock()
	stillUnused := r.refs == 0
	h.mu.Unlock()
	if !stillUnused {
		return // someone joined meanwhile and relies on the subscription
	}
	if r.subscribed {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := h.broker.Unsubscribe(ctx, r.name); err != nil {
			h.brokerFailed("unsubscribe", r.name, err)
		}
		cancel()
		r.subscribed = false
	}
	h.mu.Lock()
	if r.refs == 0 && h.rooms[r.name] == r {
		delete(h.rooms, r.name)
		h.obs.RoomsActive(len(h.rooms))
	}
	h.mu.Unlock()
}

// add registers sock and reports whether it is its user's first local socket.
func (r *localRoom) add(sock *Socket) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sockets[sock] = struct{}{}
	r.users[sock.User]++
	return r.users[sock.User] == 1
}

// remove unregisters sock and reports whether it was its user's last local socket.
func (r *localRoom) remove(sock *Socket) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.sockets[sock]; !ok {
		return false
	}
	delete(r.sockets, sock)
	r.users[sock.User]--
	if r.users[sock.User] > 0 {
		return false
	}
	delete(r.users, sock.User)
	return true
}

// broadcast hands f to every socket and returns how many, and whether one
// of them shows another numbering than f's (see Socket.accept).
// The sockets that need it are added to fl, to flush once no lock is held.
func (r *localRoom) broadcast(f frame, fl *flushList) (n int, behind bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.deliverLocked(f, fl)
}

// deliverLocked is broadcast with r.mu held.
func (r *localRoom) deliverLocked(f frame, fl *flushList) (n int, behind bool) {
	for sock := range r.sockets {
		b, flush := sock.deliver(f)
		behind = behind || b
		fl.add(sock, flush)
		n++
	}
	return n, behind
}

// brokerFailed logs a broker call that failed where the hub can go on, and
// counts it.
func (h *Hub) brokerFailed(what, room string, err error) {
	h.obs.BrokerError()
	h.log.Warn(what, "room", room, "err", err)
}
