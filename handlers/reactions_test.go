package handlers

import (
	"context"
	"strings"
	"testing"

	"github.com/coder/websocket"
)

// A reaction frame names its message as a string of digits or a bare
// number; anything else is refused with the one sentence. Other frames are
// not reactions.
func TestDecodeReact(t *testing.T) {
	unread := unreadable(context.Background())
	expired := "This form has expired: reload the page and send again."
	for _, c := range []struct {
		frame   string
		ok      bool
		want    reactFrame
		refusal string
	}{
		{`{"text":"hi","nonce":"n"}`, false, reactFrame{}, ""},
		{`{"typing":true}`, false, reactFrame{}, ""},
		{`{"edit":"1","text":"x"}`, false, reactFrame{}, ""},
		{`not json`, false, reactFrame{}, ""},
		{`{"react":"3","emoji":"👍","nonce":"n1"}`, true, reactFrame{seq: 3, emoji: "👍", nonce: "n1"}, ""},
		{`{"react":3,"emoji":"❤️","nonce":"n2"}`, true, reactFrame{seq: 3, emoji: "❤️", nonce: "n2"}, ""},
		{`{"react":"12","emoji":"👍"}`, true, reactFrame{seq: 12, emoji: "👍"}, ""},
		{`{"react":"4","emoji":"👍","headers":{"HX-Request":"true"}}`, true, reactFrame{seq: 4, emoji: "👍"}, ""},
		// The emoji is not judged here: react does it, with its own sentence.
		{`{"react":"3","emoji":"ok"}`, true, reactFrame{seq: 3, emoji: "ok"}, ""},
		{`{"react":"x","emoji":"👍","nonce":"n3"}`, true, reactFrame{nonce: "n3"}, unread},
		{`{"react":"-1","emoji":"👍"}`, true, reactFrame{}, unread},
		{`{"react":-1,"emoji":"👍"}`, true, reactFrame{}, unread},
		{`{"react":"0","emoji":"👍"}`, true, reactFrame{}, unread},
		{`{"react":0,"emoji":"👍"}`, true, reactFrame{}, unread},
		{`{"react":"","emoji":"👍"}`, true, reactFrame{}, unread},
		{`{"react":{"a":1},"emoji":"👍"}`, true, reactFrame{}, unread},
		{`{"react":[1],"emoji":"👍"}`, true, reactFrame{}, unread},
		{`{"react":"1.5","emoji":"👍"}`, true, reactFrame{}, unread},
		{`{"react":"99999999999999999999","emoji":"👍"}`, true, reactFrame{}, unread},
		{`{"react":"3"}`, true, reactFrame{}, unread},
		{`{"react":"3","emoji":"👍","nonce":"` + strings.Repeat("n", 65) + `"}`, true, reactFrame{}, expired},
	} {
		got, ok := decodeReact(context.Background(), websocket.MessageText, []byte(c.frame))
		if ok != c.ok || got.refusal != c.refusal {
			t.Errorf("%s: ok %v refusal %q; want %v %q", c.frame, ok, got.refusal, c.ok, c.refusal)
			continue
		}
		if ok && (got.seq != c.want.seq || got.emoji != c.want.emoji || got.nonce != c.want.nonce) {
			t.Errorf("%s: got %+v, want %+v", c.frame, got, c.want)
		}
	}
	if _, ok := decodeReact(context.Background(), websocket.MessageBinary, []byte(`{"react":"3","emoji":"👍"}`)); ok {
		t.Error("a binary frame was read as a reaction")
	}
	if _, ok := decodeReact(context.Background(), websocket.MessageText, []byte("{\"react\":\"3\",\"emoji\":\"\xff\"}")); ok {
		t.Error("a frame that is not UTF-8 was read as a reaction")
	}
	deep := `{"react":"3","emoji":"👍","x":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}`
	if _, ok := decodeReact(context.Background(), websocket.MessageText, []byte(deep)); ok {
		t.Error("a frame nested 20 deep was read as a reaction")
	}
}

// A message frame's reply_to is a message number, as a string or a bare
// number; absent, null or "" is none; anything else is refused, the nonce
// kept so that the page can tell which message it was.
func TestDecodeFrameReplyTo(t *testing.T) {
	unread := unreadable(context.Background())
	for _, c := range []struct {
		replyTo string // the JSON of reply_to; "" leaves it out
		want    int64
		refusal string
	}{
		{``, 0, ""},
		{`""`, 0, ""},
		{`null`, 0, ""},
		{`"7"`, 7, ""},
		{`7`, 7, ""},
		{`"9007199254740993"`, 9007199254740993, ""},
		{`"x"`, 0, unread},
		{`"-1"`, 0, unread},
		{`-1`, 0, unread},
		{`"0"`, 0, unread},
		{`0`, 0, unread},
		{`{"a":1}`, 0, unread},
		{`[7]`, 0, unread},
		{`"7 "`, 0, unread},
		{`true`, 0, unread},
		{`7.5`, 0, unread},
	} {
		frame := `{"text":"hello","nonce":"n1"`
		if c.replyTo != "" {
			frame += `,"reply_to":` + c.replyTo
		}
		frame += `,"headers":{"HX-Request":"true"}}`
		out, refusal := decodeFrame(context.Background(), websocket.MessageText, []byte(frame))
		if refusal != c.refusal {
			t.Errorf("reply_to %s: refusal %q, want %q", c.replyTo, refusal, c.refusal)
			continue
		}
		if out.nonce != "n1" {
			t.Errorf("reply_to %s: nonce %q, want n1 kept", c.replyTo, out.nonce)
		}
		if refusal != "" {
			continue
		}
		if out.replyTo != c.want || out.text != "hello" {
			t.Errorf("reply_to %s: got %+v, want reply to %d", c.replyTo, out, c.want)
		}
	}
	// A reply with no text is refused as any empty message is.
	if _, refusal := decodeFrame(context.Background(), websocket.MessageText, []byte(`{"nonce":"n1","reply_to":"3"}`)); refusal != "Type a message first." {
		t.Errorf("a reply without text: refusal %q", refusal)
	}
}

// The form and address form of a message number: digits alone, from 1.
func TestSeqParam(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		good bool
	}{
		{"", 0, true},
		{"1", 1, true},
		{"42", 42, true},
		{"0", 0, false},
		{"-3", 0, false},
		{"x", 0, false},
		{" 4", 0, false},
		{"4a", 0, false},
		{"99999999999999999999", 0, false},
	} {
		got, good := seqParam(c.in)
		if good != c.good || (good && got != c.want) {
			t.Errorf("seqParam(%q) = %d, %v; want %d, %v", c.in, got, good, c.want, c.good)
		}
	}
}
