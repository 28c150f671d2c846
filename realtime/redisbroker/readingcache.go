package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
)

// Every page polls "Your rooms" every 8 s, and reading a person's rooms
// afresh is a sorted set and two commands per room: in a realistic day it
// was most of what Redis did (docs/PERFORMANCE.md). What a person has
// read, their mentions and levels change only when they read, set a level
// or are mentioned; each of those raises a version of theirs
// (readerVersionKey) and is announced to every instance on the channel of
// sign-outs (realtime.SignOutsRoom, kindReading). A room's newest message
// is the same for everyone. So an instance keeps each person's rooms as
// last read, and each room's head: while it follows the announcements a
// poll reads nothing from Redis but the heads of rooms it does not follow,
// every headsFresh; without them (a broker no hub runs), it reads the
// version and counts unread from the heads while the version is the one
// the rooms were read at.

// kindReading announces, on realtime.SignOutsRoom, people whose reading
// changed (record.Text: their ids, a line each).
const kindReading realtime.EventKind = "reading"

// readerVersionKey counts the changes to what ReadingOf reads of a person
// (read marks, levels, mentions, their list), on the person's slot. It
// expires with their list.
func readerVersionKey(person string) string { return "chat:{!reader:" + person + "}:v" }

// How long what this instance keeps stays usable: a person's rooms at
// most readingKeep after they were read (a lost version bump costs no
// more), a room's head headsFresh after it was read unless the room's
// channel keeps it current; headsFresh plus the pages' 8 s stays within
// the 10 s in which a message elsewhere shows. readingCacheSize bounds
// each map.
const (
	readingKeep      = 5 * time.Minute
	headsFresh       = 2 * time.Second
	readingCacheSize = 100_000
)

// readingCache is what an instance keeps of people's rooms and the rooms'
// heads. Its mutex guards every field and is held for no I/O.
type readingCache struct {
	mu     sync.Mutex
	people map[string]keptReading
	heads  map[string]roomHead
	// hearing: the announcements of changes reach this instance, so a
	// person's kept rooms need no version read.
	hearing bool
	// changes counts the announcements heard; changed holds, per person,
	// the count at their last, so that rooms read before it are not kept
	// after it (the read may have missed the change).
	changes uint64
	changed map[string]uint64
	// followed is changes when the announcements last started or stopped
	// reaching this instance, or changed was cleared: rooms read before it
	// are not kept.
	followed uint64
}

// keptReading is a person's rooms as read at version, at read.
type keptReading struct {
	version int64
	read    time.Time
	rooms   []keptRoom
}

// keptRoom is what a person's list holds of one room: their read mark,
// the seqs of their unread mentions past it, their level, and the list's
// score (when they last read or set it).
type keptRoom struct {
	room     string
	read     int64
	mentions []int64
	level    realtime.Level
	listed   time.Time
}

// roomHead is a room's newest seq and when its last message came (Unix
// ms, 0: not known), as read at checked, or kept current by the room's
// channel while live.
type roomHead struct {
	seq     int64
	at      int64
	checked time.Time // zero: to be read
	live    bool
}

// person returns person's rooms as kept, if read within readingKeep and,
// unless the announcements are followed, at version (read first: -1
// means not read).
func (c *readingCache) person(person string, version int64, now time.Time) (keptReading, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok := c.people[person]
	return k, ok && (c.hearing || k.version == version) && now.Sub(k.read) < readingKeep
}

// isFollowing reports whether announcements of changes reach this
// instance, and how many were heard: what keep must be given back.
func (c *readingCache) isFollowing() (bool, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hearing, c.changes
}

// keep stores person's rooms, read after the announcements counted by
// since, and the heads read with them; the rooms are not kept if a change
// of the person's was announced meanwhile.
func (c *readingCache) keep(person string, since uint64, k keptReading, heads map[string]roomHead) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for room, h := range heads {
		c.setHead(room, h)
	}
	if c.changed[person] > since || c.followed > since {
		return
	}
	if c.people == nil || len(c.people) >= readingCacheSize {
		c.people = map[string]keptReading{}
	}
	c.people[person] = k
}

// forget drops what is kept of people, whose reading changed.
func (c *readingCache) forget(people []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.note(people)
	for _, p := range people {
		delete(c.people, p)
	}
}

// raise notes that person's read mark in room is seq now, and with listed
// (not zero) that the room is listed at listed, and nothing else of
// theirs changed: what is kept of them is raised in place rather than
// read again, unless it lacks the room (then it goes).
func (c *readingCache) raise(r raisedRead) {
	c.mu.Lock()
	defer c.mu.Unlock()
	person, room, seq := r.person, r.room, r.seq
	c.note([]string{person})
	k, ok := c.people[person]
	if !ok {
		return
	}
	i := slices.IndexFunc(k.rooms, func(r keptRoom) bool { return r.room == room })
	if i < 0 {
		delete(c.people, person)
		return
	}
	// A copy: a poll may hold the kept rooms it was given.
	rooms := slices.Clone(k.rooms)
	kr := &rooms[i]
	if seq > kr.read {
		kr.read = seq
		kr.mentions = slices.DeleteFunc(slices.Clone(kr.mentions), func(m int64) bool { return m <= seq })
	}
	if !r.listed.IsZero() {
		kr.listed = r.listed
	}
	k.rooms = rooms
	c.people[person] = k
}

// caughtUp returns k, person's kept rooms, with each read mark raised to
// the one marks gives for its room (read from Redis) where that is
// higher, and raises what is kept of person the same way.
func (c *readingCache) caughtUp(person string, k keptReading, marks map[string]int64) keptReading {
	k.rooms = raisedTo(k.rooms, marks)
	c.mu.Lock()
	defer c.mu.Unlock()
	if kept, ok := c.people[person]; ok {
		kept.rooms = raisedTo(kept.rooms, marks)
		c.people[person] = kept
	}
	return k
}

// raisedTo is rooms with each read mark raised to marks' for its room
// where that is higher: a copy if any is (a poll may hold rooms).
func raisedTo(rooms []keptRoom, marks map[string]int64) []keptRoom {
	out, copied := rooms, false
	for i, r := range rooms {
		if seq := marks[r.room]; seq > r.read {
			if !copied {
				out, copied = slices.Clone(rooms), true
			}
			out[i].read = seq
			out[i].mentions = slices.DeleteFunc(slices.Clone(r.mentions), func(m int64) bool { return m <= seq })
		}
	}
	return out
}

// note counts an announcement of people's changes, so that reads under
// way when it came are not kept. c.mu is held.
func (c *readingCache) note(people []string) {
	c.changes++
	if c.changed == nil || len(c.changed) >= readingCacheSize {
		// Forgetting who changed when forgets every person kept, and
		// every read under way, too.
		c.changed = map[string]uint64{}
		c.people = nil
		c.followed = c.changes
	}
	for _, p := range people {
		c.changed[p] = c.changes
	}
}

// heard applies an announcement (announceReading): a line per person,
// and a raisedRead's line where only their read mark rose.
func (c *readingCache) heard(text string) {
	var people []string
	for line := range strings.SplitSeq(text, "\n") {
		if r, ok := parseRaisedRead(line); ok {
			c.raise(r)
			continue
		}
		people = append(people, line)
	}
	if len(people) > 0 {
		c.forget(people)
	}
}

// follow says whether the announcements reach this instance from now on;
// either way what was kept may have missed some: it all goes.
func (c *readingCache) follow(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hearing = on
	c.changes++
	c.followed = c.changes
	c.people = nil
	c.changed = nil
}

// setHead records h, read from Redis, unless the room's channel told of a
// newer message meanwhile. c.mu is held.
func (c *readingCache) setHead(room string, h roomHead) {
	if c.heads == nil || len(c.heads) >= readingCacheSize {
		c.heads = map[string]roomHead{}
	}
	old, ok := c.heads[room]
	if ok && old.seq > h.seq {
		h.seq, h.at = old.seq, max(old.at, h.at)
	}
	h.live = ok && old.live
	c.heads[room] = h
}

// message notes a message of room, stored here or heard on its channel.
func (c *readingCache) message(room string, seq int64, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.heads[room]
	if !ok {
		return // read when a list needs it
	}
	if seq > h.seq {
		h.seq = seq
	}
	h.at = max(h.at, at.UnixMilli())
	c.heads[room] = h
}

// following says whether the room's channel is followed now: while it is,
// a head read after the subscription began stays current. A subscription
// that starts (or was cut, and events lost) has the head read again.
func (c *readingCache) following(room string, live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.heads[room]
	if !ok && !live {
		return
	}
	if c.heads == nil || len(c.heads) >= readingCacheSize {
		c.heads = map[string]roomHead{}
	}
	if live {
		h.checked = time.Time{}
	}
	h.live = live
	c.heads[room] = h
}

// stale returns which of rooms need their head read now.
func (c *readingCache) stale(rooms []keptRoom, now time.Time) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, r := range rooms {
		h, ok := c.heads[r.room]
		if !ok || h.checked.IsZero() || !h.live && now.Sub(h.checked) >= headsFresh {
			out = append(out, r.room)
		}
	}
	return out
}

// standing is a person's rooms from k and the heads kept, most recent
// activity first.
func (c *readingCache) standing(k keptReading) []realtime.RoomReading {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]realtime.RoomReading, 0, len(k.rooms))
	for _, r := range k.rooms {
		h := c.heads[r.room]
		rr := realtime.RoomReading{Room: r.room, Read: r.read, Newest: h.seq, Level: r.level, Active: r.listed}
		if h.at > 0 {
			rr.Active = time.UnixMilli(h.at)
		}
		rr.Unread = int(max(0, rr.Newest-rr.Read))
		rr.Mentions = min(len(r.mentions), rr.Unread)
		out = append(out, rr)
	}
	realtime.SortReading(out)
	return out
}

// ReadingOf implements realtime.Reading: the person's version, and while
// it is the one this instance read their rooms at, the heads of rooms not
// read within headsFresh; else their list, then one pipeline over their
// rooms' slots.
func (b *Broker) ReadingOf(ctx context.Context, person string) ([]realtime.RoomReading, error) {
	now := time.Now()
	following, since := b.reading.isFollowing()
	version := int64(-1)
	if !following {
		v, err := b.rdb.Get(ctx, readerVersionKey(person)).Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("read a person's rooms: %w", err)
		}
		version = v
	}
	if k, ok := b.reading.person(person, version, now); ok {
		marks, err := b.readHeads(ctx, person, b.reading.stale(k.rooms, now), now)
		if err != nil {
			return nil, err
		}
		return b.reading.standing(b.reading.caughtUp(person, k, marks)), nil
	}
	k, heads, err := b.readRooms(ctx, person, now)
	if err != nil {
		return nil, err
	}
	k.version = version
	b.reading.keep(person, since, k, heads)
	return b.reading.standing(k), nil
}

// readRooms reads person's rooms and their heads from Redis.
func (b *Broker) readRooms(ctx context.Context, person string, now time.Time) (keptReading, map[string]roomHead, error) {
	k := keptReading{read: now}
	rooms, err := b.rdb.ZRangeWithScores(ctx, readerRoomsKey(person), 0, -1).Result()
	if err != nil {
		return k, nil, fmt.Errorf("read a person's rooms: %w", err)
	}
	if len(rooms) == 0 {
		return k, nil, nil
	}
	seqs := make([]*redis.StringCmd, len(rooms))
	fields := make([]*redis.SliceCmd, len(rooms))
	_, err = b.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, z := range rooms {
			room := z.Member.(string)
			seqs[i] = pipe.Get(ctx, seqKey(room))
			fields[i] = pipe.HMGet(ctx, readingKey(room), "r:"+person, "m:"+person, "l:"+person, "at")
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return k, nil, fmt.Errorf("read a person's rooms: %w", err)
	}
	heads := make(map[string]roomHead, len(rooms))
	for i, z := range rooms {
		r := keptRoom{room: z.Member.(string), level: realtime.LevelMentions, listed: time.UnixMilli(int64(z.Score))}
		v := fields[i].Val()
		str := func(j int) string {
			if j < len(v) {
				if s, ok := v[j].(string); ok {
					return s
				}
			}
			return ""
		}
		r.read, _ = strconv.ParseInt(str(0), 10, 64)
		for _, s := range strings.Fields(str(1)) {
			if n, _ := strconv.ParseInt(s, 10, 64); n > r.read {
				r.mentions = append(r.mentions, n)
			}
		}
		if l, ok := realtime.ParseLevel(str(2)); ok {
			r.level = l
		}
		h := roomHead{checked: now}
		h.seq, _ = strconv.ParseInt(seqs[i].Val(), 10, 64)
		h.at, _ = strconv.ParseInt(str(3), 10, 64)
		heads[r.room] = h
		k.rooms = append(k.rooms, r)
	}
	return k, heads, nil
}

// readHeads reads the newest seq and last message time of rooms, and
// person's read mark in each, one pipeline over their slots. The marks
// are what person's own messages raised in rooms whose channels this
// instance does not follow: the message that says so (sendScript's
// reader) is not heard here.
func (b *Broker) readHeads(ctx context.Context, person string, rooms []string, now time.Time) (map[string]int64, error) {
	if len(rooms) == 0 {
		return nil, nil
	}
	seqs := make([]*redis.StringCmd, len(rooms))
	ats := make([]*redis.StringCmd, len(rooms))
	reads := make([]*redis.StringCmd, len(rooms))
	_, err := b.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, room := range rooms {
			seqs[i] = pipe.Get(ctx, seqKey(room))
			ats[i] = pipe.HGet(ctx, readingKey(room), "at")
			reads[i] = pipe.HGet(ctx, readingKey(room), "r:"+person)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read rooms' newest messages: %w", err)
	}
	marks := make(map[string]int64, len(rooms))
	b.reading.mu.Lock()
	defer b.reading.mu.Unlock()
	for i, room := range rooms {
		h := roomHead{checked: now}
		h.seq, _ = strconv.ParseInt(seqs[i].Val(), 10, 64)
		h.at, _ = strconv.ParseInt(ats[i].Val(), 10, 64)
		b.reading.setHead(room, h)
		marks[room], _ = strconv.ParseInt(reads[i].Val(), 10, 64)
	}
	return marks, nil
}

// changedReading raises the versions of people whose reading changed and
// announces it, so that every instance reads their rooms afresh; this one
// forgets them at once.
func (b *Broker) changedReading(ctx context.Context, people ...string) error {
	return b.announceReading(ctx, nil, people)
}

// raisedRead is a person's read mark in room raised to seq, by their own
// message there or by what they read (then with the time the room was
// listed at in their list; zero: as it was), and nothing else of theirs
// changed.
type raisedRead struct {
	person, room string
	seq          int64
	listed       time.Time
}

// line is r in an announcement: "person\troom\tseq\tlisted (Unix ms, 0:
// as it was)".
func (r raisedRead) line() string {
	var ms int64
	if !r.listed.IsZero() {
		ms = r.listed.UnixMilli()
	}
	return r.person + "\t" + r.room + "\t" + strconv.FormatInt(r.seq, 10) + "\t" + strconv.FormatInt(ms, 10)
}

// parseRaisedRead reads line, which may be a raisedRead's.
func parseRaisedRead(line string) (raisedRead, bool) {
	f := strings.Split(line, "\t")
	if len(f) != 4 {
		return raisedRead{}, false
	}
	seq, err1 := strconv.ParseInt(f[2], 10, 64)
	ms, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil {
		return raisedRead{}, false
	}
	r := raisedRead{person: f[0], room: f[1], seq: seq}
	if ms != 0 {
		r.listed = time.UnixMilli(ms)
	}
	return r, true
}

// announceReading raises the versions of people whose reading changed, and
// of raised's person, and announces it: every instance reads the people's
// rooms afresh, and raises raised's read mark in what it keeps; this one
// does so at once. It runs after the
// change is stored, never in its pipeline: on a cluster the two are on
// other nodes, and the change must not be announced before it is there to
// read.
func (b *Broker) announceReading(ctx context.Context, raised *raisedRead, people []string) error {
	if raised == nil && len(people) == 0 {
		return nil
	}
	lines, versions := people, people
	if raised != nil {
		b.reading.raise(*raised)
		lines = append(slices.Clip(people), raised.line())
		versions = append(slices.Clip(people), raised.person)
	}
	if len(people) > 0 {
		b.reading.forget(people)
	}
	body, err := encodeRecord(record{Type: kindReading, Text: strings.Join(lines, "\n")})
	if err != nil {
		return fmt.Errorf("note a change to what people read: %w", err)
	}
	_, err = b.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for _, p := range versions {
			pipe.Incr(ctx, readerVersionKey(p))
			pipe.PExpire(ctx, readerVersionKey(p), b.roomTTL)
		}
		if b.mode == ShardedPubSub {
			pipe.SPublish(ctx, channelName(realtime.SignOutsRoom), body)
		} else {
			pipe.Publish(ctx, channelName(realtime.SignOutsRoom), body)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("note a change to what people read: %w", err)
	}
	return nil
}
