package handlers

import (
	"context"
	"testing"

	"github.com/chatrun/chat/realtime/firestorearchive"
	"github.com/chatrun/chat/testkit"
)

// A room's name is its document id in the Firestore archive: a name
// Firestore refuses as an id (__.*__, which it reserves) is refused at the
// door, with a reason, so that no such room can ever reach the archive.
func TestRoomNamesAreValidFirestoreIDs(t *testing.T) {
	for _, in := range []string{"__x__", "__", "___", "____", "__Admin__", " __a-b__ ", "__x_y__"} {
		if room, bad := validateRoom(context.Background(), in); bad != "Room names cannot start and end with __." {
			t.Errorf("room %q: accepted as %q (%q), want refused: names cannot start and end with __", in, room, bad)
		}
	}
	for _, in := range []string{"_x_", "__x", "x__", "a__b__c", "_", "general", "x-__", "__-x"} {
		room, bad := validateRoom(context.Background(), in)
		if bad != "" {
			t.Errorf("room %q refused (%q), want it accepted", in, bad)
			continue
		}
		if !firestorearchive.ValidID(room) {
			t.Errorf("room %q accepted, but Firestore refuses it as a document id", room)
		}
	}
}

// Every room name the door lets in is a document id Firestore takes.
func FuzzRoomNamesAreValidFirestoreIDs(f *testing.F) {
	for _, s := range append(testkit.HostileStrings(), "__x__", "__", "_x_", "__x") {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if room, bad := validateRoom(context.Background(), in); bad == "" && !firestorearchive.ValidID(room) {
			t.Fatalf("accepted %q as room %q, which Firestore refuses as a document id", in, room)
		}
	})
}
