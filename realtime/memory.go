package realtime

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// maxGuardsPerRoom bounds the nonce guards the memory broker remembers per
// room; the oldest are forgotten first, as Redis expires them.
const maxGuardsPerRoom = 4096

// MemoryBroker is the single-instance broker: history and fan-out live in
// this process. It is what a newcomer gets with no Redis configured.
type MemoryBroker struct {
	*credentialBook               // its own lock: Credentials
	reading         memoryReading // its own lock: Reading (memory_reading.go)

	historySize int
	roomTTL     time.Duration
	events      chan Event

	mu    sync.Mutex
	rooms map[string]*memoryRoom
	subs  map[string]bool
	// The directory: when each room last had a message, and someone in it.
	messaged, occupied map[string]time.Time
	swept              time.Time // when forget last looked
	// Names bound to identities (NameBook): name key -> subject, and
	// subject -> its name. Kept for the broker's life, like Redis's.
	nameHolder, nameOf map[string]string
	// Private rooms (Rooms, memory_rooms.go): room -> what it is, and
	// member -> the rooms they belong to. Never forgotten with the room's
	// messages: a private room stays private, as in Redis.
	private map[string]*memoryPrivate
	roomsOf map[string]map[string]bool
	closed  bool
}

type memoryRoom struct {
	used       time.Time              // last written to
	present    map[User]time.Time     // user -> expiry
	claims     map[string]memoryClaim // name key -> who holds it
	seq        int64
	history    []Message
	guards     map[string]int64
	guardOrder []string
	removed    map[string]time.Time // session -> until (zero: for good)
}

// memoryScrollback is how many messages the memory broker keeps per room
// for scrollback, as its archive: memory is bounded.
const memoryScrollback = 1000

// keep is how many messages a room keeps: its hot window, or more for
// scrollback.
func (b *MemoryBroker) keep() int { return max(b.historySize, memoryScrollback) }

// Store implements Archive: what the memory broker stores it keeps already.
func (b *MemoryBroker) Store(context.Context, string, []Message) error { return nil }

// Before implements Archive over the messages memory keeps.
func (b *MemoryBroker) Before(_ context.Context, room string, before int64, limit int) ([]Message, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.peek(room).history
	end, _ := slices.BinarySearchFunc(h, before, func(m Message, seq int64) int { return cmp.Compare(m.Seq, seq) })
	start := max(0, end-limit)
	return slices.Clone(h[start:end]), start > 0, nil
}

// Latest implements Archive.
func (b *MemoryBroker) Latest(_ context.Context, room string, limit int) ([]Message, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.peek(room).history
	return slices.Clone(h[max(0, len(h)-limit):]), nil
}

// NewMemoryBroker returns a broker that keeps historySize messages per room
// as its hot window, and up to memoryScrollback for scrollback.
func NewMemoryBroker(historySize int, opts ...MemoryOption) *MemoryBroker {
	b := &MemoryBroker{
		historySize:    historySize,
		roomTTL:        DefaultRoomTTL,
		events:         make(chan Event, 1024),
		rooms:          make(map[string]*memoryRoom),
		subs:           make(map[string]bool),
		nameHolder:     make(map[string]string),
		nameOf:         make(map[string]string),
		credentialBook: newCredentialBook(),
	}
	for _, o := range opts {
		o(b)
	}
	return b
}

// MemoryOption changes how NewMemoryBroker sets up a broker.
type MemoryOption func(*MemoryBroker)

// WithMemoryRoomTTL replaces DefaultRoomTTL: a room untouched for that
// long is forgotten, as its Redis keys expire.
func WithMemoryRoomTTL(d time.Duration) MemoryOption {
	return func(b *MemoryBroker) { b.roomTTL = d }
}

// room returns the room for writing, made if need be, and marks it used;
// it must be called with b.mu held.
func (b *MemoryBroker) room(name string) *memoryRoom {
	now := time.Now()
	b.forget(now)
	r := b.rooms[name]
	if r == nil {
		r = &memoryRoom{guards: make(map[string]int64), present: make(map[User]time.Time), claims: make(map[string]memoryClaim)}
		b.rooms[name] = r
	}
	r.used = now
	return r
}

// forget drops the rooms untouched for roomTTL that nobody is in, at most
// once per sweep interval; it must be called with b.mu held.
func (b *MemoryBroker) forget(now time.Time) {
	if now.Sub(b.swept) < min(b.roomTTL, time.Minute) {
		return
	}
	b.swept = now
	for name, r := range b.rooms {
		if now.Sub(r.used) >= b.roomTTL && !b.subs[name] {
			delete(b.rooms, name)
		}
	}
}

// peek returns the room for reading, an empty one when it has none yet; it
// must be called with b.mu held.
func (b *MemoryBroker) peek(name string) *memoryRoom {
	if r := b.rooms[name]; r != nil {
		return r
	}
	return &memoryRoom{}
}

// Send implements Broker: the room's next seq, the history, the guard and
// the event, all under one lock.
func (b *MemoryBroker) Send(ctx context.Context, room string, m Message, guard string) (Message, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return Message{}, false, ErrClosed
	}
	r := b.room(room)
	if guard != "" {
		if seq, ok := r.guards[guard]; ok {
			m.Seq = seq
			return m, true, nil
		}
	}
	r.seq++
	m.Seq, m.First = r.seq, r.seq == 1
	r.history = append(r.history, m)
	if over := len(r.history) - b.keep(); over > 0 {
		r.history = append(r.history[:0:0], r.history[over:]...)
	}
	if guard != "" {
		r.guard(guard, m.Seq)
	}
	// Publishing under the lock keeps events in seq order.
	return m, false, b.publish(ctx, Event{Room: room, Kind: KindMessage, Message: m})
}

// Announce implements Broker.
func (b *MemoryBroker) Announce(ctx context.Context, room string, kind EventKind, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	return b.publish(ctx, Event{Room: room, Kind: kind, Message: Message{Name: name, Time: time.Now()}})
}

// publish must be called with b.mu held.
func (b *MemoryBroker) publish(ctx context.Context, ev Event) error {
	if !b.subs[ev.Room] {
		return nil
	}
	select {
	case b.events <- ev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// BindName implements NameBook.
func (b *MemoryBroker) BindName(_ context.Context, subject, name string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return "", ErrClosed
	}
	if mine, ok := b.nameOf[subject]; ok || name == "" {
		return mine, nil
	}
	keys := NameKeys(name)
	for _, k := range keys {
		if holder, ok := b.nameHolder[k]; ok && holder != subject {
			return "", ErrNameTaken
		}
	}
	for _, k := range keys {
		b.nameHolder[k] = subject
	}
	b.nameOf[subject] = name
	return name, nil
}

// memoryClaim is a session's hold on a name in a room, until exp.
type memoryClaim struct {
	session string
	exp     time.Time
}

// Claim implements Presence.
func (b *MemoryBroker) Claim(_ context.Context, room string, u User, ttl time.Duration) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false, ErrClosed
	}
	r := b.room(room)
	now := time.Now()
	keys := NameKeys(u.Name)
	for _, k := range keys {
		if c, ok := r.claims[k]; ok && c.session != u.Session && now.Before(c.exp) {
			return false, nil
		}
	}
	for _, k := range keys {
		r.claims[k] = memoryClaim{session: u.Session, exp: now.Add(ttl)}
	}
	return true, nil
}

// Present implements Presence; it renews the users' claims on their names.
func (b *MemoryBroker) Present(_ context.Context, room string, users []User, ttl time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	r := b.room(room)
	now := time.Now()
	exp := now.Add(ttl)
	for _, u := range users {
		r.present[u] = exp
		for _, k := range NameKeys(u.Name) {
			if c, ok := r.claims[k]; !ok || c.session == u.Session || now.After(c.exp) {
				r.claims[k] = memoryClaim{session: u.Session, exp: exp}
			}
		}
	}
	return nil
}

// Absent implements Presence. One instance holds every user here, so u's
// claim goes with it.
func (b *MemoryBroker) Absent(_ context.Context, room string, u User) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	r := b.room(room)
	delete(r.present, u)
	for _, k := range NameKeys(u.Name) {
		if r.claims[k].session == u.Session {
			delete(r.claims, k)
		}
	}
	return nil
}

// Touch implements Directory.
func (b *MemoryBroker) Touch(_ context.Context, room string, at time.Time, message bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.messaged == nil {
		b.messaged, b.occupied = map[string]time.Time{}, map[string]time.Time{}
	}
	if message {
		b.messaged[room] = at
	} else {
		b.occupied[room] = at
	}
	return nil
}

// Active implements Directory.
func (b *MemoryBroker) Active(_ context.Context, messages, present time.Time, limit int) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	seen := map[string]bool{}
	var out []string
	for _, set := range []struct {
		at    map[string]time.Time
		since time.Time
	}{{b.messaged, messages}, {b.occupied, present}} {
		var rooms []string
		for room, at := range set.at {
			if at.Before(set.since) {
				delete(set.at, room)
				continue
			}
			rooms = append(rooms, room)
		}
		slices.SortFunc(rooms, func(x, y string) int { return set.at[y].Compare(set.at[x]) })
		for _, room := range rooms[:min(len(rooms), limit)] {
			if !seen[room] {
				seen[room] = true
				out = append(out, room)
			}
		}
	}
	return out, nil
}

// Members implements Presence: the users whose presence has not expired.
func (b *MemoryBroker) Members(_ context.Context, room string) ([]User, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	r := b.peek(room)
	now := time.Now()
	users := make([]User, 0, len(r.present))
	for u, exp := range r.present {
		if now.After(exp) {
			delete(r.present, u)
			continue
		}
		users = append(users, u)
	}
	SortUsers(users)
	return users, nil
}

// History implements Broker.
func (b *MemoryBroker) History(_ context.Context, room string) ([]Message, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	h := b.peek(room).history
	return slices.Clone(h[max(0, len(h)-b.historySize):]), nil
}

// Subscribe implements Broker: the room's events go to Events from now on.
func (b *MemoryBroker) Subscribe(_ context.Context, room string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	b.subs[room] = true
	return nil
}

// Unsubscribe implements Broker.
func (b *MemoryBroker) Unsubscribe(_ context.Context, room string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.subs, room)
	return nil
}

// Events implements Broker.
func (b *MemoryBroker) Events() <-chan Event { return b.events }

// Ping implements Broker: memory answers until the broker is closed.
func (b *MemoryBroker) Ping(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	return nil
}

// Close implements Broker: Events is closed, and every later call fails
// with ErrClosed.
func (b *MemoryBroker) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.events)
	}
	return nil
}
