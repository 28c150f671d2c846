package redisbroker

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/chatrun/chat/realtime"
)

// record is Redis's JSON of a message or a notice: a history entry and an
// archive stream entry (stored, with its seq), and what a room's channel
// carries (published). Its field names are the data in Redis: renaming one
// loses what is stored.
type record struct {
	Seq   int64              `json:"seq,omitempty"`
	First bool               `json:"first,omitempty"`
	Type  realtime.EventKind `json:"type"`
	Name  string             `json:"name"`
	Text  string             `json:"text,omitempty"`
	Time  time.Time          `json:"ts"`
	// Verified: the sender's identity was verified (realtime.Message).
	Verified bool `json:"verified,omitempty"`
	// Author, Edited and Deleted are realtime.Message's: who sent it
	// (never shown), when its text last changed, who took it back.
	Author  string            `json:"author,omitempty"`
	Edited  time.Time         `json:"edited,omitzero"`
	Deleted realtime.Deletion `json:"deleted,omitempty"`
	// Reactions, ReplyTo and Quote are realtime.Message's. changeScript
	// reads and writes them: "reply_to" is spelt there too.
	Reactions []realtime.Reaction `json:"reactions,omitempty"`
	ReplyTo   int64               `json:"reply_to,omitempty"`
	Quote     *realtime.Quote     `json:"quote,omitempty"`
	// Files are realtime.Message's; changeScript drops them with the
	// text when the message is deleted.
	Files []realtime.Attachment `json:"files,omitempty"`
}

// recordOf is m as Redis stores it.
func recordOf(kind realtime.EventKind, m realtime.Message) record {
	return record{Seq: m.Seq, First: m.First, Type: kind, Name: m.Name, Text: m.Text, Time: m.Time,
		Verified: m.Verified, Author: m.Author, Edited: m.Edited, Deleted: m.Deleted,
		Reactions: m.Reactions, ReplyTo: m.ReplyTo, Quote: m.Quote, Files: m.Files}
}

// encodeRecord encodes r without HTML escaping: the text is stored and
// sent as written ("<" is one byte, not the six of "\u003c"); the page
// escapes it when it shows it.
func encodeRecord(r record) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// published is a record as published on a room's channel: a message
// also names, as its reader, the sender whose read mark it raised
// (sendScript); the stored record does not.
type published struct {
	record
	Reader string `json:"reader,omitempty"`
}

// decodeEvent reads a record published on room's channel, and its
// reader.
func decodeEvent(room string, payload []byte) (realtime.Event, string, error) {
	var r published
	if err := json.Unmarshal(payload, &r); err != nil {
		return realtime.Event{}, "", fmt.Errorf("decode event in room %q: %w", room, err)
	}
	if r.Type == "" {
		r.Type = realtime.KindMessage
	}
	return realtime.Event{Room: room, Kind: r.Type, Message: r.message()}, r.Reader, nil
}

// decodeMessage reads a stored record: a history or archive stream entry.
func decodeMessage(payload []byte) (realtime.Message, error) {
	var r record
	if err := json.Unmarshal(payload, &r); err != nil {
		return realtime.Message{}, fmt.Errorf("decode history entry: %w", err)
	}
	return r.message(), nil
}

func (r record) message() realtime.Message {
	return realtime.Message{Seq: r.Seq, First: r.First, Name: r.Name, Text: r.Text, Time: r.Time,
		Verified: r.Verified, Author: r.Author, Edited: r.Edited, Deleted: r.Deleted,
		Reactions: r.Reactions, ReplyTo: r.ReplyTo, Quote: r.Quote, Files: r.Files}
}
