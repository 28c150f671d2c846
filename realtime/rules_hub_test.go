package realtime_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chatrun/chat/realtime"
)

// The hub takes rooms and names only as ParseRoom and ParseName return
// them: a caller that skipped them is refused before the broker is asked,
// so nothing below the hub sees a room or name outside the rules.
func TestHubTakesOnlyParsedRoomsAndNames(t *testing.T) {
	b := realtime.NewMemoryBroker(100)
	h := newHub(t, b, &countingRenderer{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	for _, room := range []string{"", "General", " general", "a{b}", "!signouts", "__x__"} {
		if _, err := h.Send(ctx, room, realtime.Message{Name: "ann", Text: "hi"}, ""); !errors.Is(err, realtime.ErrInvalidRoom) {
			t.Errorf("Send to room %q: %v, want ErrInvalidRoom", room, err)
		}
		if _, err := h.Recent(ctx, room); !errors.Is(err, realtime.ErrInvalidRoom) {
			t.Errorf("Recent of room %q: %v, want ErrInvalidRoom", room, err)
		}
		if _, err := h.Join(ctx, room, realtime.User{Name: "ann", Session: "s"}, nil); !errors.Is(err, realtime.ErrInvalidRoom) {
			t.Errorf("Join room %q: %v, want ErrInvalidRoom", room, err)
		}
	}
	for _, name := range []string{"", " ann", "Ａｌｉｃｅ", "Al\u200dice", "a\x07"} {
		if _, err := h.Claim(ctx, "general", realtime.User{Name: name, Session: "s"}); !errors.Is(err, realtime.ErrInvalidName) {
			t.Errorf("Claim of name %q: %v, want ErrInvalidName", name, err)
		}
		if err := h.Typing(ctx, "general", name); !errors.Is(err, realtime.ErrInvalidName) {
			t.Errorf("Typing as %q: %v, want ErrInvalidName", name, err)
		}
	}
	if msgs, err := b.History(ctx, "General"); err != nil || len(msgs) != 0 {
		t.Errorf("the broker holds %d messages for a refused room (%v)", len(msgs), err)
	}
	if _, err := h.Send(ctx, "general", realtime.Message{Name: "ann", Text: "hi"}, ""); err != nil {
		t.Errorf("a parsed room and name: %v", err)
	}
}
