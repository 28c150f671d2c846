package redisbroker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
)

// Private rooms beyond Redis: with an archive that keeps rooms
// (realtime.RoomArchive, Firestore), every creation and change of members
// is written there too, and a room whose info Redis lost (a restart
// without persistence, FLUSHALL) is brought back from it at its next use,
// private as it was. Without that, a wiped private room would come back
// public, its archived history open to anyone.

// failedRoomInfo is noInfo's entry for the room archive's last failure
// (no room's name has this form), remembered for roomInfoFailureMemory.
const (
	failedRoomInfo        = "!failed"
	roomInfoFailureMemory = 5 * time.Second
)

// roomArchive is the archive's keeping of rooms; nil without one.
func (b *Broker) roomArchive() realtime.RoomArchive {
	ra, _ := b.archive.(realtime.RoomArchive)
	return ra
}

// saveRoom writes room's info and members, as Redis has them now, to the
// room archive.
func (b *Broker) saveRoom(ctx context.Context, room string) error {
	ra := b.roomArchive()
	if ra == nil {
		return nil
	}
	info, err := b.storedInfo(ctx, room)
	if err != nil {
		return err
	}
	members, err := b.RoomMembers(ctx, room)
	if err != nil {
		return err
	}
	// The caller's deadline: a creation must be kept, however slowly.
	if err := ra.SaveRoom(ctx, room, info, members); err != nil {
		return fmt.Errorf("archive room %q's members: %w", room, err)
	}
	return nil
}

// storedInfo is room's info as Redis holds it; zero when it holds none.
func (b *Broker) storedInfo(ctx context.Context, room string) (realtime.RoomInfo, error) {
	raw, err := b.rdb.Get(ctx, roomInfoKey(room)).Bytes()
	if errors.Is(err, redis.Nil) {
		return realtime.RoomInfo{}, nil
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

// archivedInfo is the info of a room Redis holds none of: public when Redis
// holds its messages (a room's info goes only with its messages), else as
// the room archive has it, brought back into Redis when private. A room
// the archive has no info of is remembered so for a minute. The archive
// is asked within the caller's deadline, not restoreWait: a private room
// must not pass for public because the archive was slow to answer.
func (b *Broker) archivedInfo(ctx context.Context, room string) (realtime.RoomInfo, error) {
	ra := b.roomArchive()
	if ra == nil || b.noInfo.known(room, time.Now()) {
		return realtime.RoomInfo{}, nil
	}
	n, err := b.rdb.Exists(ctx, seqKey(room), historyKey(room)).Result()
	if err != nil {
		return realtime.RoomInfo{}, fmt.Errorf("info of room %q: %w", room, err)
	}
	if n > 0 {
		return realtime.RoomInfo{}, nil
	}
	if b.noInfo.known(failedRoomInfo, time.Now()) {
		return realtime.RoomInfo{}, fmt.Errorf("info of room %q: %w (the archive failed lately)", room, realtime.ErrUncertain)
	}
	info, members, found, err := ra.LoadRoom(ctx, room)
	if err != nil {
		// Remembered a while, so that an archive down costs pages no
		// wait each.
		b.noInfo.noteFor(failedRoomInfo, time.Now(), roomInfoFailureMemory)
		return realtime.RoomInfo{}, fmt.Errorf("info of room %q from the archive: %w: %w", room, realtime.ErrUncertain, err)
	}
	if !found {
		b.noInfo.note(room, time.Now())
		return realtime.RoomInfo{}, nil
	}
	body, err := json.Marshal(info)
	if err != nil {
		return realtime.RoomInfo{}, fmt.Errorf("encode info of room %q: %w", room, err)
	}
	// Indexes first, as AddMember does: an extra entry is harmless.
	for _, m := range members {
		if err := b.rdb.SAdd(ctx, memberRoomsKey(m), room).Err(); err != nil {
			return realtime.RoomInfo{}, fmt.Errorf("restore room %q: %w", room, err)
		}
	}
	args := append([]any{body}, anySlice(members)...)
	if err := restoreRoomScript.Run(ctx, b.rdb, []string{roomInfoKey(room), roomMembersKey(room)}, args...).Err(); err != nil {
		return realtime.RoomInfo{}, fmt.Errorf("restore room %q: %w", room, err)
	}
	// Another instance may have restored it first: what Redis holds wins.
	return b.storedInfo(ctx, room)
}

func anySlice(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
