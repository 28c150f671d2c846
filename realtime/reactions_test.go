package realtime_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rivo/uniseg"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/testkit"
)

// One emoji of any kind is a reaction, as given.
func TestParseEmojiAccepts(t *testing.T) {
	for _, s := range []string{
		"\U0001F44D",                 // 👍
		"\u2764\uFE0F",               // ❤️: with emoji presentation (VS16)
		"\u2764",                     // ❤ without it
		"\U0001F44D\U0001F3FD",       // 👍🏽: a skin tone
		"\U0001F469\u200D\U0001F4BB", // 👩‍💻: joined pictographs
		"\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466", // 👨‍👩‍👧‍👦
		"\U0001F1F9\U0001F1FC", // 🇹🇼: two regional indicators
		"1\uFE0F\u20E3",        // 1️⃣: a keycap
		"#\uFE0F\u20E3",        // #️⃣
		"\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F", // 🏴󠁧󠁢󠁳󠁣󠁴󠁿: Scotland
		"\u00A9\uFE0F",                                                  // ©️
		"👍", "❤️", "👍🏽", "👩‍💻", "👨‍👩‍👧‍👦", "🇹🇼", "1️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "©️", // as typed
		"🏳️‍🌈", "❤️‍🔥", "🧑🏽‍💻", "👁️‍🗨️",
	} {
		got, err := realtime.ParseEmoji(s)
		if err != nil || got != s {
			t.Errorf("ParseEmoji(%q) = %q, %v; want it as given", s, got, err)
		}
	}
}

// An emoji shown as one anyway loses a presentation selector: 👍️ is 👍,
// one reaction, not a look-alike counted apart.
func TestParseEmojiDropsARedundantSelector(t *testing.T) {
	for in, want := range map[string]string{"👍\ufe0f": "👍", "😀\ufe0f": "😀", "❤\ufe0f": "❤\ufe0f", "🏳\ufe0f\u200d🌈": "🏳\ufe0f\u200d🌈"} {
		if got, err := realtime.ParseEmoji(in); err != nil || got != want {
			t.Errorf("ParseEmoji(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// Anything but one emoji is refused, each with ErrInvalidEmoji.
func TestParseEmojiRefuses(t *testing.T) {
	for _, s := range []string{
		"",
		"ok",
		"a",
		"1",
		"👍👍",
		"👍 ",
		" 👍",
		"<b>",
		"<b>👍</b>",
		"\u200d",                              // a zero-width joiner alone
		"\ufe0f",                              // emoji presentation alone
		"\u200b",                              // a zero-width space
		"\U0001F1F9",                          // one regional indicator
		"\U0001F3FD",                          // a skin tone alone
		"\x00",                                // NUL
		"\x07",                                // bell
		"\n",                                  // line feed
		"\x7f",                                // DEL
		"\u202e",                              // right-to-left override
		"👍\u202e",                             // a pictograph with a bidi control
		"👍\u200d", "👍\u200d\u200d", "\u200d👍", // joiners with nothing to join: look-alikes of 👍
		"👍\ufe0f\ufe0f", "👍🏻🏻", "👍\U000E0041", // a second selector or skin tone, a stray tag
		"🏴\U000E0067\U000E007F", // a subdivision flag of one tag
		"\xff\xfe",              // not UTF-8
		"\xf0\x9f\x91",          // a cut 👍
		"👍\xff",                 // a pictograph with a bad byte
		strings.Repeat("👍", 25), // 100 bytes
		"👨" + strings.Repeat("\u200d👨", 12),             // one grapheme over 64 bytes
		"\U0001F3F4" + strings.Repeat("\U000E0067", 20), // tags past 64 bytes
	} {
		got, err := realtime.ParseEmoji(s)
		if err == nil {
			t.Errorf("ParseEmoji(%q) = %q, nil; want a refusal", s, got)
			continue
		}
		if !errors.Is(err, realtime.ErrInvalidEmoji) {
			t.Errorf("ParseEmoji(%q): %v does not wrap ErrInvalidEmoji", s, err)
		}
		if got != "" {
			t.Errorf("ParseEmoji(%q) refused but returned %q", s, got)
		}
	}
	if len(strings.Repeat("👍", 25)) != 100 {
		t.Fatal("the 100-byte case is not 100 bytes")
	}
}

// A quote keeps QuoteLength characters (runes, not bytes) and marks a cut
// with an ellipsis.
func TestQuoteText(t *testing.T) {
	if realtime.QuoteLength != 140 {
		t.Fatalf("QuoteLength = %d, want 140", realtime.QuoteLength)
	}
	cjk := strings.Repeat("漢字かな", 35) // 140 runes, 420 bytes
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"short", "short"},
		{strings.Repeat("x", 140), strings.Repeat("x", 140)},
		{strings.Repeat("x", 141), strings.Repeat("x", 140) + "…"},
		{cjk, cjk},
		{cjk + "字", cjk + "…"},
		{cjk + strings.Repeat("字", 500), cjk + "…"},
		{strings.Repeat("🙂", 140), strings.Repeat("🙂", 140)},
		{strings.Repeat("🙂", 141), strings.Repeat("🙂", 140) + "…"},
	} {
		got := realtime.QuoteText(c.in)
		if got != c.want {
			t.Errorf("QuoteText(%d runes, %d bytes) = %d runes %q…, want %d runes",
				utf8.RuneCountInString(c.in), len(c.in), utf8.RuneCountInString(got), firstRunes(got, 8), utf8.RuneCountInString(c.want))
		}
		if !utf8.ValidString(got) {
			t.Errorf("QuoteText cut a character: %q", got)
		}
	}
}

func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// The quote of a message: its name and text, or who deleted it.
func TestQuoteOf(t *testing.T) {
	long := strings.Repeat("é", 200)
	q := realtime.QuoteOf(realtime.Message{Seq: 3, Name: "Ann", Text: long})
	if q.Name != "Ann" || q.Text != realtime.QuoteText(long) || q.Deleted != "" {
		t.Errorf("QuoteOf a message = %+v", q)
	}
	q = realtime.QuoteOf(realtime.Message{Seq: 3, Name: "Ann", Deleted: realtime.DeletedByAuthor})
	if q.Name != "Ann" || q.Text != "" || q.Deleted != realtime.DeletedByAuthor {
		t.Errorf("QuoteOf a deleted message = %+v", q)
	}
}

// Whatever ParseEmoji accepts is one grapheme of valid UTF-8, at most 64
// bytes, with no markup, and is returned as given.
func FuzzParseEmoji(f *testing.F) {
	for _, s := range testkit.HostileStrings() {
		f.Add(s)
	}
	for _, s := range []string{"👍", "❤️", "👍🏽", "👩‍💻", "🇹🇼", "1️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "©️", "\u200d", "👍👍", "<👍"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := realtime.ParseEmoji(s)
		if err != nil {
			if !errors.Is(err, realtime.ErrInvalidEmoji) {
				t.Fatalf("ParseEmoji(%q): %v does not wrap ErrInvalidEmoji", s, err)
			}
			return
		}
		if got != s {
			t.Fatalf("ParseEmoji(%q) = %q: not as given", s, got)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("ParseEmoji accepted invalid UTF-8 %q", got)
		}
		if len(got) > 64 {
			t.Fatalf("ParseEmoji accepted %d bytes: %q", len(got), got)
		}
		if strings.Contains(got, "<") {
			t.Fatalf("ParseEmoji accepted markup %q", got)
		}
		if n := uniseg.GraphemeClusterCount(got); n != 1 {
			t.Fatalf("ParseEmoji accepted %d graphemes: %q", n, got)
		}
	})
}

// A message of files alone is quoted (and notified) by their names.
func TestQuoteOfFilesAlone(t *testing.T) {
	files := []realtime.Attachment{{ID: "A", Name: "screenshot.png"}, {ID: "B", Name: "agenda.pdf"}}
	if q := realtime.QuoteOf(realtime.Message{Name: "Ann", Files: files}); q.Text != "📎 screenshot.png, agenda.pdf" {
		t.Errorf("quote of files alone: %q", q.Text)
	}
	if q := realtime.QuoteOf(realtime.Message{Name: "Ann", Text: "look", Files: files}); q.Text != "look" {
		t.Errorf("quote of text with files: %q, want the text", q.Text)
	}
	if q := realtime.QuoteOf(realtime.Message{Name: "Ann", Deleted: realtime.DeletedByAuthor, Files: files}); q.Text != "" {
		t.Errorf("quote of a deleted message: %q", q.Text)
	}
}
