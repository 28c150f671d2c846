package firestorearchive

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chatrun/chat/realtime"
)

// roomDoc is a private room's info and members, as stored at rooms/{room}:
// the document the room's messages are a collection of.
type roomDoc struct {
	Visibility string   `firestore:"visibility"`
	Creator    string   `firestore:"creator,omitempty"`
	Members    []string `firestore:"members"`
	DM         bool     `firestore:"dm,omitempty"`
	DMMembers  []string `firestore:"dmMembers,omitempty"`
	DMNames    []string `firestore:"dmNames,omitempty"`
}

// SaveRoom implements realtime.RoomArchive: one Set of rooms/{room}.
func (a *Archive) SaveRoom(ctx context.Context, room string, info realtime.RoomInfo, members []string) error {
	if !ValidID(room) {
		return &RefusedError{Room: room, Err: errReservedID}
	}
	if members == nil {
		members = []string{}
	}
	d := roomDoc{Visibility: string(info.Visibility), Creator: info.Creator, Members: members}
	if info.DM {
		d.DM, d.DMMembers, d.DMNames = true, info.DMMembers[:], info.DMNames[:]
	}
	if _, err := a.client.Collection("rooms").Doc(room).Set(ctx, d); err != nil {
		return fmt.Errorf("save room %q: %w", room, err)
	}
	return nil
}

// LoadRoom implements realtime.RoomArchive.
func (a *Archive) LoadRoom(ctx context.Context, room string) (realtime.RoomInfo, []string, bool, error) {
	if !ValidID(room) {
		return realtime.RoomInfo{}, nil, false, nil
	}
	snap, err := a.client.Collection("rooms").Doc(room).Get(ctx)
	if status.Code(err) == codes.NotFound {
		return realtime.RoomInfo{}, nil, false, nil
	}
	if err != nil {
		return realtime.RoomInfo{}, nil, false, fmt.Errorf("load room %q: %w", room, err)
	}
	var d roomDoc
	if err := snap.DataTo(&d); err != nil {
		return realtime.RoomInfo{}, nil, false, fmt.Errorf("load room %q: %w", room, err)
	}
	if d.Visibility == "" {
		// A room document with no info: messages only, a public room.
		return realtime.RoomInfo{}, nil, false, nil
	}
	info := realtime.RoomInfo{Visibility: realtime.Visibility(d.Visibility), Creator: d.Creator, DM: d.DM}
	copy(info.DMMembers[:], d.DMMembers)
	copy(info.DMNames[:], d.DMNames)
	return info, d.Members, true, nil
}
