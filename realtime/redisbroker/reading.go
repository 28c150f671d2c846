package redisbroker

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
)

// Where each person stopped reading (realtime.Reading). Per room, one hash
// on the room's slot holds every reader's fields, so that Arrived reads
// them in one step; per person, one sorted set on the person's own slot
// lists their rooms. A write to both is one pipeline: one round trip on
// one Redis, one per node on a cluster.

var _ realtime.Reading = (*Broker)(nil)

// readingKey holds where the people who have been in the room stand, a
// hash: per person P, "n:P" the name they were last there under, "r:P"
// the newest seq they read, "m:P" the seqs of their unread mentions
// (space-separated, at most maxMentionsKept), "l:P" their level, "f:P"
// until when (Unix ms) a page of theirs is focused there; and "at", when
// the room last had a message (Unix ms). It expires ROOM_TTL after the
// last write.
func readingKey(room string) string { return "chat:{" + room + "}:reading" }

// readerRoomsKey holds the rooms the person has been in, a sorted set
// scored with when they last read or set each (Unix ms), at most
// realtime.MaxReadingRooms, on the person's own slot ({!reader:P}: '!'
// names no room). It expires ROOM_TTL after the last write.
func readerRoomsKey(person string) string { return "chat:{!reader:" + person + "}:rooms" }

// maxMentionsKept bounds "m:P" (readingKey).
const maxMentionsKept = 100

// markReadScript raises a reader's read seq, never past the room's newest,
// and forgets their mentions up to it. KEYS: readingKey, seqKey. ARGV: the
// person, the name ("": keep), the seq, ROOM_TTL in ms.
var markReadScript = redis.NewScript(`
local p = ARGV[1]
local newest = tonumber(redis.call('GET', KEYS[2]) or '0')
local read = tonumber(redis.call('HGET', KEYS[1], 'r:' .. p) or '0')
local seq = math.min(tonumber(ARGV[3]), newest)
if seq > read then read = seq end
redis.call('HSET', KEYS[1], 'r:' .. p, read)
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'n:' .. p, ARGV[2]) end
local m = redis.call('HGET', KEYS[1], 'm:' .. p)
if m then
  local keep = {}
  for s in string.gmatch(m, '%d+') do
    if tonumber(s) > read then keep[#keep + 1] = s end
  end
  if #keep == 0 then
    redis.call('HDEL', KEYS[1], 'm:' .. p)
  else
    redis.call('HSET', KEYS[1], 'm:' .. p, table.concat(keep, ' '))
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return read
`)

// arrivedScript notes when the room last had a message and returns every
// reader's fields, for Go to tell who is mentioned: a mention is matched
// as the pages match it (Unicode case folding), which Lua cannot. A room
// nobody has been in stays without a hash. KEYS: readingKey. ARGV: the
// message's time (Unix ms), ROOM_TTL in ms.
var arrivedScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or '0')
if tonumber(ARGV[1]) > at then redis.call('HSET', KEYS[1], 'at', ARGV[1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return redis.call('HGETALL', KEYS[1])
`)

// mentionScript adds a seq to the unread mentions of each person named,
// unless they read it already, have it, or have maxMentionsKept. KEYS:
// readingKey. ARGV: the seq, maxMentionsKept, then the persons.
var mentionScript = redis.NewScript(`
local seq = tonumber(ARGV[1])
for i = 3, #ARGV do
  local p = ARGV[i]
  local read = tonumber(redis.call('HGET', KEYS[1], 'r:' .. p) or '0')
  if seq > read then
    local m = redis.call('HGET', KEYS[1], 'm:' .. p) or ''
    local n, has = 0, false
    for s in string.gmatch(m, '%d+') do
      n = n + 1
      if tonumber(s) == seq then has = true end
    end
    if not has and n < tonumber(ARGV[2]) then
      if m == '' then m = ARGV[1] else m = m .. ' ' .. ARGV[1] end
      redis.call('HSET', KEYS[1], 'm:' .. p, m)
    end
  end
end
return 1
`)

// listRoom keeps room in person's list, within a pipeline.
func (b *Broker) listRoom(ctx context.Context, pipe redis.Pipeliner, room, person string, now time.Time) {
	k := readerRoomsKey(person)
	pipe.ZAdd(ctx, k, redis.Z{Score: float64(now.UnixMilli()), Member: room})
	pipe.ZRemRangeByRank(ctx, k, 0, -realtime.MaxReadingRooms-1)
	pipe.PExpire(ctx, k, b.roomTTL)
}

// MarkRead implements realtime.Reading: markReadScript on the room's slot
// and the person's list, one pipeline.
func (b *Broker) MarkRead(ctx context.Context, room, person, name string, seq int64) error {
	_, err := b.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		markReadScript.Eval(ctx, pipe, []string{readingKey(room), seqKey(room)}, person, name, seq, b.roomTTL.Milliseconds())
		b.listRoom(ctx, pipe, room, person, time.Now())
		return nil
	})
	if err != nil {
		return fmt.Errorf("mark room %q read: %w", room, err)
	}
	return nil
}

// SetLevel implements realtime.Reading: one pipeline.
func (b *Broker) SetLevel(ctx context.Context, room, person string, level realtime.Level) error {
	_, err := b.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HSet(ctx, readingKey(room), "l:"+person, string(level))
		pipe.PExpire(ctx, readingKey(room), b.roomTTL)
		b.listRoom(ctx, pipe, room, person, time.Now())
		return nil
	})
	if err != nil {
		return fmt.Errorf("set the level of room %q: %w", room, err)
	}
	return nil
}

// Focus implements realtime.Reading: one pipeline on the room's slot.
func (b *Broker) Focus(ctx context.Context, room, person string, ttl time.Duration) error {
	_, err := b.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HSet(ctx, readingKey(room), "f:"+person, time.Now().Add(ttl).UnixMilli())
		pipe.PExpire(ctx, readingKey(room), b.roomTTL)
		return nil
	})
	if err != nil {
		return fmt.Errorf("note focus in room %q: %w", room, err)
	}
	return nil
}

// ReadingOf implements realtime.Reading: the person's list, then one
// pipeline over their rooms' slots.
func (b *Broker) ReadingOf(ctx context.Context, person string) ([]realtime.RoomReading, error) {
	rooms, err := b.rdb.ZRangeWithScores(ctx, readerRoomsKey(person), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("read a person's rooms: %w", err)
	}
	if len(rooms) == 0 {
		return nil, nil
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
	if err != nil && err != redis.Nil {
		return nil, fmt.Errorf("read a person's rooms: %w", err)
	}
	out := make([]realtime.RoomReading, 0, len(rooms))
	for i, z := range rooms {
		rr := realtime.RoomReading{Room: z.Member.(string), Level: realtime.LevelMentions, Active: time.UnixMilli(int64(z.Score))}
		rr.Newest, _ = strconv.ParseInt(seqs[i].Val(), 10, 64)
		v := fields[i].Val()
		str := func(j int) string {
			if j < len(v) {
				if s, ok := v[j].(string); ok {
					return s
				}
			}
			return ""
		}
		rr.Read, _ = strconv.ParseInt(str(0), 10, 64)
		for _, s := range strings.Fields(str(1)) {
			if n, _ := strconv.ParseInt(s, 10, 64); n > rr.Read {
				rr.Mentions++
			}
		}
		if l, ok := realtime.ParseLevel(str(2)); ok {
			rr.Level = l
		}
		if at, err := strconv.ParseInt(str(3), 10, 64); err == nil && at > 0 {
			rr.Active = time.UnixMilli(at)
		}
		rr.Unread = int(max(0, rr.Newest-rr.Read))
		rr.Mentions = min(rr.Mentions, rr.Unread)
		out = append(out, rr)
	}
	realtime.SortReading(out)
	return out, nil
}

// Arrived implements realtime.Reading: arrivedScript, and mentionScript
// only when the message mentions someone: one round trip for most
// messages, both on the room's slot.
func (b *Broker) Arrived(ctx context.Context, room string, m realtime.Message, sender string) ([]string, error) {
	at := m.Time
	if at.IsZero() {
		at = time.Now()
	}
	all, err := arrivedScript.Run(ctx, b.rdb, []string{readingKey(room)}, at.UnixMilli(), b.roomTTL.Milliseconds()).StringSlice()
	if err != nil {
		b.stale()
		return nil, fmt.Errorf("read the readers of room %q: %w", room, err)
	}
	type reader struct {
		name  string
		level realtime.Level
		focus int64
	}
	readers := make(map[string]*reader)
	for i := 0; i+1 < len(all); i += 2 {
		kind, person, ok := strings.Cut(all[i], ":")
		if !ok {
			continue
		}
		r := readers[person]
		if r == nil {
			r = &reader{}
			readers[person] = r
		}
		switch kind {
		case "n":
			r.name = all[i+1]
		case "l":
			r.level, _ = realtime.ParseLevel(all[i+1])
		case "f":
			r.focus, _ = strconv.ParseInt(all[i+1], 10, 64)
		}
	}
	now := time.Now().UnixMilli()
	var notify, mentioned []string
	for person, r := range readers {
		ment, tell := realtime.WhomToTell(m, person, sender, r.name, r.level, r.focus > now)
		if ment {
			mentioned = append(mentioned, person)
		}
		if tell {
			notify = append(notify, person)
		}
	}
	if len(mentioned) > 0 {
		args := []any{m.Seq, maxMentionsKept}
		for _, p := range mentioned {
			args = append(args, p)
		}
		if err := mentionScript.Run(ctx, b.rdb, []string{readingKey(room)}, args...).Err(); err != nil {
			return nil, fmt.Errorf("count mentions in room %q: %w", room, err)
		}
	}
	slices.Sort(notify)
	return notify, nil
}
