package brokertest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/testkit"
)

// privateRooms: a room is created once, and never over one that had a
// message; its info, members, the members' rooms and its invitations are
// the same on every instance; a member removed is told to every instance
// in the room (KindExcluded); an invitation closes at its time or when
// revoked; of two creations of one name at once, one wins.
func privateRooms(t *testing.T, f Factory) {
	ctx := Context(t)
	b := f.Make(t, 100)
	other := b
	if f.Shared {
		other = f.Make(t, 100)
	}
	rb, ok := b.(realtime.Rooms)
	if !ok {
		t.Fatalf("the %s broker does not implement realtime.Rooms", f.Name)
	}
	ro := other.(realtime.Rooms)
	// Both instances answer alike.
	both := []realtime.Rooms{rb, ro}

	room, used, never := testkit.Room(), testkit.Room(), testkit.Room()
	info := realtime.RoomInfo{Visibility: realtime.Private, Creator: "m-ann"}
	if err := rb.CreateRoom(ctx, room, info); err != nil {
		t.Fatalf("CreateRoom: %v", err)
	}
	if err := ro.CreateRoom(ctx, room, realtime.RoomInfo{Visibility: realtime.Private, Creator: "m-eve"}); !errors.Is(err, realtime.ErrRoomTaken) {
		t.Fatalf("a second CreateRoom: %v, want ErrRoomTaken", err)
	}
	send(t, ctx, b, used, "ann", "a public room", "")
	if err := ro.CreateRoom(ctx, used, info); !errors.Is(err, realtime.ErrRoomTaken) {
		t.Fatalf("CreateRoom of a room with a message: %v, want ErrRoomTaken", err)
	}
	for _, r := range both {
		if got, err := r.RoomInfo(ctx, never); err != nil || got != (realtime.RoomInfo{}) {
			t.Fatalf("RoomInfo of a room never created = %+v %v, want the zero info", got, err)
		}
		if got, err := r.RoomInfo(ctx, used); err != nil || got != (realtime.RoomInfo{}) {
			t.Fatalf("RoomInfo of a room refused = %+v %v, want the zero info", got, err)
		}
		if got, err := r.RoomInfo(ctx, room); err != nil || got != info {
			t.Fatalf("RoomInfo = %+v %v, want %+v (the first creation's)", got, err, info)
		}
		isMember(t, r, room, "m-ann", true)
		isMember(t, r, room, "m-bob", false)
		isMember(t, r, room, "m-eve", false)
	}
	if err := rb.AddMember(ctx, never, "m-bob"); !errors.Is(err, realtime.ErrNoRoom) {
		t.Fatalf("AddMember to a room never created: %v, want ErrNoRoom", err)
	}
	if err := rb.AddInvite(ctx, never, "inv-x", time.Hour); !errors.Is(err, realtime.ErrNoRoom) {
		t.Fatalf("AddInvite to a room never created: %v, want ErrNoRoom", err)
	}

	if err := rb.AddMember(ctx, room, "m-bob"); err != nil {
		t.Fatalf("AddMember: %v", err)
	}
	for _, r := range both {
		isMember(t, r, room, "m-bob", true)
		if got, err := r.RoomMembers(ctx, room); err != nil || !slices.Equal(got, []string{"m-ann", "m-bob"}) {
			t.Fatalf("RoomMembers = %v %v, want [m-ann m-bob]", got, err)
		}
		for _, m := range []string{"m-ann", "m-bob"} {
			if !roomsOf(t, r, m, room) {
				t.Fatalf("RoomsOf(%s) lacks %s", m, room)
			}
		}
		if roomsOf(t, r, "m-eve", room) {
			t.Fatalf("RoomsOf(m-eve), whose creation was refused, has %s", room)
		}
		if got, err := r.RoomMembers(ctx, never); err != nil || len(got) != 0 {
			t.Fatalf("RoomMembers of a room never created = %v %v", got, err)
		}
	}

	// Members' names, as they signed in: for members only.
	for member, name := range map[string]string{"m-ann": "Ann", "m-bob": "Bob", "m-eve": "Eve"} {
		if err := rb.SetMemberName(ctx, room, member, name); err != nil {
			t.Fatalf("SetMemberName(%s): %v", member, err)
		}
	}
	for _, r := range both {
		if got, err := r.RoomMemberNames(ctx, room); err != nil || len(got) != 2 || got["m-ann"] != "Ann" || got["m-bob"] != "Bob" {
			t.Fatalf("RoomMemberNames = %v %v, want Ann and Bob (Eve is no member)", got, err)
		}
	}

	if err := other.Subscribe(ctx, room); err != nil {
		t.Fatal(err)
	}
	if err := rb.RemoveMember(ctx, room, "m-bob"); err != nil {
		t.Fatalf("RemoveMember: %v", err)
	}
	if ev := nextEvent(t, ctx, other); ev.Kind != realtime.KindExcluded || ev.Room != room || ev.Message.Author != "m-bob" {
		t.Fatalf("exclusion event = %+v, want KindExcluded of m-bob in %s", ev, room)
	}
	for _, r := range both {
		isMember(t, r, room, "m-bob", false)
		if roomsOf(t, r, "m-bob", room) {
			t.Fatalf("RoomsOf(m-bob) still has %s", room)
		}
		if got, err := r.RoomMembers(ctx, room); err != nil || !slices.Equal(got, []string{"m-ann"}) {
			t.Fatalf("RoomMembers after the removal = %v %v, want [m-ann]", got, err)
		}
		if got, err := r.RoomMemberNames(ctx, room); err != nil || len(got) != 1 || got["m-ann"] != "Ann" {
			t.Fatalf("RoomMemberNames after the removal = %v %v, want Ann's alone", got, err)
		}
	}

	// Invitations.
	id1, id2 := "inv-long-"+room, "inv-brief-"+room
	if err := rb.AddInvite(ctx, room, id1, time.Hour); err != nil {
		t.Fatalf("AddInvite: %v", err)
	}
	for _, r := range both {
		inviteOpen(t, r, room, id1, true)
		inviteOpen(t, r, room, "inv-unknown", false)
		inviteOpen(t, r, never, id1, false)
	}
	if err := rb.AddInvite(ctx, room, id2, 300*time.Millisecond); err != nil {
		t.Fatalf("AddInvite: %v", err)
	}
	testkit.WaitFor(t, ctx, "an invitation to close at its time", func() bool {
		open, err := ro.InviteOpen(ctx, room, id2)
		return err == nil && !open
	})
	inviteOpen(t, ro, room, id1, true)
	if err := ro.RevokeInvites(ctx, room); err != nil {
		t.Fatalf("RevokeInvites: %v", err)
	}
	for _, r := range both {
		inviteOpen(t, r, room, id1, false)
	}

	// Two creations of one name at once, on two instances when shared.
	race := testkit.Room()
	brokers := []realtime.Rooms{rb, ro}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() {
			errs[i] = brokers[i].CreateRoom(ctx, race, realtime.RoomInfo{Visibility: realtime.Private, Creator: []string{"m-cy", "m-dee"}[i]})
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won == -1:
			won = i
		case err == nil:
			t.Fatal("both creations of one room succeeded")
		case !errors.Is(err, realtime.ErrRoomTaken):
			t.Fatalf("creation %d: %v, want nil or ErrRoomTaken", i, err)
		}
	}
	if won == -1 {
		t.Fatalf("neither creation succeeded: %v", errs)
	}
	winner, loser := []string{"m-cy", "m-dee"}[won], []string{"m-dee", "m-cy"}[won]
	if got, err := ro.RoomInfo(ctx, race); err != nil || got.Creator != winner {
		t.Fatalf("RoomInfo of the raced room = %+v %v, want %s's", got, err, winner)
	}
	if got, err := rb.RoomMembers(ctx, race); err != nil || !slices.Equal(got, []string{winner}) {
		t.Fatalf("RoomMembers of the raced room = %v %v, want [%s]", got, err, winner)
	}
	if roomsOf(t, ro, loser, race) {
		t.Fatalf("RoomsOf(%s), who lost the race, has the room", loser)
	}
}

func isMember(t *testing.T, r realtime.Rooms, room, member string, want bool) {
	t.Helper()
	if in, err := r.IsMember(t.Context(), room, member); err != nil || in != want {
		t.Fatalf("IsMember(%s, %s) = %v %v, want %v", room, member, in, err, want)
	}
}

// roomsOf reports whether RoomsOf(member) has room.
func roomsOf(t *testing.T, r realtime.Rooms, member, room string) bool {
	t.Helper()
	rooms, err := r.RoomsOf(t.Context(), member)
	if err != nil {
		t.Fatalf("RoomsOf(%s): %v", member, err)
	}
	return slices.Contains(rooms, room)
}

func inviteOpen(t *testing.T, r realtime.Rooms, room, id string, want bool) {
	t.Helper()
	if open, err := r.InviteOpen(t.Context(), room, id); err != nil || open != want {
		t.Fatalf("InviteOpen(%s, %s) = %v %v, want %v", room, id, open, err, want)
	}
}
