package realtime

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// memoryReading is the memory broker's Reading, under its own lock, taken
// after the broker's is let go (the room's newest seq is read first).
type memoryReading struct {
	mu sync.Mutex
	// rooms is room -> person -> where they stand; active is when each
	// room last had a message (Arrived).
	rooms  map[string]map[string]*memoryReader
	active map[string]time.Time
	// of is person -> room -> when they last read or set it.
	of map[string]map[string]time.Time
}

// memoryReader is one person in one room.
type memoryReader struct {
	name     string
	read     int64
	mentions []int64 // seqs after read that mention them, ascending
	level    Level
	focus    time.Time // until when a page of theirs is focused here
}

// reader returns person's record in room, made and listed if need be; it
// must be called with r.mu held.
func (r *memoryReading) reader(room, person string, now time.Time) *memoryReader {
	if r.rooms == nil {
		r.rooms, r.active, r.of = make(map[string]map[string]*memoryReader), make(map[string]time.Time), make(map[string]map[string]time.Time)
	}
	if r.rooms[room] == nil {
		r.rooms[room] = make(map[string]*memoryReader)
	}
	p := r.rooms[room][person]
	if p == nil {
		p = &memoryReader{}
		r.rooms[room][person] = p
	}
	if r.of[person] == nil {
		r.of[person] = make(map[string]time.Time)
	}
	r.of[person][room] = now
	if len(r.of[person]) > MaxReadingRooms {
		oldest := ""
		for rm, at := range r.of[person] {
			if oldest == "" || at.Before(r.of[person][oldest]) {
				oldest = rm
			}
		}
		delete(r.of[person], oldest)
		delete(r.rooms[oldest], person)
	}
	return p
}

// newest is room's newest seq.
func (b *MemoryBroker) newest(room string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.peek(room).seq
}

// MarkRead implements Reading.
func (b *MemoryBroker) MarkRead(_ context.Context, room, person, name string, seq int64) error {
	seq = min(seq, b.newest(room))
	r := &b.reading
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.reader(room, person, time.Now())
	if name != "" {
		p.name = name
	}
	p.read = max(p.read, seq)
	p.mentions = slices.DeleteFunc(p.mentions, func(s int64) bool { return s <= p.read })
	return nil
}

// ReadingOf implements Reading.
func (b *MemoryBroker) ReadingOf(_ context.Context, person string) ([]RoomReading, error) {
	r := &b.reading
	r.mu.Lock()
	var out []RoomReading
	for room, at := range r.of[person] {
		p := r.rooms[room][person]
		rr := RoomReading{Room: room, Read: p.read, Level: cmp.Or(p.level, LevelMentions), Active: at}
		for _, s := range p.mentions {
			if s > p.read {
				rr.Mentions++
			}
		}
		if a, ok := r.active[room]; ok {
			rr.Active = a
		}
		out = append(out, rr)
	}
	r.mu.Unlock()
	for i := range out {
		out[i].Newest = b.newest(out[i].Room)
		out[i].Unread = int(max(0, out[i].Newest-out[i].Read))
		out[i].Mentions = min(out[i].Mentions, out[i].Unread)
	}
	SortReading(out)
	return out, nil
}

// SortReading orders rooms as ReadingOf returns them: most recent activity
// first, then by name.
func SortReading(rooms []RoomReading) {
	slices.SortFunc(rooms, func(a, b RoomReading) int {
		return cmp.Or(b.Active.Compare(a.Active), cmp.Compare(a.Room, b.Room))
	})
}

// SetLevel implements Reading.
func (b *MemoryBroker) SetLevel(_ context.Context, room, person string, level Level) error {
	r := &b.reading
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reader(room, person, time.Now()).level = level
	return nil
}

// Focus implements Reading.
func (b *MemoryBroker) Focus(_ context.Context, room, person string, ttl time.Duration) error {
	r := &b.reading
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rooms[room][person] == nil {
		return nil // never been in the room: nobody to spare a push
	}
	r.rooms[room][person].focus = time.Now().Add(ttl)
	return nil
}

// SendCounted implements Broker: Send, then Arrived for a message stored.
func (b *MemoryBroker) SendCounted(ctx context.Context, room string, m Message, guard, sender string) (Message, bool, []string, error) {
	m, dup, err := b.Send(ctx, room, m, guard)
	if err != nil || dup {
		return m, dup, nil, err
	}
	notify, err := b.Arrived(ctx, room, m, sender)
	return m, false, notify, err
}

// Arrived implements Reading.
func (b *MemoryBroker) Arrived(_ context.Context, room string, m Message, sender string) ([]string, error) {
	r := &b.reading
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rooms == nil {
		return nil, nil
	}
	now := time.Now()
	at := cmp.Or(m.Time, now)
	if at.After(r.active[room]) {
		r.active[room] = at
	}
	if p := r.rooms[room][sender]; p != nil && m.Seq > p.read {
		p.read = m.Seq
	}
	var notify []string
	for person, p := range r.rooms[room] {
		mentioned, tell := WhomToTell(m, person, sender, p.name, p.level, p.focus.After(now))
		if mentioned && m.Seq > p.read && !slices.Contains(p.mentions, m.Seq) && len(p.mentions) < maxMentionsKept {
			p.mentions = append(p.mentions, m.Seq)
			slices.Sort(p.mentions)
		}
		if tell {
			notify = append(notify, person)
		}
	}
	slices.Sort(notify)
	return notify, nil
}
