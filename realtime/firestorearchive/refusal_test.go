package firestorearchive_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/realtime/firestorearchive"
	"github.com/chatrun/chat/testkit/firestoretest"
)

// Firestore refuses a write for what it is (a reserved id, a document too
// large) as a RefusedError, which is about that room alone; an unavailable
// Firestore is not a refusal, so that the archivers wait for it instead of
// setting rooms aside.
func TestStoreTellsARefusalFromAnOutage(t *testing.T) {
	emu := firestoretest.Start(t)
	t.Setenv("FIRESTORE_EMULATOR_HOST", emu.Host)
	c, err := firestore.NewClient(context.Background(), firestoretest.Project())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	a := firestorearchive.New(c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// What the door now keeps out: Firestore itself refuses the id.
	_, err = c.Collection("rooms").Doc("__x__").Collection("messages").Doc("000000000001").Set(ctx, map[string]any{"seq": 1})
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Firestore took a document under rooms/__x__ (%v): the premise of the door's rule is gone", err)
	}

	var refused *firestorearchive.RefusedError
	if err := a.Store(ctx, "__x__", messages(1, 3)); !errors.As(err, &refused) || refused.Room != "__x__" {
		t.Fatalf("storing room __x__: %v, want a RefusedError for that room", err)
	}
	huge := []realtime.Message{{Seq: 1, Name: "ann", Text: strings.Repeat("x", 1<<20+1), Time: time.Now()}}
	if err := a.Store(ctx, "room-huge", huge); !errors.As(err, &refused) {
		t.Fatalf("storing a document over 1 MiB: %v, want a RefusedError", err)
	}
	if err := a.Store(ctx, "room-ok", messages(1, 3)); err != nil {
		t.Fatalf("storing an ordinary room: %v", err)
	}

	emu.Stop()
	sctx, scancel := context.WithTimeout(ctx, 3*time.Second)
	defer scancel()
	err = a.Store(sctx, "room-ok", messages(4, 6))
	if err == nil || errors.As(err, &refused) {
		t.Fatalf("storing with Firestore down: %v, want an error that is not a refusal", err)
	}
}
