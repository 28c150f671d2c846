package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatrun/chat/handlers"
	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/views"
)

// fragments renders as the server does, less the WebSocket header the
// server's renderer writes in front: what a client reads.
var fragments payloads

type payloads struct{ f handlers.Fragments }

func (p payloads) Message(m realtime.Message) []byte { return unframe(p.f.Message(m)) }
func (p payloads) MessageList(msgs []realtime.Message) []byte {
	return unframe(p.f.MessageList(msgs))
}
func (p payloads) Presence(entered, left, names []string) []byte {
	return unframe(p.f.Presence(entered, left, names))
}

// unframe returns the payload of one unmasked WebSocket frame.
func unframe(b []byte) []byte {
	switch b[1] {
	case 126:
		return b[4:]
	case 127:
		return b[10:]
	}
	return b[2:]
}

func msg(seq int64, text string) realtime.Message {
	return realtime.Message{Seq: seq, Name: "ann <&>", Text: text, Time: time.Unix(1700000000, 0)}
}

func items(frame []byte) (seqs []int64, texts []string, hist []bool, histories int) {
	histories = scanFrame(frame, func(it item) {
		seqs = append(seqs, it.seq)
		texts = append(texts, string(it.text))
		hist = append(hist, it.history)
	})
	return
}

// The frames come from the server's own renderer, so that a change of
// markup breaks this test rather than the counts.
func TestScanFrame(t *testing.T) {
	history := fragments.MessageList([]realtime.Message{msg(7, "old <b>"), msg(8, "b run 1 2")})
	one := fragments.Message(msg(9, "b abc 3 1700000000123456789"))
	// Several fragments coalesced into one WebSocket message.
	several := slices.Concat(fragments.Message(msg(10, "x")), fragments.Presence([]string{"bob"}, nil, []string{"bob"}),
		fragments.Message(msg(11, "y")), fragments.Message(msg(12, "z")))

	seqs, texts, hist, n := items(history)
	if n != 1 || !slices.Equal(seqs, []int64{7, 8}) || !slices.Equal(hist, []bool{true, true}) || texts[0] != "old &lt;b&gt;" || texts[1] != "b run 1 2" {
		t.Errorf("history: %d lists, %v %q %v", n, seqs, texts, hist)
	}
	seqs, texts, hist, n = items(one)
	if n != 0 || !slices.Equal(seqs, []int64{9}) || hist[0] || texts[0] != "b abc 3 1700000000123456789" {
		t.Errorf("one message: %d lists, %v %q %v", n, seqs, texts, hist)
	}
	seqs, _, _, _ = items(several)
	if !slices.Equal(seqs, []int64{10, 11, 12}) {
		t.Errorf("coalesced frame: %v; want 10 11 12", seqs)
	}
	// A history list followed by live appends in one message.
	seqs, _, hist, n = items(slices.Concat(one, history, several))
	if n != 1 || !slices.Equal(seqs, []int64{9, 7, 8, 10, 11, 12}) || !slices.Equal(hist, []bool{false, true, true, false, false, false}) {
		t.Errorf("mixed frame: %d lists, %v %v", n, seqs, hist)
	}
	if _, _, _, n := items(fragments.MessageList(nil)); n != 1 {
		t.Errorf("empty history: %d lists", n)
	}
	// Lookalikes are not items.
	seqs, _, _, _ = items([]byte(`<li id="msg-x"><li id="msg-12 "><li id="msg-"><p>msg-5</p>`))
	if len(seqs) != 0 {
		t.Errorf("lookalikes: %v", seqs)
	}
}

func TestScanReplies(t *testing.T) {
	var sent, refusal bytes.Buffer
	if err := views.SentOOB("NONCE", 7).Render(context.Background(), &sent); err != nil {
		t.Fatal(err)
	}
	if err := views.RefusedOOB("Slow down: you are sending too fast.", "N2", false).Render(context.Background(), &refusal); err != nil {
		t.Fatal(err)
	}
	var reasons []string
	frame := slices.Concat(sent.Bytes(), fragments.Message(msg(3, "hi")), refusal.Bytes(), sent.Bytes())
	acc := scanReplies(frame, func(r []byte) { reasons = append(reasons, string(r)) })
	if acc != 2 || !slices.Equal(reasons, []string{"Slow down: you are sending too fast."}) {
		t.Errorf("accepted %d, refused %q; want 2 and one Slow down", acc, reasons)
	}
	if acc := scanReplies(fragments.MessageList([]realtime.Message{msg(1, "a")}), nil); acc != 0 {
		t.Errorf("history counted as %d replies", acc)
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	frame := appendSendFrame(nil, "abcd1234", 42, 7, 1700000000123456789)
	want := `{"text":"b abcd1234 42 1700000000123456789","nonce":"abcd1234-42-7","headers":{"HX-Request":"true"}}`
	if string(frame) != want {
		t.Fatalf("frame %s\nwant  %s", frame, want)
	}
	sender, sent, ok := parsePayload([]byte("b abcd1234 42 1700000000123456789"), "abcd1234")
	if !ok || sender != 42 || sent != 1700000000123456789 {
		t.Errorf("parse: %d %d %v", sender, sent, ok)
	}
	for _, bad := range []string{"", "b", "b abcd1234", "b abcd1234 42", "b other123 42 1", "b abcd1234 x 1", "b abcd1234 1 2 3", "hello"} {
		if _, _, ok := parsePayload([]byte(bad), "abcd1234"); ok {
			t.Errorf("%q parsed as a payload", bad)
		}
	}
}

// handle is what counts: history start, deliveries, duplicates, others'
// messages and a resync.
func TestMemberHandle(t *testing.T) {
	b := &bench{run: "run1"}
	m := &member{last: -1, sender: true}
	p := func(seq int64) realtime.Message {
		return msg(seq, fmt.Sprintf("b run1 0 %d", time.Now().UnixNano()))
	}
	now := time.Now().Add(time.Second).UnixNano() // every message took about 1 s
	m.handle(fragments.MessageList([]realtime.Message{msg(4, "before"), msg(5, "b run0 0 1")}), now, b)
	if m.last != 5 || m.received.Load() != 0 {
		t.Fatalf("after history: last %d, received %d", m.last, m.received.Load())
	}
	m.handle(slices.Concat(fragments.Message(p(6)), fragments.Message(p(7))), now, b)                 // coalesced
	m.handle(fragments.Message(p(7)), now, b)                                                         // duplicate
	m.handle(fragments.Message(msg(8, "someone else")), now, b)                                       // foreign
	m.handle(fragments.Message(p(5)), now, b)                                                         // below the start
	m.handle(fragments.MessageList([]realtime.Message{p(6), p(7), msg(8, "x"), p(9), p(10)}), now, b) // resync
	m.handle(fragments.Message(p(11)), now, b)
	if got := m.received.Load(); got != 5 {
		t.Errorf("received %d; want 5 (6, 7, 9, 10, 11)", got)
	}
	if m.dups != 2 || m.foreign != 1 || m.resynced != 2 || m.histories != 2 || m.last != 11 {
		t.Errorf("dups %d (want 2), foreign %d (1), resynced %d (2), histories %d (2), last %d (11)", m.dups, m.foreign, m.resynced, m.histories, m.last)
	}
	if s := b.latency.summary(); s.count != 5 || s.p50 < 950_000 || s.max > 1_000_000 {
		t.Errorf("latency %+v; want 5 samples of about 1 s", s)
	}
	text := fmt.Sprintf("b run1 0 %d", now)
	if !strings.Contains(string(fragments.Message(msg(1, text))), ">"+text+"<") {
		t.Error("the payload is not shown as it was sent")
	}
}

// BenchmarkHandle is the generator's cost per delivery, which must stay
// small next to the server's.
func BenchmarkHandle(b *testing.B) {
	bn := &bench{run: "run1"}
	m := &member{}
	frames := make([][]byte, 1000)
	for i := range frames {
		frames[i] = fragments.Message(msg(int64(i+1), fmt.Sprintf("b run1 0 %d", time.Now().UnixNano())))
	}
	now := time.Now().UnixNano()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%len(frames) == 0 {
			m.last = 0
		}
		m.handle(frames[i%len(frames)], now, bn)
	}
}
