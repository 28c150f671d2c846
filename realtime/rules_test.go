package realtime

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/chatrun/chat/testkit"
)

// The fuzz targets below run their seed corpus as ordinary tests; run one
// for real with, for example, go test -fuzz=FuzzParseName ./realtime.

// validateName, validateRoom and validateText give ParseName, ParseRoom and
// ParseText the shape the targets below were written for: a refusal is a
// non-empty reason.
func validateName(s string) (string, string) { v, err := ParseName(s); return v, reason(err) }
func validateRoom(s string) (string, string) { v, err := ParseRoom(s); return v, reason(err) }
func validateText(s string) (string, string) { v, err := ParseText(s); return v, reason(err) }

func reason(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func FuzzParseName(f *testing.F) {
	for _, s := range testkit.HostileStrings() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		name, bad := validateName(in)
		if bad != "" {
			if name != "" {
				t.Fatalf("refused %q but returned %q", in, name)
			}
			return
		}
		n := utf8.RuneCountInString(name)
		if !utf8.ValidString(name) || n < 1 || n > MaxName || name != strings.TrimSpace(name) ||
			strings.IndexFunc(name, forbiddenInName) >= 0 || strings.IndexFunc(name, invisible) >= 0 ||
			strings.IndexFunc(name, visible) < 0 || !norm.NFKC.IsNormalString(name) {
			t.Fatalf("accepted %q as %q", in, name)
		}
		if again, bad := validateName(name); bad != "" || again != name {
			t.Fatalf("not idempotent: %q -> %q -> %q (%s)", in, name, again, bad)
		}
	})
}

var roomPattern = regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)

func FuzzParseRoom(f *testing.F) {
	for _, s := range testkit.HostileStrings() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		room, bad := validateRoom(in)
		if bad != "" {
			return
		}
		if !roomPattern.MatchString(room) {
			t.Fatalf("accepted %q as room %q", in, room)
		}
		if again, bad := validateRoom(room); bad != "" || again != room {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, room, again)
		}
	})
}

func FuzzParseText(f *testing.F) {
	for _, s := range testkit.HostileStrings() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		text, bad := validateText(in)
		if bad != "" {
			return
		}
		n := utf8.RuneCountInString(text)
		if !utf8.ValidString(text) || n < 1 || n > MaxText || text != strings.TrimSpace(text) ||
			strings.IndexFunc(text, forbiddenInText) >= 0 {
			t.Fatalf("accepted %q as %q", in, text)
		}
		if again, bad := validateText(text); bad != "" || again != text {
			t.Fatalf("not idempotent: %q -> %q", in, again)
		}
	})
}
