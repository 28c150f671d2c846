package handlers

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits from docs/SPEC.md.
const (
	maxName     = 32
	maxRoom     = 64
	maxText     = 2000
	maxLines    = 40 // lines of one message
	maxNonce    = 64
	maxFrame    = 16 << 10 // a frame over it is refused; the socket stays open
	maxDiscard  = 1 << 20  // a frame over it closes the socket with 1009
	maxFormBody = 64 << 10
)

// Each validator returns the normalised value, or a message that tells the
// user what is wrong.

// validateName normalises a name as people read it (NFKC: fullwidth
// "Ａｌｉｃｅ" is "Alice"; runs of spaces are one space; variation selectors
// go) and refuses what would let it pass for another: control and
// bidirectional characters, invisible ones ("Al\u200dice", a soft hyphen,
// a Hangul filler), and a name with nothing visible at all. Names that
// still look alike ("Аlice" in Cyrillic) are told apart by the claim on the
// name (realtime's nameKeys).
func validateName(s string) (string, string) {
	if !utf8.ValidString(s) {
		return "", "Your name has characters that are not text."
	}
	s = strings.TrimSpace(norm.NFKC.String(strings.Map(dropVariation, s)))
	if strings.IndexFunc(s, forbiddenInName) >= 0 {
		return "", "Names cannot contain control characters."
	}
	// Every run of spaces, of whatever kind, is one space.
	s = strings.Join(strings.Fields(s), " ")
	switch n := utf8.RuneCountInString(s); {
	case n == 0:
		return "", "Please give a name."
	case n > maxName:
		return "", "Names are at most 32 characters."
	case strings.IndexFunc(s, invisible) >= 0:
		return "", "Names cannot contain invisible characters."
	case strings.IndexFunc(s, visible) < 0:
		return "", "Please give a name with letters or signs that can be seen."
	}
	return s, ""
}

// forbiddenInName refuses control characters and the bidirectional overrides
// that would let a name disguise itself.
func forbiddenInName(r rune) bool {
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

func isBidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069') || r == '\u200E' || r == '\u200F' || r == '\u061C'
}

func validateRoom(s string) (string, string) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", "Please give a room."
	}
	if len(s) > maxRoom {
		return "", "Room names are at most 64 characters."
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return "", "Room names use only letters a to z, digits, - and _."
		}
	}
	// Firestore, which archives every room under its name, reserves ids of
	// the form __.*__; the other ids it refuses ("/", ".", "..", over 1,500
	// bytes) are outside the rules above already.
	if strings.HasPrefix(s, "__") && strings.HasSuffix(s, "__") {
		return "", "Room names cannot start and end with __."
	}
	return s, ""
}

func validateText(s string) (string, string) {
	if !utf8.ValidString(s) {
		return "", "Your message has characters that are not text."
	}
	// Line breaks as a browser's form posts them (CRLF) count as one.
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.TrimSpace(s)
	switch n := utf8.RuneCountInString(s); {
	case strings.IndexFunc(s, visible) < 0:
		// Empty, or only invisible characters: nothing to read.
		return "", "Type a message first."
	case n > maxText:
		return "", "Messages are at most 2,000 characters."
	case strings.IndexFunc(s, forbiddenInText) >= 0:
		return "", "Messages cannot contain control characters."
	case strings.Count(s, "\n") >= maxLines:
		return "", "Messages are at most 40 lines."
	}
	return s, ""
}

// forbiddenInText allows line breaks and tabs but no other control or
// bidirectional-override characters.
func forbiddenInText(r rune) bool {
	if r == '\n' || r == '\r' || r == '\t' {
		return false
	}
	return unicode.IsControl(r) || isBidiControl(r)
}

func validateNonce(s string) string {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxNonce {
		return "This form has expired: reload the page and send again."
	}
	return ""
}
