package realtime

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrNoPrivateRooms says that the broker keeps no private rooms.
var ErrNoPrivateRooms = errors.New("realtime: this broker has no private rooms")

// maxKnownRooms bounds the rooms an instance remembers the visibility of;
// past it, it starts over.
const maxKnownRooms = 10000

// knownRooms remembers, per instance, the rooms whose visibility can no
// longer change: a private room stays private, and a public room that has
// messages can never be made private. So the send path of a public room
// costs no round trip to learn it. mu guards rooms and is never held
// across I/O.
type knownRooms struct {
	mu    sync.Mutex
	rooms map[string]RoomInfo
}

func (k *knownRooms) get(room string) (RoomInfo, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	info, ok := k.rooms[room]
	return info, ok
}

func (k *knownRooms) set(room string, info RoomInfo) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.rooms == nil || len(k.rooms) >= maxKnownRooms {
		k.rooms = make(map[string]RoomInfo)
	}
	k.rooms[room] = info
}

// store is the broker's Rooms, or nil when it keeps no private rooms.
func (h *Hub) store() Rooms {
	r, _ := h.broker.(Rooms)
	return r
}

// roomInfo returns room's info, from memory when it cannot change.
func (h *Hub) roomInfo(ctx context.Context, room string) (RoomInfo, error) {
	if info, ok := h.known.get(room); ok {
		return info, nil
	}
	st := h.store()
	if st == nil {
		return RoomInfo{}, nil
	}
	info, err := st.RoomInfo(ctx, room)
	if errors.Is(err, ErrUncertain) {
		// Sending goes on while the archive is down; the room is asked
		// again next time.
		h.log.Warn("room visibility uncertain: taken as public", "room", room, "err", err)
		return RoomInfo{}, nil
	}
	if err != nil {
		return RoomInfo{}, err
	}
	if info.Visibility != Public {
		h.known.set(room, info)
	}
	return info, nil
}

// hasMessages notes that room has messages: if it is public, it stays so.
func (h *Hub) hasMessages(ctx context.Context, room string) {
	st := h.store()
	if _, ok := h.known.get(room); ok || st == nil {
		return
	}
	// Asked of the store itself: an uncertain answer is not remembered.
	if info, err := st.RoomInfo(ctx, room); err == nil && info.Visibility == Public {
		h.known.set(room, info)
	}
}

// Access reports whether member (a verified identity's member id; "" for
// none) may enter room, and what the room is: anyone may enter a public
// room, only its members a private one. A public room with messages is
// answered from memory.
func (h *Hub) Access(ctx context.Context, room, member string) (RoomInfo, bool, error) {
	if err := checkRoom(room); err != nil {
		return RoomInfo{}, false, err
	}
	info, err := h.roomInfo(ctx, room)
	if err != nil || info.Visibility != Private {
		return info, err == nil, err
	}
	if member == "" {
		return info, false, nil
	}
	in, err := h.store().IsMember(ctx, room, member)
	return info, in, err
}

// CreateRoom makes room as info says (private, of info.Creator's, its
// first member; or unlisted), unless a room of that name exists
// (ErrRoomTaken).
func (h *Hub) CreateRoom(ctx context.Context, room string, info RoomInfo) error {
	if err := checkRoom(room); err != nil {
		return err
	}
	st := h.store()
	if st == nil {
		return ErrNoPrivateRooms
	}
	if err := st.CreateRoom(ctx, room, info); err != nil {
		return err
	}
	h.known.set(room, info)
	return nil
}

// AddMember makes member a member of the private room.
func (h *Hub) AddMember(ctx context.Context, room, member string) error {
	st, err := h.privateStore(room)
	if err != nil {
		return err
	}
	return st.AddMember(ctx, room, member)
}

// RemoveMember ends member's membership of the private room; every
// instance closes their sockets there (WithExcluded).
func (h *Hub) RemoveMember(ctx context.Context, room, member string) error {
	st, err := h.privateStore(room)
	if err != nil {
		return err
	}
	return st.RemoveMember(ctx, room, member)
}

// RoomMembers returns the member ids of the private room.
func (h *Hub) RoomMembers(ctx context.Context, room string) ([]string, error) {
	st, err := h.privateStore(room)
	if err != nil {
		return nil, err
	}
	return st.RoomMembers(ctx, room)
}

// SetMemberName records the name member signed in to the private room
// with, for its creator's list of members.
func (h *Hub) SetMemberName(ctx context.Context, room, member, name string) error {
	st, err := h.privateStore(room)
	if err != nil {
		return err
	}
	return st.SetMemberName(ctx, room, member, name)
}

// RoomMemberNames returns the names of the private room's members who
// signed in to it, by member id.
func (h *Hub) RoomMemberNames(ctx context.Context, room string) (map[string]string, error) {
	st, err := h.privateStore(room)
	if err != nil {
		return nil, err
	}
	return st.RoomMemberNames(ctx, room)
}

// RoomsOf returns the private rooms member belongs to; none without
// private rooms.
func (h *Hub) RoomsOf(ctx context.Context, member string) ([]string, error) {
	st := h.store()
	if st == nil {
		return nil, nil
	}
	return st.RoomsOf(ctx, member)
}

// AddInvite keeps invitation id to the private room open for ttl.
func (h *Hub) AddInvite(ctx context.Context, room, id string, ttl time.Duration) error {
	st, err := h.privateStore(room)
	if err != nil {
		return err
	}
	return st.AddInvite(ctx, room, id, ttl)
}

// InviteOpen reports whether invitation id to the room is open.
func (h *Hub) InviteOpen(ctx context.Context, room, id string) (bool, error) {
	st, err := h.privateStore(room)
	if err != nil {
		return false, err
	}
	return st.InviteOpen(ctx, room, id)
}

// RevokeInvites closes every open invitation to the private room.
func (h *Hub) RevokeInvites(ctx context.Context, room string) error {
	st, err := h.privateStore(room)
	if err != nil {
		return err
	}
	return st.RevokeInvites(ctx, room)
}

// privateStore is the broker's Rooms for a call about room.
func (h *Hub) privateStore(room string) (Rooms, error) {
	if err := checkRoom(room); err != nil {
		return nil, err
	}
	st := h.store()
	if st == nil {
		return nil, ErrNoPrivateRooms
	}
	return st, nil
}

// WithExcluded has f told of every member removed from a private room
// that has sockets here: the room and the member id, so that it closes
// that member's sockets in the room. f is called from the hub's event
// loop and must not block.
func WithExcluded(f func(room, member string)) HubOption {
	return func(h *Hub) { h.excluded = f }
}
