package realtime

import (
	"context"
	"errors"
	"time"
)

// Visibility says who may find and enter a room.
type Visibility string

const (
	// Public rooms are open to anyone signed in, and listed in the
	// directory. Every room is public unless it was created otherwise.
	Public Visibility = ""
	// Private rooms are open to their members alone (verified
	// identities); to anyone else they do not exist.
	Private Visibility = "private"
	// Unlisted rooms are open to anyone who has the link, and never
	// listed: without verified identities, the nearest to private.
	Unlisted Visibility = "unlisted"
)

// RoomInfo is what a room is beyond its messages, fixed when it is created.
type RoomInfo struct {
	Visibility Visibility `json:"visibility,omitempty"`
	// Creator is the member id of whoever created a private room: they
	// may remove members and revoke invitations.
	Creator string `json:"creator,omitempty"`
	// DM says that the room is the direct messages of exactly two people
	// (one, for a person's notes to themselves): nobody is invited into
	// it. DMMembers are their member ids and DMNames their names, in one
	// order; each sees it named by the other.
	DM        bool      `json:"dm,omitempty"`
	DMMembers [2]string `json:"dmMembers,omitzero"`
	DMNames   [2]string `json:"dmNames,omitzero"`
}

// DMName is what member sees a direct-message room called: the other
// person's name, or their own for their notes.
func (i RoomInfo) DMName(member string) string {
	if i.DMMembers[0] == member {
		return i.DMNames[1]
	}
	return i.DMNames[0]
}

// ErrUncertain says that a room's visibility cannot be told now: Redis
// lost it and the archive does not answer. The room is taken as public
// meanwhile, and nothing remembers that answer.
var ErrUncertain = errors.New("realtime: the room's visibility cannot be told now")

// ErrRoomTaken says that a room of that name exists already: it has
// messages, or it was created.
var ErrRoomTaken = errors.New("realtime: the room exists")

// ErrNoRoom says that a room was never created (Rooms.CreateRoom): it has
// no members to add to and takes no invitations.
var ErrNoRoom = errors.New("realtime: the room was never created")

// Rooms keeps which rooms are private and who their members are, on every
// instance. A member is a verified identity's member id (its sessions'
// shared id). A broker that has private rooms implements it; the hub asks
// for it (a broker without it has public rooms only).
type Rooms interface {
	// CreateRoom makes room with info, its creator its first member,
	// unless a room of that name exists (ErrRoomTaken): it has messages
	// or was created. Two creations at once, on any instances: one wins.
	CreateRoom(ctx context.Context, room string, info RoomInfo) error
	// RoomInfo returns room's info; the zero RoomInfo (public) for a room
	// never created.
	RoomInfo(ctx context.Context, room string) (RoomInfo, error)
	// IsMember reports whether member belongs to the private room.
	IsMember(ctx context.Context, room, member string) (bool, error)
	// AddMember makes member a member of the private room.
	AddMember(ctx context.Context, room, member string) error
	// RemoveMember ends member's membership and tells every instance
	// (KindExcluded, the member id in Message.Author), so that each closes
	// their sockets in the room.
	RemoveMember(ctx context.Context, room, member string) error
	// RoomMembers returns the member ids of the private room.
	RoomMembers(ctx context.Context, room string) ([]string, error)
	// SetMemberName records the name member signed in to the room with,
	// for the list of members its creator sees; RoomMemberNames returns
	// them by member id (members who never signed in there have none).
	// RemoveMember forgets a member's name.
	SetMemberName(ctx context.Context, room, member, name string) error
	RoomMemberNames(ctx context.Context, room string) (map[string]string, error)
	// RoomsOf returns the private rooms member belongs to.
	RoomsOf(ctx context.Context, member string) ([]string, error)
	// AddInvite keeps invitation id to room open for ttl.
	AddInvite(ctx context.Context, room, id string, ttl time.Duration) error
	// InviteOpen reports whether invitation id to room is open: made,
	// not expired, not revoked.
	InviteOpen(ctx context.Context, room, id string) (bool, error)
	// RevokeInvites closes every open invitation to room.
	RevokeInvites(ctx context.Context, room string) error
}

// RoomArchive keeps private rooms' info and members beyond the broker's
// store: an Archive that has it lets the broker bring a private room back
// as private after Redis lost its data, so that its archived messages are
// never shown to strangers.
type RoomArchive interface {
	// SaveRoom writes room's info and its members, replacing what was.
	SaveRoom(ctx context.Context, room string, info RoomInfo, members []string) error
	// LoadRoom reads them; found is false for a room never saved.
	LoadRoom(ctx context.Context, room string) (info RoomInfo, members []string, found bool, err error)
}
