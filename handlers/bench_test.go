package handlers

import (
	"testing"
	"time"

	"github.com/chatrun/chat/i18n"
	"github.com/chatrun/chat/realtime"
)

// BenchmarkRenderMessage renders one message fragment, the work done once
// per message per instance.
func BenchmarkRenderMessage(b *testing.B) {
	m := realtime.Message{Seq: 12345, Name: "Ann", Text: "Yes, after lunch. The new instances drain in under a second.", Time: time.Now()}
	b.ReportAllocs()
	for b.Loop() {
		Fragments{}.Message(m)
	}
}

// BenchmarkRenderHistory renders the 100-message history that opens every
// connection.
func BenchmarkRenderHistory(b *testing.B) {
	msgs := make([]realtime.Message, 100)
	for i := range msgs {
		msgs[i] = realtime.Message{Seq: int64(i + 1), Name: "Ann", Text: "a message of a usual length, more or less", Time: time.Now()}
	}
	b.ReportAllocs()
	for b.Loop() {
		Fragments{}.MessageList(msgs)
	}
}

// BenchmarkRenderMessageIn renders one message fragment in each language:
// what an instance pays once per message for every language read in the
// room (realtime renders per language present, not per socket).
func BenchmarkRenderMessageIn(b *testing.B) {
	m := realtime.Message{Seq: 12345, Name: "Ann", Text: "Yes, after lunch. The new instances drain in under a second.", Time: time.Now()}
	for lang, r := range (Fragments{Handle: AuthorHandles([]byte("bench"))}).Languages(i18n.Default()) {
		b.Run(lang, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Message(m)
			}
		})
	}
}
