package firestorearchive_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/realtime/firestorearchive"
)

// A private room's info and members are saved at rooms/{room} and read
// back, replaced whole; a room never saved, or one with messages only, is
// not found.
func TestArchiveKeepsPrivateRooms(t *testing.T) {
	c, _ := client(t)
	a := firestorearchive.New(c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info := realtime.RoomInfo{Visibility: realtime.Private, Creator: "m-ann"}
	if err := a.SaveRoom(ctx, "secret", info, []string{"m-ann", "m-bob"}); err != nil {
		t.Fatal(err)
	}
	if err := a.SaveRoom(ctx, "secret", info, []string{"m-ann"}); err != nil {
		t.Fatal(err)
	}
	got, members, found, err := a.LoadRoom(ctx, "secret")
	if err != nil || !found || got != info || !slices.Equal(members, []string{"m-ann"}) {
		t.Fatalf("LoadRoom = %+v %v %v %v", got, members, found, err)
	}
	if err := a.Store(ctx, "public", messages(1, 2)); err != nil {
		t.Fatal(err)
	}
	for _, room := range []string{"never", "public"} {
		if _, _, found, err := a.LoadRoom(ctx, room); err != nil || found {
			t.Fatalf("LoadRoom(%s): found %v, %v", room, found, err)
		}
	}
}
