package realtime

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// The rules for what a room's name, a person's name and a message's text
// may be (docs/SPEC.md's limits). They live here, beside what relies on
// them: a store keys a room by its name and relies on its alphabet (no '!',
// no '{' or '}', nothing Firestore reserves), and a name's claim relies on
// its normal form. The hub refuses a room or name that ParseRoom or
// ParseName would change; the handlers turn each refusal into a sentence.
const (
	MaxName  = 32   // characters of a name
	MaxRoom  = 64   // bytes (letters a-z, digits, - and _) of a room's name
	MaxText  = 2000 // characters of a message
	MaxLines = 40   // lines of a message
)

// ErrInvalidRoom, ErrInvalidName and ErrInvalidText are what every refusal
// of ParseRoom, ParseName and ParseText wraps: errors.Is tells the kind,
// and the refusal itself which rule.
var (
	ErrInvalidRoom = errors.New("invalid room name")
	ErrInvalidName = errors.New("invalid name")
	ErrInvalidText = errors.New("invalid message text")
)

// The refusals of ParseRoom.
var (
	ErrRoomEmpty    = fmt.Errorf("%w: empty", ErrInvalidRoom)
	ErrRoomTooLong  = fmt.Errorf("%w: over %d bytes", ErrInvalidRoom, MaxRoom)
	ErrRoomAlphabet = fmt.Errorf("%w: a character outside a-z, 0-9, - and _", ErrInvalidRoom)
	ErrRoomReserved = fmt.Errorf("%w: starts and ends with __", ErrInvalidRoom)
)

// The refusals of ParseName.
var (
	ErrNameNotText   = fmt.Errorf("%w: not UTF-8", ErrInvalidName)
	ErrNameControl   = fmt.Errorf("%w: a control or bidirectional character", ErrInvalidName)
	ErrNameEmpty     = fmt.Errorf("%w: empty", ErrInvalidName)
	ErrNameTooLong   = fmt.Errorf("%w: over %d characters", ErrInvalidName, MaxName)
	ErrNameInvisible = fmt.Errorf("%w: an invisible character", ErrInvalidName)
	ErrNameUnseen    = fmt.Errorf("%w: nothing that can be seen", ErrInvalidName)
)

// The refusals of ParseText.
var (
	ErrTextNotText = fmt.Errorf("%w: not UTF-8", ErrInvalidText)
	ErrTextEmpty   = fmt.Errorf("%w: nothing to read", ErrInvalidText)
	ErrTextTooLong = fmt.Errorf("%w: over %d characters", ErrInvalidText, MaxText)
	ErrTextControl = fmt.Errorf("%w: a control or bidirectional character", ErrInvalidText)
	ErrTextTooTall = fmt.Errorf("%w: %d lines or more", ErrInvalidText, MaxLines)
)

// ParseRoom returns a room's name as the chat knows it (trimmed, lower
// case), or why it is none.
func ParseRoom(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", ErrRoomEmpty
	}
	if len(s) > MaxRoom {
		return "", ErrRoomTooLong
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return "", ErrRoomAlphabet
		}
	}
	// Firestore, which archives every room under its name, reserves ids of
	// the form __.*__; the other ids it refuses ("/", ".", "..", over 1,500
	// bytes) are outside the rules above already.
	if strings.HasPrefix(s, "__") && strings.HasSuffix(s, "__") {
		return "", ErrRoomReserved
	}
	return s, nil
}

// ParseName normalises a name as people read it (NFKC: fullwidth
// "Ａｌｉｃｅ" is "Alice"; runs of spaces are one space; variation selectors
// go) and refuses what would let it pass for another: control and
// bidirectional characters, invisible ones ("Al\u200dice", a soft hyphen,
// a Hangul filler), and a name with nothing visible at all. Names that
// still look alike ("Аlice" in Cyrillic) are told apart by the claim on the
// name (NameKeys).
func ParseName(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", ErrNameNotText
	}
	s = strings.TrimSpace(norm.NFKC.String(strings.Map(dropVariation, s)))
	if strings.IndexFunc(s, forbiddenInName) >= 0 {
		return "", ErrNameControl
	}
	// Every run of spaces, of whatever kind, is one space.
	s = strings.Join(strings.Fields(s), " ")
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		return "", ErrNameEmpty
	case n > MaxName:
		return "", ErrNameTooLong
	case strings.IndexFunc(s, invisible) >= 0:
		return "", ErrNameInvisible
	case strings.IndexFunc(s, visible) < 0:
		return "", ErrNameUnseen
	}
	return s, nil
}

// ParseText returns a message's text as it is stored (line breaks as
// "\n", trimmed), or why it cannot be sent.
func ParseText(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", ErrTextNotText
	}
	// Line breaks as a browser's form posts them (CRLF) count as one.
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case strings.IndexFunc(s, visible) < 0:
		// Empty, or only invisible characters: nothing to read.
		return "", ErrTextEmpty
	case n > MaxText:
		return "", ErrTextTooLong
	case strings.IndexFunc(s, forbiddenInText) >= 0:
		return "", ErrTextControl
	case strings.Count(s, "\n") >= MaxLines:
		return "", ErrTextTooTall
	}
	return s, nil
}

// checkRoom refuses a room's name that ParseRoom would refuse or change:
// the hub takes rooms as ParseRoom returns them, and nothing else.
func checkRoom(room string) error {
	parsed, err := ParseRoom(room)
	if err != nil {
		return err
	}
	if parsed != room {
		return fmt.Errorf("%w: %q is not in its parsed form", ErrInvalidRoom, room)
	}
	return nil
}

// checkName refuses a name that ParseName would refuse or change.
func checkName(name string) error {
	parsed, err := ParseName(name)
	if err != nil {
		return err
	}
	if parsed != name {
		return fmt.Errorf("%w: %q is not in its parsed form", ErrInvalidName, name)
	}
	return nil
}

// NameKeys returns the keys under which a name is claimed in a room. Two
// names that share a key look the same to a reader, so they are one name:
// the key is the name's confusable skeleton (Unicode TS #39), taken as
// written, which tells "AIice" (capital i) for "Alice", and after case
// folding, which tells "ALICE" for "Alice". Names come here as ParseName
// returns them (NFKC, nothing invisible).
func NameKeys(name string) []string {
	asWritten := confusables.Skeleton(name)
	folded := confusables.Skeleton(cases.Fold().String(name))
	if asWritten == folded {
		return []string{folded}
	}
	return []string{asWritten, folded}
}

// forbiddenInName refuses control characters and the bidirectional overrides
// that would let a name disguise itself.
func forbiddenInName(r rune) bool {
	return unicode.IsControl(r) || isBidiControl(r)
}

// forbiddenInText allows line breaks and tabs but no other control or
// bidirectional-override characters.
func forbiddenInText(r rune) bool {
	if r == '\n' || r == '\r' || r == '\t' {
		return false
	}
	return unicode.IsControl(r) || isBidiControl(r)
}

// dropVariation removes variation selectors, which only choose how the
// character before them is drawn ("❤️" is "❤").
func dropVariation(r rune) rune {
	if unicode.Is(unicode.Variation_Selector, r) {
		return -1
	}
	return r
}

// invisible reports the characters that are drawn as nothing: format
// characters (zero-width spaces and joiners, soft hyphens, word joiners,
// byte order marks), the other default-ignorable code points (Hangul
// fillers) and the blank braille pattern, which draws as a space but is
// not one.
func invisible(r rune) bool {
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r) || r == '\u2800'
}

// visible reports the characters that draw something on their own: not
// spaces, not marks that only decorate the character before them.
func visible(r rune) bool {
	return unicode.IsGraphic(r) && !unicode.IsSpace(r) && !unicode.IsMark(r) && !invisible(r)
}

// isBidiControl reports the characters that reorder the text around them.
func isBidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069') || r == '\u200E' || r == '\u200F' || r == '\u061C'
}

// checkRoomAndName refuses a room or a name not in its parsed form; the
// room's refusal comes first.
func checkRoomAndName(room, name string) error {
	if err := checkRoom(room); err != nil {
		return err
	}
	return checkName(name)
}
