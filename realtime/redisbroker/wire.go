package redisbroker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/chatrun/chat/realtime"
)

// wireEvent is the JSON of an event on a channel and of a history entry.
type wireEvent struct {
	Seq   int64              `json:"seq,omitempty"`
	First bool               `json:"first,omitempty"`
	Type  realtime.EventKind `json:"type"`
	Name  string             `json:"name"`
	Text  string             `json:"text,omitempty"`
	Time  time.Time          `json:"ts"`
	// Verified: the sender's identity was verified (realtime.Message).
	Verified bool `json:"verified,omitempty"`
}

// marshalEvent encodes w without HTML escaping: the text is stored and
// sent as written ("<" is one byte, not the six of "\u003c"); the page
// escapes it when it shows it.
func marshalEvent(w wireEvent) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func decodeEvent(room string, payload []byte) (realtime.Event, error) {
	var w wireEvent
	if err := json.Unmarshal(payload, &w); err != nil {
		return realtime.Event{}, fmt.Errorf("decode event in room %q: %w", room, err)
	}
	if w.Type == "" {
		w.Type = realtime.KindMessage
	}
	return realtime.Event{Room: room, Kind: w.Type, Message: w.message()}, nil
}

func decodeMessage(payload []byte) (realtime.Message, error) {
	var w wireEvent
	if err := json.Unmarshal(payload, &w); err != nil {
		return realtime.Message{}, fmt.Errorf("decode history entry: %w", err)
	}
	return w.message(), nil
}

func (w wireEvent) message() realtime.Message {
	return realtime.Message{Seq: w.Seq, First: w.First, Name: w.Name, Text: w.Text, Time: w.Time, Verified: w.Verified}
}
