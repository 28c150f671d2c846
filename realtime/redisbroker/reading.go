package redisbroker

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
)

// Where each person stopped reading (realtime.Reading). Per room, one hash
// on the room's slot holds every reader's fields, so that Arrived reads
// them in one step; per person, one sorted set on the person's own slot
// lists their rooms. A write to both is one pipeline: one round trip on
// one Redis, one per node on a cluster.

var (
	_ realtime.Reading     = (*Broker)(nil)
	_ realtime.ReadFocused = (*Broker)(nil)
)

// readingKey holds where the people who have been in the room stand, a
// hash: per person P, "n:P" the name they were last there under, "r:P"
// the newest seq they read, "m:P" the seqs of their unread mentions
// (space-separated, at most maxMentionsKept), "l:P" their level, "f:P"
// until when (Unix ms) a page of theirs is focused there; per name F
// (realtime.FoldName), "k:F" the person last there under it, and "K:P"
// the name P was last there under, folded; and "at",
// when the room last had a message (Unix ms). It expires ROOM_TTL after
// the last write.
func readingKey(room string) string { return "chat:{" + room + "}:reading" }

// readingAllKey holds the people at realtime.LevelAll in the room, a set
// on the room's slot: Arrived tells them of every message without reading
// everyone who has been in the room. It expires with readingKey.
func readingAllKey(room string) string { return "chat:{" + room + "}:reading-all" }

// readerRoomsKey holds the rooms the person has been in, a sorted set
// scored with when they last read or set each (Unix ms), at most
// realtime.MaxReadingRooms, on the person's own slot ({!reader:P}: '!'
// names no room). It expires ROOM_TTL after the last write.
func readerRoomsKey(person string) string { return "chat:{!reader:" + person + "}:rooms" }

// maxMentionsKept bounds "m:P" (readingKey).
const maxMentionsKept = 100

// markReadScript raises a reader's read seq, never past the room's newest,
// and forgets their mentions up to it. KEYS: readingKey, seqKey. ARGV: the
// person, the name ("": keep), the seq, ROOM_TTL in ms, the name folded.
var markReadScript = redis.NewScript(`
local p = ARGV[1]
local newest = tonumber(redis.call('GET', KEYS[2]) or '0')
local read = tonumber(redis.call('HGET', KEYS[1], 'r:' .. p) or '0')
local seq = math.min(tonumber(ARGV[3]), newest)
if seq > read then read = seq end
redis.call('HSET', KEYS[1], 'r:' .. p, read)
if ARGV[2] ~= '' then
  -- a new name: the old one no longer mentions p
  local old = redis.call('HGET', KEYS[1], 'K:' .. p)
  if old and old ~= ARGV[5] and redis.call('HGET', KEYS[1], 'k:' .. old) == p then
    redis.call('HDEL', KEYS[1], 'k:' .. old)
  end
  redis.call('HSET', KEYS[1], 'n:' .. p, ARGV[2], 'k:' .. ARGV[5], p, 'K:' .. p, ARGV[5])
end
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

// arrivedLua does all a stored message needs of the readers, in one
// call whose cost follows the names the text could mention (Go finds
// them: Unicode case folding is beyond Lua) and the people at LevelAll,
// not everyone who has been in the room: it notes when the room last had
// a message and raises the sender's read seq to the message's (one
// HMGET and at most one HSET: a command a field cost Redis about 3 µs a
// message more, BenchmarkArrived); for each
// candidate name that is someone's there ("k:F"), other than the
// sender's, counts the mention (unless read, kept already, or
// maxMentionsKept are) and tells them unless their level is "none" or a
// page of theirs is focused; and tells everyone at LevelAll who is not
// focused. arrived returns whom to tell, then whose reading it changed
// (the sender's read mark, the mentioned), then whether the sender's read
// mark rose. A room nobody has been in stays without a hash. Its
// arguments: readingKey, readingAllKey, the message's time (Unix ms),
// ROOM_TTL in ms, the sender, the seq, maxMentionsKept, now (Unix ms),
// and the candidate names, folded, as ARGV from index names on. Both
// arrivedScript and sendScript (with a sender) run it.
const arrivedLua = `
local function arrived(rk, allk, msgAt, ttl, sender, seq, keep, now, names)
  local got = redis.call('HMGET', rk, 'at', 'n:' .. sender, 'r:' .. sender)
  if not (got[1] or got[2] or got[3]) and redis.call('EXISTS', rk) == 0 then return {}, {}, false end
  seq, keep, now = tonumber(seq), tonumber(keep), tonumber(now)
  local set, changed, raised = {}, {}, false
  if tonumber(msgAt) > tonumber(got[1] or '0') then
    table.insert(set, 'at')
    table.insert(set, msgAt)
  end
  if got[2] and seq > tonumber(got[3] or '0') then
    table.insert(set, 'r:' .. sender)
    table.insert(set, seq)
    changed[#changed + 1] = sender
    raised = true
  end
  if #set > 0 then redis.call('HSET', rk, unpack(set)) end
  local function focused(p)
    return tonumber(redis.call('HGET', rk, 'f:' .. p) or '0') > now
  end
  local tell, seen = {}, {[sender] = true}
  for i = names, #ARGV do
    local p = redis.call('HGET', rk, 'k:' .. ARGV[i])
    if p and not seen[p] then
      seen[p] = true
      local read = tonumber(redis.call('HGET', rk, 'r:' .. p) or '0')
      if seq > read then
        local m = redis.call('HGET', rk, 'm:' .. p) or ''
        local n, has = 0, false
        for s in string.gmatch(m, '%d+') do
          n = n + 1
          if tonumber(s) == seq then has = true end
        end
        if not has and n < keep then
          if m == '' then m = tostring(seq) else m = m .. ' ' .. seq end
          redis.call('HSET', rk, 'm:' .. p, m)
          changed[#changed + 1] = p
        end
      end
      if redis.call('HGET', rk, 'l:' .. p) ~= 'none' and not focused(p) then
        tell[#tell + 1] = p
      end
    end
  end
  for _, p in ipairs(redis.call('SMEMBERS', allk)) do
    if not seen[p] then
      seen[p] = true
      if not focused(p) then tell[#tell + 1] = p end
    end
  end
  redis.call('PEXPIRE', rk, ttl)
  return tell, changed, raised
end
`

// arrivedScript runs arrivedLua on its own (Arrived). KEYS: readingKey,
// readingAllKey. ARGV: the message's time (Unix ms), ROOM_TTL in ms, the
// sender, the seq, maxMentionsKept, now (Unix ms), then the candidate
// names, folded. It returns whom to tell, then whose reading it changed.
var arrivedScript = redis.NewScript(arrivedLua + `
local tell, changed = arrived(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], 7)
return {tell, changed}
`)

// focus notes person's focused page in room until ttl from now, within a
// pipeline.
func (b *Broker) focus(ctx context.Context, pipe redis.Pipeliner, room, person string, ttl time.Duration) {
	pipe.HSet(ctx, readingKey(room), "f:"+person, time.Now().Add(ttl).UnixMilli())
	pipe.PExpire(ctx, readingKey(room), b.roomTTL)
}

// listRoom keeps room in person's list, within a pipeline.
func (b *Broker) listRoom(ctx context.Context, pipe redis.Pipeliner, room, person string, now time.Time) {
	k := readerRoomsKey(person)
	pipe.ZAdd(ctx, k, redis.Z{Score: float64(now.UnixMilli()), Member: room})
	pipe.ZRemRangeByRank(ctx, k, 0, -realtime.MaxReadingRooms-1)
	pipe.PExpire(ctx, k, b.roomTTL)
}

// MarkRead implements realtime.Reading: markReadScript on the room's slot
// and the person's list, one pipeline (the script by its hash, and by its
// text once if Redis does not have it). Every instance raises the read
// mark and the room's place in what it keeps of the person.
func (b *Broker) MarkRead(ctx context.Context, room, person, name string, seq int64) error {
	return b.MarkReadFocused(ctx, room, person, name, seq, 0)
}

// MarkReadFocused implements realtime.ReadFocused: MarkRead's pipeline,
// with ttl (not zero) Focus's writes in it too.
func (b *Broker) MarkReadFocused(ctx context.Context, room, person, name string, seq int64, ttl time.Duration) error {
	now := time.UnixMilli(time.Now().UnixMilli()) // as the list keeps it
	keys := []string{readingKey(room), seqKey(room)}
	args := []any{person, name, seq, b.roomTTL.Milliseconds(), realtime.FoldName(name)}
	mark := func(byText bool) (*redis.Cmd, error) {
		var read *redis.Cmd
		_, err := b.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			if byText {
				read = markReadScript.Eval(ctx, pipe, keys, args...)
			} else {
				read = markReadScript.EvalSha(ctx, pipe, keys, args...)
			}
			b.listRoom(ctx, pipe, room, person, now)
			if ttl > 0 {
				b.focus(ctx, pipe, room, person, ttl)
			}
			return nil
		})
		return read, err
	}
	read, err := mark(false)
	if err != nil && redis.HasErrorPrefix(read.Err(), "NOSCRIPT") {
		read, err = mark(true)
	}
	if err != nil {
		return fmt.Errorf("mark room %q read: %w", room, err)
	}
	n, err := read.Int64()
	if err != nil {
		return fmt.Errorf("mark room %q read: %w", room, err)
	}
	return b.announceReading(ctx, &raisedRead{person: person, room: room, seq: n, listed: now}, nil)
}

// SetLevel implements realtime.Reading: one pipeline.
func (b *Broker) SetLevel(ctx context.Context, room, person string, level realtime.Level) error {
	_, err := b.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.HSet(ctx, readingKey(room), "l:"+person, string(level))
		pipe.PExpire(ctx, readingKey(room), b.roomTTL)
		if level == realtime.LevelAll {
			pipe.SAdd(ctx, readingAllKey(room), person)
		} else {
			pipe.SRem(ctx, readingAllKey(room), person)
		}
		pipe.PExpire(ctx, readingAllKey(room), b.roomTTL)
		b.listRoom(ctx, pipe, room, person, time.Now())
		return nil
	})
	if err != nil {
		return fmt.Errorf("set the level of room %q: %w", room, err)
	}
	return b.changedReading(ctx, person)
}

// Focus implements realtime.Reading: one pipeline on the room's slot.
func (b *Broker) Focus(ctx context.Context, room, person string, ttl time.Duration) error {
	_, err := b.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		b.focus(ctx, pipe, room, person, ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("note focus in room %q: %w", room, err)
	}
	return nil
}

// Arrived implements realtime.Reading: arrivedScript, one call on the
// room's slot.
func (b *Broker) Arrived(ctx context.Context, room string, m realtime.Message, sender string) ([]string, error) {
	at := m.Time
	if at.IsZero() {
		at = time.Now()
	}
	args := []any{at.UnixMilli(), b.roomTTL.Milliseconds(), sender, m.Seq, maxMentionsKept, time.Now().UnixMilli()}
	for _, c := range realtime.MentionCandidates(m.Text) {
		args = append(args, c)
	}
	res, err := arrivedScript.Run(ctx, b.rdb, []string{readingKey(room), readingAllKey(room)}, args...).Slice()
	if err != nil {
		b.stale()
		return nil, fmt.Errorf("count the readers of room %q: %w", room, err)
	}
	tell, changed := replyStrings(res, 0), replyStrings(res, 1)
	// The sender is among the changed only for their read mark, which
	// every instance raises in what it keeps (the others were mentioned).
	var own *raisedRead
	if i := slices.Index(changed, sender); i >= 0 {
		own = &raisedRead{person: sender, room: room, seq: m.Seq}
		changed = slices.Delete(changed, i, i+1)
	}
	if err := b.announceReading(ctx, own, changed); err != nil {
		return nil, fmt.Errorf("count the readers of room %q: %w", room, err)
	}
	slices.Sort(tell)
	return tell, nil
}

// counted finishes what sendScript counted of m for the readers: the
// sender's read mark is raised here (the other instances read it on the
// message), the people it mentions are announced; it returns tell sorted.
func (b *Broker) counted(ctx context.Context, room string, m realtime.Message, sender string, tell, changed []string) ([]string, error) {
	if i := slices.Index(changed, sender); i >= 0 {
		b.reading.raise(raisedRead{person: sender, room: room, seq: m.Seq})
		changed = slices.Delete(changed, i, i+1)
	}
	slices.Sort(tell)
	if err := b.announceReading(ctx, nil, changed); err != nil {
		return tell, fmt.Errorf("count the readers of room %q: %w", room, err)
	}
	return tell, nil
}

// replyStrings is the strings of the array at reply[i] (none if absent).
func replyStrings(reply []any, i int) []string {
	var out []string
	if i < len(reply) {
		l, _ := reply[i].([]any)
		for _, v := range l {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}
