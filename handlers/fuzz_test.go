package handlers

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"golang.org/x/text/unicode/norm"
)

// The fuzz targets below run their seed corpus as ordinary tests; run one
// for real with, for example, go test -fuzz=FuzzDecodeFrame ./handlers.

var hostileStrings = []string{
	"", " ", "\t\n", "ann", "Ann Lee", "<script>alert(1)</script>", `"><img src=x onerror=alert(1)>`,
	"nul\x00", "bell\x07", "line\r\nbreak", "esc\x1b[31m", "\u202Eevil", "\u2066iso\u2069", "\u200F",
	"\xff\xfe", "caf\u00e9", "e\u0301", "../../etc/passwd", "%2e%2e", "room-1_a", "ROOM",
	strings.Repeat("x", 33), strings.Repeat("é", 32), strings.Repeat("y", 2001), strings.Repeat("🙂", 2000),
	strings.Repeat("z", 65), "\u00a0ann\u00a0", "a\u0000b",
}

func FuzzValidateName(f *testing.F) {
	for _, s := range hostileStrings {
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
		if !utf8.ValidString(name) || n < 1 || n > maxName || name != strings.TrimSpace(name) ||
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

func FuzzValidateRoom(f *testing.F) {
	for _, s := range hostileStrings {
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

func FuzzValidateText(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		text, bad := validateText(in)
		if bad != "" {
			return
		}
		n := utf8.RuneCountInString(text)
		if !utf8.ValidString(text) || n < 1 || n > maxText || text != strings.TrimSpace(text) ||
			strings.IndexFunc(text, forbiddenInText) >= 0 {
			t.Fatalf("accepted %q as %q", in, text)
		}
		if again, bad := validateText(text); bad != "" || again != text {
			t.Fatalf("not idempotent: %q -> %q", in, again)
		}
	})
}

func FuzzValidateNonce(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ok := validateNonce(in) == ""
		if want := utf8.ValidString(in) && utf8.RuneCountInString(in) <= maxNonce; ok != want {
			t.Fatalf("validateNonce(%q) accepted=%v, want %v", in, ok, want)
		}
	})
}

func FuzzDecodeFrame(f *testing.F) {
	seeds := []string{
		`{"text":"hi","nonce":"n1","headers":{"HX-Request":"true"}}`,
		`{"text":"hi"}`, `{"nonce":"x"}`, `{"text":42}`, `{"text":["a","b"]}`, `{"text":null}`,
		`{"text":"a","text":"b"}`, `[]`, `null`, `42`, `"str"`, `not json`, ``, `{`,
		`{"text":"\u0000"}`, `{"text":"\ud800"}`, "{\"text\":\"\xff\"}",
		`{"text":"x","nonce":{"a":1}}`, `{"text":"x","headers":` + strings.Repeat(`[`, 5000) + strings.Repeat(`]`, 5000) + `}`,
		`{"text":"<script>alert(1)</script>"}`,
	}
	for _, s := range seeds {
		f.Add(byte(websocket.MessageText), []byte(s))
	}
	f.Add(byte(websocket.MessageBinary), []byte(`{"text":"binary"}`))
	f.Fuzz(func(t *testing.T, typ byte, data []byte) {
		text, nonce, refusal := decodeFrame(websocket.MessageType(typ), data)
		if refusal != "" {
			// A refusal names the message by its nonce when it has a valid one.
			if text != "" || validateNonce(nonce) != "" {
				t.Fatalf("refused but returned %q %q", text, nonce)
			}
			return
		}
		if websocket.MessageType(typ) != websocket.MessageText || !utf8.Valid(data) {
			t.Fatalf("accepted a frame of type %d, valid UTF-8 %v", typ, utf8.Valid(data))
		}
		// encoding/json matches keys without case, as "teXt" found.
		var fields map[string]any
		if err := json.Unmarshal(data, &fields); err != nil {
			t.Fatalf("accepted %q, which is no JSON object: %v", data, err)
		}
		hasText := false
		for k := range fields {
			hasText = hasText || strings.EqualFold(k, "text")
		}
		if !hasText {
			t.Fatalf("accepted %q, which has no text field", data)
		}
	})
}

func FuzzSessionCookie(f *testing.F) {
	s := sessions{secret: []byte("fuzz"), now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	w := httptest.NewRecorder()
	s.issue(w, httptest.NewRequest(http.MethodGet, "/", nil), Session{ID: "ID", Name: "Ann"})
	f.Add(w.Result().Cookies()[0].Value)
	for _, v := range []string{"", ".", "a.b", "%%%.%%%", "MTk5OTk5OTk5OXxhYmN8TWFsbG9yeQ.AAAA", strings.Repeat("A", 5000) + ".x"} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, value string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", sessionCookie+"="+value)
		sess, ok := s.read(r)
		if !ok {
			return
		}
		// Only the cookie this target issued can be valid: forging one
		// would mean forging the HMAC.
		if sess.Name != "Ann" || sess.ID != "ID" {
			t.Fatalf("accepted a session nobody issued: %+v from %q", sess, value)
		}
	})
}

func TestJSONDepth(t *testing.T) {
	for in, want := range map[string]int{
		`{}`: 1, `{"text":"x","headers":{"a":"b"}}`: 2, `[[[]]]`: 3, `"[[[["`: 0,
		`{"t":"\"[[[["}`: 1, `{"t":"\\"}`: 1, `42`: 0, ``: 0,
	} {
		if got := jsonDepth([]byte(in)); got != want {
			t.Errorf("jsonDepth(%s) = %d, want %d", in, got, want)
		}
	}
}
