package redisbroker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
)

// archiveLookback is how many of an archive stream's newest entries a
// change looks through for older entries of its message: the stream holds
// seconds of messages unless the archive is down.
const archiveLookback = 10000

// Change implements realtime.Broker: in the hot window, one script
// (changeScript); older, in the archive, when there is one.
func (b *Broker) Change(ctx context.Context, room string, c realtime.Change, guard string) (realtime.Message, bool, error) {
	text, err := json.Marshal(c.Text)
	if err != nil {
		return realtime.Message{}, false, fmt.Errorf("encode change: %w", err)
	}
	edited, err := json.Marshal(c.Time.UTC())
	if err != nil {
		return realtime.Message{}, false, fmt.Errorf("encode change: %w", err)
	}
	useGuard := "0"
	if guard != "" {
		useGuard = "1"
	}
	newer, older, nonce := guardKeys(room, guard)
	keys := []string{historyKey(room), newer, channelName(room), archiveStream(room), older}
	name, err := json.Marshal(c.Name)
	if err != nil {
		return realtime.Message{}, false, fmt.Errorf("encode change: %w", err)
	}
	res, err := changeScript.Run(ctx, b.rdb, keys,
		b.publish, c.Seq, c.Author, flag(c.Moderator), flag(c.Delete), text, edited,
		useGuard, min(guardTTL, b.roomTTL).Milliseconds(), nonce, guardsPerSession,
		flag(b.archive != nil), maxArchiveBacklog, archiveLookback,
		c.React, name, realtime.MaxReactionsPerPerson).Slice()
	if err != nil {
		b.stale()
		return realtime.Message{}, false, fmt.Errorf("change in room %q: %w", room, err)
	}
	code, _ := res[0].(int64)
	switch {
	case code == 0 && len(res) > 1:
		seq, _ := res[1].(int64)
		if b.archive != nil {
			// The first try may have died before it added the room.
			if err := b.rdb.SAdd(ctx, archiveRoomsKey, room).Err(); err != nil {
				return realtime.Message{}, false, fmt.Errorf("change in room %q: %w", room, err)
			}
		}
		return realtime.Message{Seq: seq}, true, nil
	case code == 1 && len(res) > 2:
		entry, _ := res[1].(string)
		m, err := decodeMessage([]byte(entry))
		if err != nil {
			return realtime.Message{}, false, fmt.Errorf("change in room %q: %w", room, err)
		}
		if fresh, _ := res[2].(int64); b.archive != nil && fresh == 1 {
			// Before the asker hears back, as for a send: only a stream
			// that held nothing else may be missing from the set.
			if err := b.rdb.SAdd(ctx, archiveRoomsKey, room).Err(); err != nil {
				return realtime.Message{}, false, fmt.Errorf("change in room %q: %w", room, err)
			}
		}
		return m, false, b.requote(ctx, room, c, m)
	case code == 2:
		return realtime.Message{}, false, realtime.ErrNoMessage
	case code == 4:
		return realtime.Message{}, false, realtime.ErrNotAuthor
	case code == 6:
		return realtime.Message{}, false, realtime.ErrTooManyReactions
	case code == 5:
		m, dup, err := b.changeArchived(ctx, room, c)
		if err != nil {
			return m, dup, err
		}
		return m, dup, b.requote(ctx, room, c, m)
	}
	return realtime.Message{}, false, fmt.Errorf("change in room %q: unexpected reply %v", room, res)
}

// requote has the replies to m in the hot window show m as changed by c
// (requoteScript); a reaction changes no quote. The change is made by
// then: an error says only that replies may show the message as it was.
func (b *Broker) requote(ctx context.Context, room string, c realtime.Change, m realtime.Message) error {
	if c.React != "" {
		return nil
	}
	q, err := json.Marshal(realtime.QuoteOf(m))
	if err != nil {
		return fmt.Errorf("encode quote: %w", err)
	}
	n, err := requoteScript.Run(ctx, b.rdb, []string{historyKey(room), archiveStream(room)},
		m.Seq, q, flag(b.archive != nil), maxArchiveBacklog).Int()
	if err == nil && n > 0 && b.archive != nil {
		// The archivers may have drained the stream since the change.
		err = b.rdb.SAdd(ctx, archiveRoomsKey, room).Err()
	}
	if err != nil {
		return fmt.Errorf("update the replies to message %d in room %q: %w", m.Seq, room, err)
	}
	return b.requoteArchived(ctx, room, m)
}

// requoteArchived has the replies to m that the archive holds show m as
// it is now, when the archive can find them (realtime.ReplyArchive): those
// past the hot window keep no quote of a deleted text either.
func (b *Broker) requoteArchived(ctx context.Context, room string, m realtime.Message) error {
	ra, ok := b.archive.(realtime.ReplyArchive)
	if !ok {
		return nil
	}
	replies, err := ra.RepliesTo(ctx, room, m.Seq)
	if err != nil {
		return fmt.Errorf("update the archived replies to message %d in room %q: %w", m.Seq, room, err)
	}
	if len(replies) == 0 {
		return nil
	}
	q := realtime.QuoteOf(m)
	for i := range replies {
		replies[i].Quote = &q
	}
	if err := b.archive.Store(ctx, room, replies); err != nil {
		return fmt.Errorf("update the archived replies to message %d in room %q: %w", m.Seq, room, err)
	}
	return nil
}

// changeArchived changes a message older than the hot window, which only
// the archive keeps: read, checked, written back, then published. Two
// changes of one old message at once may both be written; the later wins.
func (b *Broker) changeArchived(ctx context.Context, room string, c realtime.Change) (realtime.Message, bool, error) {
	if b.archive == nil {
		return realtime.Message{}, false, realtime.ErrNoMessage
	}
	msgs, _, err := b.archive.Before(ctx, room, c.Seq+1, 1)
	if err != nil {
		return realtime.Message{}, false, fmt.Errorf("change in room %q: %w", room, err)
	}
	if len(msgs) == 0 || msgs[0].Seq != c.Seq {
		return realtime.Message{}, false, realtime.ErrNoMessage
	}
	m, err := c.Apply(msgs[0])
	if err != nil {
		return realtime.Message{}, false, err
	}
	m.First = false
	if err := b.archive.Store(ctx, room, []realtime.Message{m}); err != nil {
		return realtime.Message{}, false, fmt.Errorf("change in room %q: %w", room, err)
	}
	body, err := encodeRecord(recordOf(realtime.KindChanged, m))
	if err != nil {
		return realtime.Message{}, false, fmt.Errorf("encode change: %w", err)
	}
	if err := b.publishRaw(ctx, room, body); err != nil {
		return realtime.Message{}, false, fmt.Errorf("change in room %q: %w", room, err)
	}
	return m, false, nil
}

// publishRaw publishes body on room's channel, classic or sharded.
func (b *Broker) publishRaw(ctx context.Context, room string, body []byte) error {
	if b.mode == ShardedPubSub {
		return b.rdb.SPublish(ctx, channelName(room), body).Err()
	}
	return b.rdb.Publish(ctx, channelName(room), body).Err()
}

func flag(on bool) string {
	if on {
		return "1"
	}
	return "0"
}

// Remove implements realtime.Removals.
func (b *Broker) Remove(ctx context.Context, room, session, name string, until time.Time) error {
	body, err := encodeRecord(record{Type: realtime.KindRemoved, Name: name, Author: session, Time: time.Now()})
	if err != nil {
		return fmt.Errorf("encode removal: %w", err)
	}
	at := "0"
	if !until.IsZero() {
		at = strconv.FormatInt(until.UnixMilli(), 10)
	}
	err = removeScript.Run(ctx, b.rdb, []string{removedKey(room, session), channelName(room)}, b.publish, at, body).Err()
	if err != nil {
		return fmt.Errorf("remove from room %q: %w", room, err)
	}
	return nil
}

// Removed implements realtime.Removals.
func (b *Broker) Removed(ctx context.Context, room, session string) (time.Time, bool, error) {
	v, err := b.rdb.Get(ctx, removedKey(room, session)).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("removal from room %q: %w", room, err)
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("removal from room %q: %q: %w", room, v, err)
	}
	if ms == 0 {
		return time.Time{}, true, nil
	}
	until := time.UnixMilli(ms)
	// The key expires at until; one read in the last moment says so.
	return until, time.Now().Before(until), nil
}

// NameOwner implements realtime.NameBook: the identity holding any of the
// name's keys.
func (b *Broker) NameOwner(ctx context.Context, name string) (string, error) {
	for _, k := range realtime.NameKeys(name) {
		subject, err := b.rdb.Get(ctx, boundNameKey(k)).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("owner of name %q: %w", name, err)
		}
		return subject, nil
	}
	return "", nil
}
