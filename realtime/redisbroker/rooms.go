package redisbroker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
)

// Private rooms (realtime.Rooms): a room's info, members and invitations
// live on its slot (keys.go), and each member's index of rooms on
// {!identity}'s. A membership starts with the index and ends with it (see
// memberRoomsKey), so the index holds at least every room its member
// belongs to, and RoomsOf checks each against the room's members.

var _ realtime.Rooms = (*Broker)(nil)

// CreateRoom implements realtime.Rooms: one run of createRoomScript, which
// refuses a room with a counter, a history or an info already. With an
// archive, a room whose keys expired but whose messages the archive keeps
// had messages too: it is refused before the script.
func (b *Broker) CreateRoom(ctx context.Context, room string, info realtime.RoomInfo) error {
	body, err := json.Marshal(info)
	if err != nil {
		return fmt.Errorf("encode info of room %q: %w", room, err)
	}
	if b.archive != nil {
		old, err := b.archive.Latest(ctx, room, 1)
		if err != nil {
			return fmt.Errorf("create room %q: %w", room, err)
		}
		if len(old) > 0 {
			return fmt.Errorf("create room %q: %w", room, realtime.ErrRoomTaken)
		}
	}
	if info.Creator != "" {
		// The index first: a crash after it leaves a room RoomsOf
		// filters out, never a membership it misses.
		if err := b.rdb.SAdd(ctx, memberRoomsKey(info.Creator), room).Err(); err != nil {
			return fmt.Errorf("create room %q: %w", room, err)
		}
	}
	keys := []string{seqKey(room), historyKey(room), roomInfoKey(room), roomMembersKey(room), roomInvitesKey(room), roomNamesKey(room)}
	made, err := createRoomScript.Run(ctx, b.rdb, keys, body, info.Creator).Int()
	if err != nil {
		b.stale()
		return fmt.Errorf("create room %q: %w", room, err)
	}
	if made == 1 {
		b.noInfo.forget(room)
		if err := b.saveRoom(ctx, room); err != nil {
			// Not kept beyond Redis: not made at all, or a Redis wipe
			// would make it public.
			b.rdb.Del(ctx, roomInfoKey(room), roomMembersKey(room))
			if info.Creator != "" {
				b.rdb.SRem(ctx, memberRoomsKey(info.Creator), room)
			}
			return fmt.Errorf("create room %q: %w", room, err)
		}
		return nil
	}
	if info.Creator != "" {
		if err := b.unindex(ctx, room, info.Creator); err != nil {
			return fmt.Errorf("create room %q: %w", room, err)
		}
	}
	return fmt.Errorf("create room %q: %w", room, realtime.ErrRoomTaken)
}

// unindex takes room out of member's index after a refused CreateRoom or
// AddMember, unless member belongs to it all the same (the creator asking
// twice).
func (b *Broker) unindex(ctx context.Context, room, member string) error {
	in, err := b.rdb.SIsMember(ctx, roomMembersKey(room), member).Result()
	if err != nil || in {
		return err
	}
	return b.rdb.SRem(ctx, memberRoomsKey(member), room).Err()
}

// RoomInfo implements realtime.Rooms: the zero RoomInfo for a room never
// created. A room whose info Redis lost comes back from the room archive
// (archivedInfo).
func (b *Broker) RoomInfo(ctx context.Context, room string) (realtime.RoomInfo, error) {
	raw, err := b.rdb.Get(ctx, roomInfoKey(room)).Bytes()
	if errors.Is(err, redis.Nil) {
		return b.archivedInfo(ctx, room)
	}
	if err != nil {
		return realtime.RoomInfo{}, fmt.Errorf("info of room %q: %w", room, err)
	}
	var info realtime.RoomInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return realtime.RoomInfo{}, fmt.Errorf("info of room %q: %w", room, err)
	}
	return info, nil
}

// IsMember implements realtime.Rooms.
func (b *Broker) IsMember(ctx context.Context, room, member string) (bool, error) {
	in, err := b.rdb.SIsMember(ctx, roomMembersKey(room), member).Result()
	if err != nil {
		return false, fmt.Errorf("membership of room %q: %w", room, err)
	}
	return in, nil
}

// AddMember implements realtime.Rooms: realtime.ErrNoRoom for a room never
// created. The member's index first, then addMemberScript on the room's
// slot.
func (b *Broker) AddMember(ctx context.Context, room, member string) error {
	if err := b.rdb.SAdd(ctx, memberRoomsKey(member), room).Err(); err != nil {
		return fmt.Errorf("add member to room %q: %w", room, err)
	}
	added, err := addMemberScript.Run(ctx, b.rdb, []string{roomInfoKey(room), roomMembersKey(room)}, member).Int()
	if err != nil {
		b.stale()
		return fmt.Errorf("add member to room %q: %w", room, err)
	}
	if added == 1 {
		return b.saveRoom(ctx, room)
	}
	if err := b.unindex(ctx, room, member); err != nil {
		return fmt.Errorf("add member to room %q: %w", room, err)
	}
	return fmt.Errorf("add member to room %q: %w", room, realtime.ErrNoRoom)
}

// RemoveMember implements realtime.Rooms: excludeScript ends the
// membership and publishes it (realtime.KindExcluded) in one step on the
// room's slot; then the member's index lets the room go.
func (b *Broker) RemoveMember(ctx context.Context, room, member string) error {
	body, err := encodeRecord(record{Type: realtime.KindExcluded, Author: member, Time: time.Now()})
	if err != nil {
		return fmt.Errorf("encode exclusion: %w", err)
	}
	err = excludeScript.Run(ctx, b.rdb, []string{roomMembersKey(room), channelName(room)}, b.publish, body, member).Err()
	if err != nil {
		b.stale()
		return fmt.Errorf("remove member from room %q: %w", room, err)
	}
	if err := b.rdb.SRem(ctx, memberRoomsKey(member), room).Err(); err != nil {
		return fmt.Errorf("remove member from room %q: %w", room, err)
	}
	if err := b.rdb.HDel(ctx, roomNamesKey(room), member).Err(); err != nil {
		return fmt.Errorf("remove member from room %q: %w", room, err)
	}
	return b.saveRoom(ctx, room)
}

// SetMemberName implements realtime.Rooms: setNameScript, on the room's
// slot, names members only.
func (b *Broker) SetMemberName(ctx context.Context, room, member, name string) error {
	err := setNameScript.Run(ctx, b.rdb, []string{roomMembersKey(room), roomNamesKey(room)}, member, name).Err()
	if err != nil {
		return fmt.Errorf("name a member of room %q: %w", room, err)
	}
	return nil
}

// RoomMemberNames implements realtime.Rooms.
func (b *Broker) RoomMemberNames(ctx context.Context, room string) (map[string]string, error) {
	names, err := b.rdb.HGetAll(ctx, roomNamesKey(room)).Result()
	if err != nil {
		return nil, fmt.Errorf("names of room %q's members: %w", room, err)
	}
	return names, nil
}

// RoomMembers implements realtime.Rooms: sorted.
func (b *Broker) RoomMembers(ctx context.Context, room string) ([]string, error) {
	members, err := b.rdb.SMembers(ctx, roomMembersKey(room)).Result()
	if err != nil {
		return nil, fmt.Errorf("members of room %q: %w", room, err)
	}
	slices.Sort(members)
	return members, nil
}

// RoomsOf implements realtime.Rooms: the rooms of member's index that
// still count member among their members (one pipeline; on a cluster,
// go-redis sends each check to its room's shard), sorted.
func (b *Broker) RoomsOf(ctx context.Context, member string) ([]string, error) {
	rooms, err := b.rdb.SMembers(ctx, memberRoomsKey(member)).Result()
	if err != nil {
		return nil, fmt.Errorf("rooms of member %q: %w", member, err)
	}
	if len(rooms) == 0 {
		return nil, nil
	}
	pipe := b.rdb.Pipeline()
	checks := make([]*redis.BoolCmd, len(rooms))
	for i, room := range rooms {
		checks[i] = pipe.SIsMember(ctx, roomMembersKey(room), member)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("rooms of member %q: %w", member, err)
	}
	var out []string
	for i, room := range rooms {
		if checks[i].Val() {
			out = append(out, room)
		}
	}
	slices.Sort(out)
	return out, nil
}

// AddInvite implements realtime.Rooms: one run of inviteScript;
// realtime.ErrNoRoom for a room never created.
func (b *Broker) AddInvite(ctx context.Context, room, id string, ttl time.Duration) error {
	now := time.Now()
	added, err := inviteScript.Run(ctx, b.rdb, []string{roomInfoKey(room), roomInvitesKey(room)},
		id, now.UnixMilli(), now.Add(ttl).UnixMilli(), maxInvitesPerRoom).Int()
	if err != nil {
		b.stale()
		return fmt.Errorf("invite to room %q: %w", room, err)
	}
	if added == 0 {
		return fmt.Errorf("invite to room %q: %w", room, realtime.ErrNoRoom)
	}
	return nil
}

// InviteOpen implements realtime.Rooms: the invitation's expiry is ahead.
func (b *Broker) InviteOpen(ctx context.Context, room, id string) (bool, error) {
	exp, err := b.rdb.ZScore(ctx, roomInvitesKey(room), id).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("invitation to room %q: %w", room, err)
	}
	return time.Now().UnixMilli() < int64(exp), nil
}

// RevokeInvites implements realtime.Rooms.
func (b *Broker) RevokeInvites(ctx context.Context, room string) error {
	if err := b.rdb.Del(ctx, roomInvitesKey(room)).Err(); err != nil {
		return fmt.Errorf("revoke invitations to room %q: %w", room, err)
	}
	return nil
}
