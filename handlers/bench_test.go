package handlers

import (
	"testing"
	"time"

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
