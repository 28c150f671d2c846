package realtime_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/brokertest"
)

// langRenderer is countingRenderer writing in one language: its live
// messages and notices start with the language's name.
type langRenderer struct {
	countingRenderer
	lang string
}

func (r *langRenderer) Message(m realtime.Message) []byte {
	return append([]byte(r.lang+":"), r.countingRenderer.Message(m)...)
}

func (r *langRenderer) Presence(entered, left, names []string) []byte {
	return append([]byte(r.lang+":"), r.countingRenderer.Presence(entered, left, names)...)
}

// A room read in two languages: every socket gets each event in its own
// language, and the hub renders it once per language, not per socket.
func TestHubRendersOncePerLanguage(t *testing.T) {
	brokertest.ForEach(t, func(t *testing.T, f brokertest.Factory) {
		ctx := brokertest.Context(t)
		en, zh := &langRenderer{lang: "en"}, &langRenderer{lang: "zh-TW"}
		h, stop := realtime.StartHub(f.Make(t, 100), en, realtime.WithPresenceTiming(fastPresence), realtime.WithLanguages(map[string]realtime.Renderer{"en": en, "zh-TW": zh}, "en"))
		t.Cleanup(stop)
		room := testkit.Room()
		langs := map[*realtime.Socket]string{}
		for i := range 6 {
			lang := []string{"en", "zh-TW", "fr"}[i%3] // fr: a language without a Renderer of its own
			sock, err := h.Join(ctx, room, brokertest.User("user"+strconv.Itoa(i)), realtime.NewTestConn(), realtime.InLanguage(lang))
			if err != nil {
				t.Fatal(err)
			}
			defer sock.Leave()
			if got := recv(t, ctx, sock); got != "h" {
				t.Fatalf("first frame %q, want the empty history", got)
			}
			if lang == "fr" {
				lang = "en"
			}
			langs[sock] = lang
		}
		enBefore, zhBefore := en.messages.Load(), zh.messages.Load()
		if _, err := h.Send(ctx, room, realtime.Message{Name: "user0", Text: "hi"}, ""); err != nil {
			t.Fatal(err)
		}
		for sock, lang := range langs {
			for _, got := range recvUntil(t, ctx, sock, lang+":m1:hi") {
				if !strings.HasPrefix(got, lang+":") && strings.Contains(got, ":m1:") {
					t.Fatalf("a socket in %s got %q", lang, got)
				}
			}
		}
		if n := en.messages.Load() - enBefore; n != 1 {
			t.Errorf("English rendered the message %d times for 4 sockets, want once", n)
		}
		if n := zh.messages.Load() - zhBefore; n != 1 {
			t.Errorf("Chinese rendered the message %d times for 2 sockets, want once", n)
		}
	})
}
