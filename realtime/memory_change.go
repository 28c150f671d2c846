package realtime

import (
	"cmp"
	"context"
	"slices"
	"time"
)

// Change implements Broker: the message in the room's memory, the guard
// and the event, under one lock.
func (b *MemoryBroker) Change(ctx context.Context, room string, c Change, guard string) (Message, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return Message{}, false, ErrClosed
	}
	r := b.room(room)
	if guard != "" {
		if seq, ok := r.guards[guard]; ok {
			return Message{Seq: seq}, true, nil
		}
	}
	i, found := slices.BinarySearchFunc(r.history, c.Seq, func(m Message, seq int64) int { return cmp.Compare(m.Seq, seq) })
	if !found {
		return Message{}, false, ErrNoMessage
	}
	m, err := c.Apply(r.history[i])
	if err != nil {
		return Message{}, false, err
	}
	r.history[i] = m
	if c.React == "" {
		requote(r.history[i+1:], m)
	}
	if guard != "" {
		r.guard(guard, m.Seq)
	}
	return m, false, b.publish(ctx, Event{Room: room, Kind: KindChanged, Message: m})
}

// guard remembers that guard's request made seq, forgetting the oldest
// past maxGuardsPerRoom.
func (r *memoryRoom) guard(guard string, seq int64) {
	r.guards[guard] = seq
	r.guardOrder = append(r.guardOrder, guard)
	if len(r.guardOrder) > maxGuardsPerRoom {
		delete(r.guards, r.guardOrder[0])
		r.guardOrder = r.guardOrder[1:]
	}
}

// Remove implements Removals.
func (b *MemoryBroker) Remove(ctx context.Context, room, session, name string, until time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	r := b.room(room)
	if r.removed == nil {
		r.removed = make(map[string]time.Time)
	}
	r.removed[session] = until
	return b.publish(ctx, Event{Room: room, Kind: KindRemoved, Message: Message{Name: name, Author: session, Time: time.Now()}})
}

// Removed implements Removals.
func (b *MemoryBroker) Removed(_ context.Context, room, session string) (time.Time, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return time.Time{}, false, ErrClosed
	}
	r := b.peek(room)
	until, ok := r.removed[session]
	if !ok {
		return time.Time{}, false, nil
	}
	if !until.IsZero() && !time.Now().Before(until) {
		delete(r.removed, session)
		return time.Time{}, false, nil
	}
	return until, true, nil
}

// NameOwner implements NameBook.
func (b *MemoryBroker) NameOwner(_ context.Context, name string) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return "", ErrClosed
	}
	for _, k := range NameKeys(name) {
		if holder, ok := b.nameHolder[k]; ok {
			return holder, nil
		}
	}
	return "", nil
}
