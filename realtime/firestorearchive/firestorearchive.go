// Package firestorearchive keeps rooms' messages in Cloud Firestore: the
// realtime.Archive of a deployment that must not forget. Each message is a
// document rooms/{room}/messages/{seq}, its id the seq zero-padded so that
// ids sort as numbers do; writing one again writes the same document.
//
// The client honours FIRESTORE_EMULATOR_HOST, which tests point at the
// emulator.
package firestorearchive

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chatrun/chat/realtime"
)

// Archive is a realtime.Archive on one Firestore database.
type Archive struct {
	client    *firestore.Client
	retention time.Duration // 0: for good
}

// Option changes how New sets up an Archive.
type Option func(*Archive)

// WithRetention has every message carry an expireAt that far after it was
// sent, for a Firestore TTL policy on the messages collection group's
// expireAt field to delete it.
func WithRetention(d time.Duration) Option { return func(a *Archive) { a.retention = d } }

// New returns an archive on client, which stays the caller's to close.
func New(client *firestore.Client, opts ...Option) *Archive {
	a := &Archive{client: client}
	for _, o := range opts {
		o(a)
	}
	return a
}

// doc is a message as stored.
type doc struct {
	Seq      int64     `firestore:"seq"`
	Name     string    `firestore:"name"`
	Text     string    `firestore:"text"`
	Time     time.Time `firestore:"ts"`
	Verified bool      `firestore:"verified,omitempty"`
	ExpireAt time.Time `firestore:"expireAt,omitempty"`
	// Author, Edited and Deleted are realtime.Message's. A Set replaces the
	// whole document: a deleted message's text is gone, not hidden.
	Author  string    `firestore:"author,omitempty"`
	Edited  time.Time `firestore:"edited,omitempty"`
	Deleted string    `firestore:"deleted,omitempty"`
	// Reactions, ReplyTo and Quote are realtime.Message's.
	Reactions []reactionDoc `firestore:"reactions,omitempty"`
	ReplyTo   int64         `firestore:"replyTo,omitempty"`
	Quote     *quoteDoc     `firestore:"quote,omitempty"`
	// Files are realtime.Message's attachments (the files themselves
	// are in the file store).
	Files []fileDoc `firestore:"files,omitempty"`
}

// fileDoc is a realtime.Attachment as stored.
type fileDoc struct {
	ID     string `firestore:"id"`
	Name   string `firestore:"name"`
	Type   string `firestore:"type"`
	Size   int64  `firestore:"size"`
	Image  bool   `firestore:"image,omitempty"`
	Width  int    `firestore:"width,omitempty"`
	Height int    `firestore:"height,omitempty"`
}

// reactionDoc is a realtime.Reaction as stored.
type reactionDoc struct {
	Emoji   string   `firestore:"emoji"`
	Authors []string `firestore:"authors"`
	Names   []string `firestore:"names"`
}

// quoteDoc is a realtime.Quote as stored.
type quoteDoc struct {
	Name    string `firestore:"name"`
	Text    string `firestore:"text,omitempty"`
	Deleted string `firestore:"deleted,omitempty"`
}

// docOf is m as stored.
func docOf(m realtime.Message) doc {
	d := doc{Seq: m.Seq, Name: m.Name, Text: m.Text, Time: m.Time, Verified: m.Verified,
		Author: m.Author, Edited: m.Edited, Deleted: string(m.Deleted), ReplyTo: m.ReplyTo}
	for _, r := range m.Reactions {
		d.Reactions = append(d.Reactions, reactionDoc(r))
	}
	if m.Quote != nil {
		d.Quote = &quoteDoc{Name: m.Quote.Name, Text: m.Quote.Text, Deleted: string(m.Quote.Deleted)}
	}
	for _, f := range m.Files {
		d.Files = append(d.Files, fileDoc(f))
	}
	return d
}

// message is d as a realtime.Message.
func (d doc) message() realtime.Message {
	m := realtime.Message{Seq: d.Seq, Name: d.Name, Text: d.Text, Time: d.Time, Verified: d.Verified,
		Author: d.Author, Edited: d.Edited, Deleted: realtime.Deletion(d.Deleted), ReplyTo: d.ReplyTo}
	for _, r := range d.Reactions {
		m.Reactions = append(m.Reactions, realtime.Reaction(r))
	}
	if d.Quote != nil {
		m.Quote = &realtime.Quote{Name: d.Quote.Name, Text: d.Quote.Text, Deleted: realtime.Deletion(d.Quote.Deleted)}
	}
	for _, f := range d.Files {
		m.Files = append(m.Files, realtime.Attachment(f))
	}
	return m
}

func (a *Archive) messages(room string) *firestore.CollectionRef {
	return a.client.Collection("rooms").Doc(room).Collection("messages")
}

// id is a message's document id: sortable, the same however often written.
func id(seq int64) string { return fmt.Sprintf("%012d", seq) }

// maxBatch is what one BulkWriter flush is given at most; Firestore takes
// up to 500 writes in a batch.
const maxBatch = 500

// RefusedError is a write Firestore will not take whatever is tried again
// soon: the room's document id is one it refuses, or the data is. It is
// about that room alone, where any other error may mean Firestore is
// unavailable to every room. Its Refused method says so to callers that
// do not import this package (the Redis broker's archivers).
type RefusedError struct {
	Room string
	Err  error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("archive room %q: Firestore refuses its messages: %v", e.Room, e.Err)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// Refused reports that the write was refused, not left unanswered.
func (e *RefusedError) Refused() bool { return true }

// errReservedID is a room whose name Firestore would refuse as an id.
var errReservedID = errors.New("not a valid Firestore document id (ids matching __.*__, ., .., holding / or over 1,500 bytes are refused)")

// ValidID reports whether Firestore takes room as a document id: not
// empty, at most 1,500 bytes, no "/", not "." or "..", not __.*__ (ids
// Firestore reserves). Room names are checked at the door with the same
// rules; rooms stored before that may still reach the archive.
func ValidID(room string) bool {
	switch {
	case room == "", len(room) > 1500, strings.Contains(room, "/"), room == ".", room == "..":
		return false
	case len(room) >= 4 && strings.HasPrefix(room, "__") && strings.HasSuffix(room, "__"):
		return false
	}
	return true
}

// refusal tells a write Firestore refused for what it is (an invalid
// argument, a precondition) from one it could not take now: only the first
// kind is a RefusedError.
func refusal(room string, err error) error {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange, codes.AlreadyExists, codes.NotFound:
		return &RefusedError{Room: room, Err: err}
	}
	return fmt.Errorf("archive room %q: %w", room, err)
}

// Store implements realtime.Archive: one Set per message, in bulk. A room
// whose name is not a valid document id is refused before any call.
func (a *Archive) Store(ctx context.Context, room string, msgs []realtime.Message) error {
	if !ValidID(room) {
		return &RefusedError{Room: room, Err: errReservedID}
	}
	for len(msgs) > 0 {
		n := min(len(msgs), maxBatch)
		bw := a.client.BulkWriter(ctx)
		jobs := make([]*firestore.BulkWriterJob, 0, n)
		for _, m := range msgs[:n] {
			d := docOf(m)
			if a.retention > 0 {
				d.ExpireAt = m.Time.Add(a.retention)
			}
			job, err := bw.Set(a.messages(room).Doc(id(m.Seq)), d)
			if err != nil {
				// Refused before any call (the data), unless time ran out.
				bw.End()
				if ctx.Err() != nil {
					return fmt.Errorf("archive room %q: %w", room, err)
				}
				return &RefusedError{Room: room, Err: err}
			}
			jobs = append(jobs, job)
		}
		bw.End()
		for _, j := range jobs {
			if _, err := j.Results(); err != nil {
				return refusal(room, err)
			}
		}
		msgs = msgs[n:]
	}
	return nil
}

// Before implements realtime.Archive.
func (a *Archive) Before(ctx context.Context, room string, before int64, limit int) ([]realtime.Message, bool, error) {
	q := a.messages(room).Where("seq", "<", before).OrderBy("seq", firestore.Desc).Limit(limit + 1)
	msgs, err := a.read(ctx, q)
	if err != nil {
		return nil, false, fmt.Errorf("scroll back in room %q: %w", room, err)
	}
	more := len(msgs) > limit
	if more {
		msgs = msgs[1:]
	}
	return msgs, more, nil
}

// maxReplies bounds the replies to one message RepliesTo reads.
const maxReplies = 500

// RepliesTo implements realtime.ReplyArchive: the room's messages that
// answer seq (at most maxReplies, the newest), oldest first. It uses
// Firestore's single-field index on replyTo, which needs no set-up.
func (a *Archive) RepliesTo(ctx context.Context, room string, seq int64) ([]realtime.Message, error) {
	msgs, err := a.read(ctx, a.messages(room).Where("replyTo", "==", seq).Limit(maxReplies))
	if err != nil {
		return nil, fmt.Errorf("replies to message %d of room %q: %w", seq, room, err)
	}
	slices.SortFunc(msgs, func(x, y realtime.Message) int { return cmp.Compare(x.Seq, y.Seq) })
	return msgs, nil
}

// Latest implements realtime.Archive.
func (a *Archive) Latest(ctx context.Context, room string, limit int) ([]realtime.Message, error) {
	msgs, err := a.read(ctx, a.messages(room).OrderBy("seq", firestore.Desc).Limit(limit))
	if err != nil {
		return nil, fmt.Errorf("latest of room %q: %w", room, err)
	}
	return msgs, nil
}

// read runs a query that yields the newest first, and returns oldest first.
func (a *Archive) read(ctx context.Context, q firestore.Query) ([]realtime.Message, error) {
	it := q.Documents(ctx)
	defer it.Stop()
	var msgs []realtime.Message
	for {
		snap, err := it.Next()
		if errors.Is(err, iterator.Done) {
			break
		}
		if err != nil {
			return nil, err
		}
		var d doc
		if err := snap.DataTo(&d); err != nil {
			return nil, err
		}
		msgs = append(msgs, d.message())
	}
	for i, j := 0, len(msgs)-1; i < j; i, j = i+1, j-1 {
		msgs[i], msgs[j] = msgs[j], msgs[i]
	}
	return msgs, nil
}
