package realtime

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Level is how much of a room a person wants to be told about when they
// are not reading it.
type Level string

const (
	// LevelAll tells of every message.
	LevelAll Level = "all"
	// LevelMentions tells of the messages that mention the person: the
	// default.
	LevelMentions Level = "mentions"
	// LevelNone tells of nothing; unread counts still count.
	LevelNone Level = "none"
)

// ParseLevel returns the level s names; false when it names none.
func ParseLevel(s string) (Level, bool) {
	switch l := Level(s); l {
	case LevelAll, LevelMentions, LevelNone:
		return l, true
	}
	return "", false
}

// RoomReading is where a person stands in one room they have been in.
type RoomReading struct {
	Room string
	// Read is the newest seq the person has read; Newest the room's.
	Read, Newest int64
	// Unread is how many messages came after Read; Mentions how many of
	// them mention the person.
	Unread, Mentions int
	Level            Level
	// Active is when the room last had a message (or, before any is
	// known, when the person last read it): the list's order.
	Active time.Time
}

// MaxReadingRooms bounds the rooms kept per person: past it, the ones
// read longest ago are forgotten.
const MaxReadingRooms = 200

// maxMentionsKept bounds the unread mentions kept per person and room; a
// page says "99+" long before.
const maxMentionsKept = 100

// Reading keeps, per person (a verified identity, or a session without
// one) and shared by every instance and device, where they stopped reading
// in each room they have been in, their mentions since, their notification
// level, and which rooms they have a focused page open in.
type Reading interface {
	// MarkRead raises person's read seq in room to seq (never lowers it;
	// never past the room's newest message), forgets their mentions up to
	// it, and keeps room in their list, as the room they are in under
	// name ("" keeps the name known).
	MarkRead(ctx context.Context, room, person, name string, seq int64) error
	// ReadingOf returns person's rooms, most recent activity first.
	ReadingOf(ctx context.Context, person string) ([]RoomReading, error)
	// SetLevel sets person's notification level in room, and keeps room
	// in their list.
	SetLevel(ctx context.Context, room, person string, level Level) error
	// Focus notes that person has a page of room open and focused, for
	// ttl: no push reaches them for the room meanwhile.
	Focus(ctx context.Context, room, person string, ttl time.Duration) error
	// Arrived counts m, just stored in room by sender (a person), as read
	// by sender and as a mention for each person who has been in room and
	// whose name there it mentions (Mentions), and returns whom to tell by
	// push: those it mentions at LevelMentions or LevelAll, and everyone
	// at LevelAll, never sender, nor anyone with a focused page in room.
	// Its cost follows the names the text could mention and the people at
	// LevelAll, not everyone who has been in the room.
	Arrived(ctx context.Context, room string, m Message, sender string) (notify []string, err error)
}

// Mentions reports whether text mentions name as the pages mark it
// (static/chat.js): "@" and the name, in any case, followed by anything but
// a letter, a digit or "_", or by the end.
func Mentions(text, name string) bool {
	if name == "" {
		return false
	}
	for i := strings.IndexByte(text, '@'); i >= 0; {
		rest := text[i+1:]
		if n, ok := prefixFold(rest, name); ok {
			r, _ := utf8.DecodeRuneInString(rest[n:])
			if n == len(rest) || !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsNumber(r) || r == '_') {
				return true
			}
		}
		j := strings.IndexByte(rest, '@')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}

// prefixFold reports whether s starts with prefix under simple case
// folding, and how many bytes of s it takes.
func prefixFold(s, prefix string) (int, bool) {
	n := 0
	for _, p := range prefix {
		r, size := utf8.DecodeRuneInString(s[n:])
		if size == 0 || !equalFoldRune(r, p) {
			return 0, false
		}
		n += size
	}
	return n, true
}

func equalFoldRune(a, b rune) bool {
	if a == b {
		return true
	}
	for f := unicode.SimpleFold(a); f != a; f = unicode.SimpleFold(f) {
		if f == b {
			return true
		}
	}
	return false
}

// MarkRead implements Reading through the broker.
func (h *Hub) MarkRead(ctx context.Context, room, person, name string, seq int64) error {
	return h.broker.MarkRead(ctx, room, person, name, seq)
}

// ReadingOf implements Reading through the broker.
func (h *Hub) ReadingOf(ctx context.Context, person string) ([]RoomReading, error) {
	return h.broker.ReadingOf(ctx, person)
}

// SetLevel implements Reading through the broker.
func (h *Hub) SetLevel(ctx context.Context, room, person string, level Level) error {
	return h.broker.SetLevel(ctx, room, person, level)
}

// Focus implements Reading through the broker.
func (h *Hub) Focus(ctx context.Context, room, person string, ttl time.Duration) error {
	return h.broker.Focus(ctx, room, person, ttl)
}

// ReadFocused is what a broker offers that does MarkRead and Focus in one
// round trip: a focused page says both with every read it reports.
type ReadFocused interface {
	// MarkReadFocused does what MarkRead and then Focus do.
	MarkReadFocused(ctx context.Context, room, person, name string, seq int64, ttl time.Duration) error
}

// MarkReadFocused does MarkRead and Focus: at once where the broker can.
func (h *Hub) MarkReadFocused(ctx context.Context, room, person, name string, seq int64, ttl time.Duration) error {
	if rf, ok := h.broker.(ReadFocused); ok {
		return rf.MarkReadFocused(ctx, room, person, name, seq, ttl)
	}
	if err := h.broker.MarkRead(ctx, room, person, name, seq); err != nil {
		return err
	}
	return h.broker.Focus(ctx, room, person, ttl)
}

// Arrived implements Reading through the broker.
func (h *Hub) Arrived(ctx context.Context, room string, m Message, sender string) ([]string, error) {
	return h.broker.Arrived(ctx, room, m, sender)
}

// WhomToTell decides Arrived's answer for one person who has been in the
// room: whether m mentions them, and whether to push to them.
func WhomToTell(m Message, person, sender, name string, level Level, focused bool) (mentioned, notify bool) {
	if person == sender {
		return false, false
	}
	mentioned = Mentions(m.Text, name)
	if level == "" {
		level = LevelMentions
	}
	notify = !focused && (level == LevelAll || mentioned && level == LevelMentions)
	return mentioned, notify
}

// FoldName is name under simple case folding, each rune as the smallest of
// those it folds with: two names are one mention when their FoldNames are
// equal (Mentions compares them so).
func FoldName(name string) string {
	var b strings.Builder
	for _, r := range name {
		low := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < low {
				low = f
			}
		}
		b.WriteRune(low)
	}
	return b.String()
}

// MentionCandidates returns every name text may mention, folded
// (FoldName): after each "@", each run of up to MaxName characters that
// ends where Mentions lets a name end. A person is mentioned in text when
// the FoldName of their name is one of them. At most maxAts "@" are read.
func MentionCandidates(text string) []string {
	const maxAts = 20
	var out []string
	seen := map[string]bool{}
	ats := 0
	for i := strings.IndexByte(text, '@'); i >= 0 && ats < maxAts; ats++ {
		rest := text[i+1:]
		n := 0
		for k := 0; k < MaxName && n < len(rest); k++ {
			_, size := utf8.DecodeRuneInString(rest[n:])
			n += size
			next, _ := utf8.DecodeRuneInString(rest[n:])
			if n == len(rest) || !(unicode.IsLetter(next) || unicode.IsDigit(next) || unicode.IsNumber(next) || next == '_') {
				if c := FoldName(rest[:n]); !seen[c] {
					seen[c] = true
					out = append(out, c)
				}
			}
		}
		j := strings.IndexByte(rest, '@')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return out
}
