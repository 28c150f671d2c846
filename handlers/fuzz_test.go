package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/chatrun/chat/testkit"
)

// The fuzz targets below run their seed corpus as ordinary tests; run one
// for real with, for example, go test -fuzz=FuzzDecodeFrame ./handlers.

func FuzzValidateNonce(f *testing.F) {
	for _, s := range testkit.HostileStrings() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		ok := validateNonce(context.Background(), in) == ""
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
		`{"text":"re","reply_to":"3"}`, `{"text":"re","reply_to":3}`, `{"text":"re","reply_to":"-1"}`,
		`{"text":"re","reply_to":"x"}`, `{"text":"re","reply_to":""}`, `{"text":"re","reply_to":{"a":1}}`,
	}
	for _, s := range seeds {
		f.Add(byte(websocket.MessageText), []byte(s))
	}
	f.Add(byte(websocket.MessageBinary), []byte(`{"text":"binary"}`))
	f.Fuzz(func(t *testing.T, typ byte, data []byte) {
		out, refusal := decodeFrame(context.Background(), websocket.MessageType(typ), data)
		if refusal != "" {
			// A refusal names the message by its nonce when it has a valid one.
			if out.text != "" || out.replyTo != 0 || validateNonce(context.Background(), out.nonce) != "" {
				t.Fatalf("refused but returned %+v", out)
			}
			return
		}
		if out.replyTo < 0 {
			t.Fatalf("accepted reply_to %d", out.replyTo)
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

// A page says whether it is shown in a frame of its own; anything else,
// a message above all, is not taken for one.
func TestVisibilityFrame(t *testing.T) {
	for _, c := range []struct {
		typ           websocket.MessageType
		data          string
		visible, isIt bool
	}{
		{websocket.MessageText, `{"visible": false}`, false, true},
		{websocket.MessageText, `{"visible":true,"headers":{}}`, true, true},
		{websocket.MessageText, `{"visible": false, "text": "hi"}`, false, false},
		{websocket.MessageText, `{"typing": true}`, false, false},
		{websocket.MessageText, `{"visible": "no"}`, false, false},
		{websocket.MessageBinary, `{"visible": false}`, false, false},
		{websocket.MessageText, `{"visible": false, "pad": "` + strings.Repeat("x", 256) + `"}`, false, false},
	} {
		if visible, ok := visibility(c.typ, []byte(c.data)); visible != c.visible || ok != c.isIt {
			t.Errorf("visibility(%v, %s) = %v, %v; want %v, %v", c.typ, c.data, visible, ok, c.visible, c.isIt)
		}
	}
}
