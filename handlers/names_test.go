package handlers

import (
	"context"
	"testing"

	"github.com/chatrun/chat/realtime"
)

// Names are normalised as people read them, and a name that draws as
// nothing, or hides characters, is refused. (Names that still look alike,
// such as Cyrillic "Аlice", are one name to the claim: realtime's
// TestHubClaimsNames.)
func TestNamesAreWhatPeopleSee(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Alice", "Alice"},
		{"  Alice  ", "Alice"},
		{"Ａｌｉｃｅ", "Alice"},                         // fullwidth
		{"Alice\u00a0\u3000 Smith", "Alice Smith"}, // spaces of every kind, once
		{"❤\ufe0f", "❤"},                           // a variation selector only picks a drawing
		{"Zoë", "Zoë"},
		{"Zoe\u0308", "Zoë"}, // a combining mark composes
		{"李雷", "李雷"},
	} {
		if got, bad := validateName(context.Background(), c.in); bad != "" || got != c.want {
			t.Errorf("validateName(%+q) = %q, %q; want %q", c.in, got, bad, c.want)
		}
	}
	for _, in := range []string{
		"Alice\u200b", "Al\u200dice", "\ufeffAlice", "Ali\u00adce", "Alice\u2060", // invisible inside
		"\u200b", "\u3164", "\u2800", "\u115f\u1160", "\u0301", "   ", // nothing to see
		"Al\u202eice", "Al\x07ice", // bidirectional override, control
	} {
		if got, bad := validateName(context.Background(), in); bad == "" {
			t.Errorf("validateName(%+q) accepted %q", in, got)
		}
	}
}

// A message of invisible characters alone is refused like an empty one.
func TestInvisibleMessagesAreEmpty(t *testing.T) {
	for _, in := range []string{"\u200b", "\u200b\u200d\u2060", "\ufeff", "\u3164", "\u2800\u2800", " \u200b "} {
		if _, bad := validateText(in); bad != "Type a message first." {
			t.Errorf("validateText(%+q): %q, want it refused as empty", in, bad)
		}
	}
	if got, bad := validateText("ok \u200b"); bad != "" || got != "ok \u200b" {
		t.Errorf("a message with text and a zero-width space: %q %q", got, bad)
	}
}

// validateText is what send does with a message's text: realtime's rule,
// and the sentence for its refusal.
func validateText(s string) (string, string) {
	text, err := realtime.ParseText(s)
	return text, refusal(context.Background(), err)
}
