package realtime

import (
	"context"
	"maps"
	"slices"
	"time"
)

// maxInvitesPerRoom bounds the open invitations a room keeps; past it, the
// ones closest to expiring close first, as in Redis.
const maxInvitesPerRoom = 1000

// memoryPrivate is a created room (Rooms): its info, its members, and its
// open invitations (id -> expiry).
type memoryPrivate struct {
	info    RoomInfo
	members map[string]bool
	invites map[string]time.Time
	names   map[string]string // member -> the name they signed in with
}

// createdRoom returns room's record, nil when it was never created; it
// must be called with b.mu held.
func (b *MemoryBroker) createdRoom(room string) *memoryPrivate {
	return b.private[room]
}

// CreateRoom implements Rooms: refused when the room was created, or has
// had a message (its seq counts), all under the broker's lock.
func (b *MemoryBroker) CreateRoom(_ context.Context, room string, info RoomInfo) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if b.createdRoom(room) != nil || b.peek(room).seq > 0 {
		return ErrRoomTaken
	}
	if b.private == nil {
		b.private, b.roomsOf = make(map[string]*memoryPrivate), make(map[string]map[string]bool)
	}
	p := &memoryPrivate{info: info, members: make(map[string]bool), invites: make(map[string]time.Time)}
	b.private[room] = p
	if info.Creator != "" {
		b.join(room, p, info.Creator)
	}
	return nil
}

// join makes member a member of room; it must be called with b.mu held.
func (b *MemoryBroker) join(room string, p *memoryPrivate, member string) {
	p.members[member] = true
	if b.roomsOf[member] == nil {
		b.roomsOf[member] = make(map[string]bool)
	}
	b.roomsOf[member][room] = true
}

// RoomInfo implements Rooms.
func (b *MemoryBroker) RoomInfo(_ context.Context, room string) (RoomInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return RoomInfo{}, ErrClosed
	}
	if p := b.createdRoom(room); p != nil {
		return p.info, nil
	}
	return RoomInfo{}, nil
}

// IsMember implements Rooms.
func (b *MemoryBroker) IsMember(_ context.Context, room, member string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false, ErrClosed
	}
	p := b.createdRoom(room)
	return p != nil && p.members[member], nil
}

// AddMember implements Rooms: ErrNoRoom for a room never created.
func (b *MemoryBroker) AddMember(_ context.Context, room, member string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	p := b.createdRoom(room)
	if p == nil {
		return ErrNoRoom
	}
	b.join(room, p, member)
	return nil
}

// RemoveMember implements Rooms: the membership goes and the room's
// subscribers hear of it (KindExcluded), under one lock. A member who was
// not one is told of too: a repeated call changes nothing else.
func (b *MemoryBroker) RemoveMember(ctx context.Context, room, member string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if p := b.createdRoom(room); p != nil {
		delete(p.members, member)
		delete(p.names, member)
	}
	if rooms := b.roomsOf[member]; rooms != nil {
		delete(rooms, room)
		if len(rooms) == 0 {
			delete(b.roomsOf, member)
		}
	}
	return b.publish(ctx, Event{Room: room, Kind: KindExcluded, Message: Message{Author: member, Time: time.Now()}})
}

// RoomMembers implements Rooms: sorted.
func (b *MemoryBroker) RoomMembers(_ context.Context, room string) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	p := b.createdRoom(room)
	if p == nil {
		return nil, nil
	}
	return slices.Sorted(maps.Keys(p.members)), nil
}

// RoomsOf implements Rooms: sorted.
func (b *MemoryBroker) RoomsOf(_ context.Context, member string) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	return slices.Sorted(maps.Keys(b.roomsOf[member])), nil
}

// AddInvite implements Rooms: ErrNoRoom for a room never created. Expired
// invitations are forgotten here, and past maxInvitesPerRoom the ones
// closest to expiring.
func (b *MemoryBroker) AddInvite(_ context.Context, room, id string, ttl time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	p := b.createdRoom(room)
	if p == nil {
		return ErrNoRoom
	}
	now := time.Now()
	for k, exp := range p.invites {
		if !now.Before(exp) {
			delete(p.invites, k)
		}
	}
	p.invites[id] = now.Add(ttl)
	for len(p.invites) > maxInvitesPerRoom {
		soonest := ""
		for k, exp := range p.invites {
			if soonest == "" || exp.Before(p.invites[soonest]) {
				soonest = k
			}
		}
		delete(p.invites, soonest)
	}
	return nil
}

// InviteOpen implements Rooms.
func (b *MemoryBroker) InviteOpen(_ context.Context, room, id string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false, ErrClosed
	}
	p := b.createdRoom(room)
	if p == nil {
		return false, nil
	}
	exp, ok := p.invites[id]
	if ok && !time.Now().Before(exp) {
		delete(p.invites, id)
		return false, nil
	}
	return ok, nil
}

// RevokeInvites implements Rooms.
func (b *MemoryBroker) RevokeInvites(_ context.Context, room string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	if p := b.createdRoom(room); p != nil {
		clear(p.invites)
	}
	return nil
}

var _ Rooms = (*MemoryBroker)(nil)

// SetMemberName implements Rooms: a member's name, nothing for anyone else.
func (b *MemoryBroker) SetMemberName(_ context.Context, room, member, name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrClosed
	}
	p := b.createdRoom(room)
	if p == nil || !p.members[member] {
		return nil
	}
	if p.names == nil {
		p.names = make(map[string]string)
	}
	p.names[member] = name
	return nil
}

// RoomMemberNames implements Rooms.
func (b *MemoryBroker) RoomMemberNames(_ context.Context, room string) (map[string]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	out := make(map[string]string)
	if p := b.createdRoom(room); p != nil {
		maps.Copy(out, p.names)
	}
	return out, nil
}
