package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
)

// Archiving. With an archive, the send script appends every message to its
// room's stream (archiveStream), and the sender adds the room to
// archiveRoomsKey before its sender hears back. Every instance drains those
// streams into the archive through one consumer group per stream: an entry
// is acknowledged and deleted only once stored, and entries that a consumer
// left pending (it died) are claimed by another after archiveClaimIdle. The
// archive's writes are idempotent by room and seq, so an entry stored twice
// is stored once. Nothing of this is on the send path's way: sends do not
// wait for the archive.

// maxArchiveBacklog bounds an archive stream while the archive is down:
// past it the oldest entries go (approximately, as XADD MAXLEN ~ does).
const maxArchiveBacklog = 100_000

// Timing of the archivers.
const (
	archiveEvery     = time.Second      // a pass over the rooms
	archiveBatch     = 500              // entries per read
	archiveClaimIdle = 10 * time.Second // a consumer's pending entry is another's after this
	archiveWait      = 10 * time.Second // bounds one room's pass
)

// WithArchive has the broker keep every message in a as well: sends append
// to the room's archive stream, the broker drains the streams into a, and
// a room Redis lost is restored from a at first use. archived, when not
// nil, is told after each pass how many entries wait, and the last error.
func WithArchive(a realtime.Archive, archived func(backlog int, err error)) Option {
	return func(b *Broker) { b.archive, b.archived = a, archived }
}

// restoreWait bounds asking the archive for a room Redis knows nothing of:
// an archive that does not answer must leave the caller time to go on.
const restoreWait = 2 * time.Second

// Rooms the archive has nothing of are remembered in memory, never in
// Redis: a page opened at a made-up name writes nothing to the store, and
// opening it again within emptyRoomMemory asks the archive nothing either.
// At most maxEmptyRooms are remembered, so made-up names cannot grow the
// instance's memory.
const (
	emptyRoomMemory = time.Minute
	maxEmptyRooms   = 10_000
)

// emptyRooms remembers rooms the archive had nothing of, until when.
type emptyRooms struct {
	mu    sync.Mutex
	until map[string]time.Time
}

// known reports whether room was found empty lately.
func (e *emptyRooms) known(room string, now time.Time) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return now.Before(e.until[room])
}

// note remembers room as empty; when full, it forgets what has lapsed and,
// if that is not enough, any one room (a lookup more, not a wrong answer).
func (e *emptyRooms) note(room string, now time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.until == nil {
		e.until = make(map[string]time.Time)
	}
	if len(e.until) >= maxEmptyRooms {
		for r, t := range e.until {
			if !now.Before(t) {
				delete(e.until, r)
			}
		}
		for r := range e.until {
			if len(e.until) < maxEmptyRooms {
				break
			}
			delete(e.until, r)
		}
	}
	e.until[room] = now.Add(emptyRoomMemory)
}

// noteFor remembers room for d rather than emptyRoomMemory.
func (e *emptyRooms) noteFor(room string, now time.Time, d time.Duration) {
	e.note(room, now)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.until[room] = now.Add(d)
}

// forget drops room: it has messages now.
func (e *emptyRooms) forget(room string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.until, room)
}

// restore refills room from the archive: Redis holds nothing of it. A room
// the archive has nothing of is left as it is, not written: it reports
// whether it wrote the room back.
func (b *Broker) restore(ctx context.Context, room string) (bool, error) {
	actx, cancel := context.WithTimeout(ctx, restoreWait)
	defer cancel()
	msgs, err := b.archive.Latest(actx, room, b.historySize)
	if err != nil {
		return false, fmt.Errorf("restore from the archive: %w", err)
	}
	if len(msgs) == 0 {
		b.empty.note(room, time.Now())
		return false, nil
	}
	b.empty.forget(room)
	args := []any{b.roomTTL.Milliseconds(), msgs[len(msgs)-1].Seq}
	for _, m := range msgs {
		m.First = false // the window restored is not the start of a numbering
		e, err := encodeRecord(recordOf(realtime.KindMessage, m))
		if err != nil {
			return false, fmt.Errorf("restore: %w", err)
		}
		args = append(args, e)
	}
	if err := restoreScript.Run(ctx, b.rdb, []string{seqKey(room), historyKey(room)}, args...).Err(); err != nil {
		return false, fmt.Errorf("restore: %w", err)
	}
	return true, nil
}

// archiveUnreachable reports a room numbered without its archive's word:
// had Redis lost a room that had messages, their numbers come again.
func (b *Broker) archiveUnreachable(room string, err error) {
	if b.archived != nil {
		b.archived(-1, fmt.Errorf("room %q numbered without the archive, which did not answer: %w", room, err))
	}
}

// archiver is one instance's draining state, owned by archiveLoop.
type archiver struct {
	groups  map[string]bool // streams whose group this instance made sure of
	pending map[string]bool // rooms where this consumer holds unstored entries
	aside   map[string]*setAside
	passes  int
}

// setAside is a room whose messages the archive refused (not: did not
// answer), such as a name Firestore reserves that was valid here before the
// door refused it: the room waits, with its entries kept in its stream, and
// is tried again after a back-off, while every other room goes on.
type setAside struct {
	tries int
	next  time.Time // tried again from then
	err   error     // the archive's refusal
}

// Back-off of a room set aside: doubling from archiveEvery, at most
// maxAsideWait.
const maxAsideWait = 5 * time.Minute

func asideWait(tries int) time.Duration {
	return min(archiveEvery<<min(tries, 16), maxAsideWait)
}

// refused reports an archive's refusal of one room's write, which it marks
// with a Refused method (firestorearchive.RefusedError); any other error of
// the archive may be its being unavailable, which pauses the whole pass.
func refused(err error) bool {
	var r interface{ Refused() bool }
	return errors.As(err, &r) && r.Refused()
}

// archiveLoop drains the archive streams until the broker is closed.
func (b *Broker) archiveLoop() {
	defer close(b.archiveDone)
	tick := time.NewTicker(archiveEvery)
	defer tick.Stop()
	a := &archiver{groups: map[string]bool{}, pending: map[string]bool{}, aside: map[string]*setAside{}}
	for {
		select {
		case <-b.quit:
			return
		case <-tick.C:
		}
		backlog, err := b.archivePass(a)
		if b.archived != nil {
			b.archived(backlog, err)
		}
	}
}

// archivePass drains every room's stream once, and returns how many
// entries wait still.
func (b *Broker) archivePass(a *archiver) (backlog int, lastErr error) {
	pass, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-b.quit:
			cancel()
		case <-pass.Done():
		}
	}()
	ctx, cancelRooms := context.WithTimeout(pass, archiveWait)
	rooms, err := b.rdb.SMembers(ctx, archiveRoomsKey).Result()
	cancelRooms()
	if err != nil {
		return 0, fmt.Errorf("archive: rooms: %w", err)
	}
	// Entries a dead consumer left are claimed once they have been idle for
	// archiveClaimIdle: looking more often finds nothing.
	claim := a.passes%int(archiveClaimIdle/archiveEvery) == 0
	a.passes++
	var asideErrs []error
	for i, room := range rooms {
		if s := a.aside[room]; s != nil && time.Now().Before(s.next) {
			backlog += b.backlog(archiveStream(room))
			asideErrs = append(asideErrs, asideError(room, s))
			continue
		}
		// Each room has its own deadline: a large backlog in one (after an
		// outage) does not starve the others or cut a write short.
		ctx, cancelRoom := context.WithTimeout(pass, archiveWait)
		left, err := b.archiveRoom(ctx, a, room, claim)
		cancelRoom()
		backlog += left
		if pass.Err() != nil {
			if err != nil {
				lastErr = err
			}
			break
		}
		if refused(err) {
			// This room's messages, not the archive, are the trouble: the
			// room is set aside and the pass goes on.
			s := a.aside[room]
			if s == nil {
				s = &setAside{}
				a.aside[room] = s
			}
			s.tries++
			s.next, s.err = time.Now().Add(asideWait(s.tries)), err
			asideErrs = append(asideErrs, asideError(room, s))
			continue
		}
		delete(a.aside, room) // stored, or failed for another reason than the room
		if err == nil {
			continue
		}
		lastErr = err
		if errors.Is(err, errStore) {
			// The archive does not take writes now: the other rooms wait
			// for the next pass, and are only counted.
			for _, other := range rooms[i+1:] {
				backlog += b.backlog(archiveStream(other))
			}
			break
		}
	}
	for room := range a.aside {
		if !slices.Contains(rooms, room) {
			delete(a.aside, room) // its stream is gone: nothing waits
		}
	}
	return backlog, errors.Join(append([]error{lastErr}, asideErrs...)...)
}

// asideError says that room is set aside, why and until when: the pass's
// error carries it to the log and the metrics while the room waits.
func asideError(room string, s *setAside) error {
	return fmt.Errorf("archive: room %q set aside after %d refused tries, next in %v: %w",
		room, s.tries, time.Until(s.next).Round(time.Second), s.err)
}

// errStore marks a pass's error as the archive's: it refused or did not
// answer a write.
var errStore = errors.New("the archive did not take the messages")

// archiveStreamIdle is how long a drained stream stays, group and all: a
// busy room's stream is not made anew every pass.
const archiveStreamIdle = time.Minute

// withArchiveStreamIdle sets how long a drained stream stays (tests).
func withArchiveStreamIdle(d time.Duration) Option {
	return func(b *Broker) { b.streamIdle = d }
}

// archiveRoom stores what room's stream holds, and returns how many
// entries wait still.
func (b *Broker) archiveRoom(ctx context.Context, a *archiver, room string, claim bool) (int, error) {
	n, err := b.drainRoom(ctx, a, room, claim)
	if err != nil && strings.HasPrefix(err.Error(), "NOGROUP") {
		// Another archiver dropped the drained stream, and a message made
		// it again since: once more, with a group made afresh.
		delete(a.groups, archiveStream(room))
		n, err = b.drainRoom(ctx, a, room, claim)
	}
	if err != nil {
		return n, fmt.Errorf("archive room %q: %w", room, err)
	}
	return n, nil
}

// drainRoom does archiveRoom's work; its errors are Redis's or the
// archive's as they are, for archiveRoom to tell a missing group.
func (b *Broker) drainRoom(ctx context.Context, a *archiver, room string, claim bool) (int, error) {
	stream := archiveStream(room)
	if !a.groups[stream] {
		err := b.rdb.XGroupCreateMkStream(ctx, stream, archiveGroup, "0").Err()
		if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
			return 0, err
		}
		a.groups[stream] = true
	}
	if claim {
		// Entries a consumer that died left pending become this one's.
		_, _, err := b.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: stream, Group: archiveGroup, Consumer: b.instance,
			MinIdle: archiveClaimIdle, Start: "0", Count: archiveBatch,
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return 0, err
		}
		a.pending[room] = true
	}
	// This consumer's pending entries (a write that failed, entries just
	// claimed), then new ones.
	froms := []string{">"}
	if a.pending[room] {
		froms = []string{"0", ">"}
	}
	for _, from := range froms {
		for {
			res, err := b.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
				Group: archiveGroup, Consumer: b.instance, Streams: []string{stream, from},
				Count: archiveBatch, Block: -1,
			}).Result()
			if errors.Is(err, redis.Nil) {
				break
			}
			if err != nil {
				return b.backlog(stream), err
			}
			if len(res) == 0 || len(res[0].Messages) == 0 {
				break
			}
			if err := b.store(ctx, room, stream, res[0].Messages); err != nil {
				a.pending[room] = true
				return b.backlog(stream), err
			}
			if len(res[0].Messages) < archiveBatch {
				break
			}
		}
	}
	delete(a.pending, room)
	n, err := settleScript.Run(ctx, b.rdb, []string{stream}, b.streamIdle.Milliseconds()).Int()
	if err != nil {
		return 0, err
	}
	if n >= 0 {
		return n, nil
	}
	// The stream is gone: the room leaves the set, and comes back if a
	// message came in meanwhile (its sender adds it after storing).
	delete(a.groups, stream)
	if err := b.rdb.SRem(ctx, archiveRoomsKey, room).Err(); err != nil {
		return 0, err
	}
	if n := b.backlog(stream); n > 0 {
		if err := b.rdb.SAdd(ctx, archiveRoomsKey, room).Err(); err != nil {
			return n, err
		}
		return n, nil
	}
	return 0, nil
}

// latestOfEach keeps the last of msgs of each seq, in order: a message
// changed (edited, reacted to, its quote updated) before the archivers
// took it is in the stream more than once, and one batch of writes to the
// archive need not keep their order.
func latestOfEach(msgs []realtime.Message) []realtime.Message {
	last := make(map[int64]int, len(msgs))
	for i, m := range msgs {
		last[m.Seq] = i
	}
	out := msgs[:0:0]
	for i, m := range msgs {
		if last[m.Seq] == i {
			out = append(out, m)
		}
	}
	return out
}

// store writes stream entries of room to the archive, then acknowledges
// and deletes them.
func (b *Broker) store(ctx context.Context, room, stream string, entries []redis.XMessage) error {
	msgs := make([]realtime.Message, 0, len(entries))
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		ids = append(ids, e.ID)
		raw, _ := e.Values["e"].(string)
		m, err := decodeMessage([]byte(raw))
		if err != nil {
			continue // not ours to understand: acknowledged with the rest
		}
		msgs = append(msgs, m)
	}
	if err := b.archive.Store(ctx, room, latestOfEach(msgs)); err != nil {
		return fmt.Errorf("%w: %w", errStore, err)
	}
	args := make([]any, 0, len(ids)+1)
	args = append(args, archiveGroup)
	for _, id := range ids {
		args = append(args, id)
	}
	if err := ackScript.Run(ctx, b.rdb, []string{stream}, args...).Err(); err != nil {
		return fmt.Errorf("acknowledge: %w", err)
	}
	return nil
}

// backlog is how many entries stream holds; 0 when it cannot be read. It
// has a deadline of its own: it is asked after a pass ran out of time.
func (b *Broker) backlog(stream string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := b.rdb.XLen(ctx, stream).Result()
	if err != nil {
		return 0
	}
	return int(n)
}
