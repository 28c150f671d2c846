package realtime

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/rivo/uniseg"
)

// ErrInvalidEmoji says that a reaction is not one emoji.
var ErrInvalidEmoji = errors.New("realtime: a reaction is one emoji")

// maxEmojiBytes bounds one emoji's UTF-8: the longest in use (a family of
// four with skin tones, a subdivision flag) takes under 40 bytes.
const maxEmojiBytes = 64

// ParseEmoji returns s when it is one emoji (without a presentation
// selector that changes nothing), and ErrInvalidEmoji when it
// is anything else: text, several emoji, markup, invisible characters
// alone. One emoji is one grapheme cluster that is a pictograph with its
// modifiers and joined pictographs (👍🏽, 👩‍💻, ❤️), a flag of two regional
// indicators, a keycap (1️⃣) or a subdivision flag's tag sequence.
func ParseEmoji(s string) (string, error) {
	if s == "" || len(s) > maxEmojiBytes || !utf8.ValidString(s) {
		return "", ErrInvalidEmoji
	}
	cluster, rest, _, _ := uniseg.FirstGraphemeClusterInString(s, -1)
	if rest != "" || cluster != s {
		return "", fmt.Errorf("%w: %q is more than one character", ErrInvalidEmoji, s)
	}
	rs := []rune(s)
	if isFlag(rs) || isKeycap(rs) || isSubdivisionFlag(rs) {
		return s, nil
	}
	if isZWJSequence(rs) {
		return withoutRedundantVS16(rs), nil
	}
	return "", fmt.Errorf("%w: %q is not an emoji", ErrInvalidEmoji, s)
}

// isZWJSequence reports whether rs is one emoji element, or several
// joined by zero-width joiners: each a pictograph, then at most one of
// emoji presentation or a skin tone. Nothing else, nowhere else: a
// trailing joiner, a second presentation selector or skin tone would
// make a reaction that looks like another and counts apart.
func isZWJSequence(rs []rune) bool {
	for i := 0; ; {
		if i >= len(rs) || !pictographic(rs[i]) {
			return false
		}
		i++
		if i < len(rs) && (rs[i] == vs16 || isSkinTone(rs[i])) {
			i++
		}
		if i == len(rs) {
			return true
		}
		if rs[i] != zwj {
			return false
		}
		i++
	}
}

// withoutRedundantVS16 drops emoji presentation after a pictograph shown
// as an emoji anyway (wide, in uniseg's tables: 👍 and 👍️ are one
// reaction), and keeps it where it makes one (❤️).
func withoutRedundantVS16(rs []rune) string {
	out := make([]rune, 0, len(rs))
	for i, r := range rs {
		if r == vs16 && i > 0 && uniseg.StringWidth(string(rs[i-1])) == 2 {
			continue
		}
		out = append(out, r)
	}
	return string(out)
}

func isSkinTone(r rune) bool { return r >= 0x1F3FB && r <= 0x1F3FF }

// isSubdivisionFlag reports whether rs is a black flag, two to six tag
// letters or digits and the cancel tag (🏴󠁧󠁢󠁳󠁣󠁴󠁿).
func isSubdivisionFlag(rs []rune) bool {
	n := len(rs)
	if n < 4 || n > 8 || rs[0] != 0x1F3F4 || rs[n-1] != 0xE007F {
		return false
	}
	for _, r := range rs[1 : n-1] {
		if !(r >= 0xE0030 && r <= 0xE0039) && !(r >= 0xE0061 && r <= 0xE007A) {
			return false
		}
	}
	return true
}

const (
	zwj  = '\u200D' // zero-width joiner
	vs16 = '\uFE0F' // variation selector 16: emoji presentation
)

// pictographic reports whether r is Extended_Pictographic, as uniseg's
// tables say through grapheme break rule GB11: a zero-width joiner keeps
// a pictograph and the next pictograph in one cluster, and nothing else.
func pictographic(r rune) bool {
	s := string(r) + "\u200D\U0001F600"
	c, _, _, _ := uniseg.FirstGraphemeClusterInString(s, -1)
	return c == s
}

// isFlag reports whether rs is two regional indicators.
func isFlag(rs []rune) bool {
	ri := func(r rune) bool { return r >= 0x1F1E6 && r <= 0x1F1FF }
	return len(rs) == 2 && ri(rs[0]) && ri(rs[1])
}

// isKeycap reports whether rs is a keycap: a digit, # or *, emoji
// presentation, and the combining enclosing keycap.
func isKeycap(rs []rune) bool {
	if len(rs) != 3 || rs[1] != vs16 || rs[2] != '\u20E3' {
		return false
	}
	return (rs[0] >= '0' && rs[0] <= '9') || rs[0] == '#' || rs[0] == '*'
}

// react toggles author's reaction emoji under m, which name gives: taken
// back if given, else given, unless author has MaxReactionsPerPerson
// other reactions to m already. A reaction nobody gives any more goes.
func (m Message) react(author, name, emoji string) (Message, error) {
	rs := slices.Clone(m.Reactions)
	mine := 0
	for i, r := range rs {
		j := slices.Index(r.Authors, author)
		if j < 0 {
			continue
		}
		if r.Emoji == emoji {
			r.Authors = slices.Delete(slices.Clone(r.Authors), j, j+1)
			r.Names = slices.Delete(slices.Clone(r.Names), j, j+1)
			rs[i] = r
			if len(r.Authors) == 0 {
				rs = slices.Delete(rs, i, i+1)
			}
			m.Reactions = nilIfEmpty(rs)
			return m, nil
		}
		mine++
	}
	if mine >= MaxReactionsPerPerson {
		return Message{}, ErrTooManyReactions
	}
	for i, r := range rs {
		if r.Emoji == emoji {
			rs[i].Authors = append(slices.Clone(r.Authors), author)
			rs[i].Names = append(slices.Clone(r.Names), name)
			m.Reactions = rs
			return m, nil
		}
	}
	m.Reactions = append(rs, Reaction{Emoji: emoji, Authors: []string{author}, Names: []string{name}})
	return m, nil
}

func nilIfEmpty(rs []Reaction) []Reaction {
	if len(rs) == 0 {
		return nil
	}
	return rs
}

// QuoteLength is how many characters of the message it answers a reply
// shows.
const QuoteLength = 140

// QuoteOf is what a reply shows of m: its author's name, and its first
// QuoteLength characters, or who deleted it.
func QuoteOf(m Message) Quote {
	if m.Deleted != "" {
		return Quote{Name: m.Name, Deleted: m.Deleted}
	}
	return Quote{Name: m.Name, Text: QuoteText(m.Summary())}
}

// Summary is what stands for a message where a line of it must do (a
// reply's quote, a notification): its text, or for a message of files
// alone their names after a paperclip, as chats show them.
func (m Message) Summary() string {
	if m.Text != "" || len(m.Files) == 0 {
		return m.Text
	}
	names := make([]string, len(m.Files))
	for i, f := range m.Files {
		names[i] = f.Name
	}
	return "📎 " + strings.Join(names, ", ")
}

// QuoteText is the first QuoteLength characters of text, with an ellipsis
// when there is more.
func QuoteText(text string) string {
	n := 0
	for i := range text {
		if n == QuoteLength {
			return text[:i] + "…"
		}
		n++
	}
	return text
}

// requote sets the Quote of the replies to m in msgs to m as it is now.
func requote(msgs []Message, m Message) {
	q := QuoteOf(m)
	for i := range msgs {
		if msgs[i].ReplyTo == m.Seq && msgs[i].Seq > m.Seq {
			msgs[i].Quote = &q
		}
	}
}
