package redisbroker

import (
	"context"
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
)

// Nonce guards. What a repeated nonce must be recognised against is one
// session's resend window in one room: a page sends its unanswered
// messages again after a reconnect (at most what the send limit let through
// before the socket dropped: tens), a form is posted twice. So a guard is a
// field of a hash per (room, session), not a key per message: the session's
// newest guardsPerSession nonces live in chat:{room}:guards:SESSION; when it
// is full it becomes chat:{room}:guards-old:SESSION (replacing the one
// before) and a new one starts, so the newest guardsPerSession to
// 2*guardsPerSession nonces are always known, and both hashes stay small
// enough for Redis's compact encoding. A session's hash lives guardTTL after
// its last send in the room, never past ROOM_TTL (the room's own keys expire
// then): guard memory is bounded by the sessions that wrote in each room
// lately, not by the messages they sent.
const (
	guardTTL         = 24 * time.Hour // a page offline overnight still resends once
	guardsPerSession = 64
)

// Every key of one room carries the hash tag {room}, so the send script runs
// on one slot when the keys live in a Redis Cluster.
func seqKey(room string) string     { return "chat:{" + room + "}:seq" }
func historyKey(room string) string { return "chat:{" + room + "}:history" }

// guardKeys are the newer and older guard hashes of the session that guard
// ("SESSION:NONCE", as the handlers make it) belongs to in room, and the
// field that guard is in them. A guard without a session shares the room's
// hashes of the session "".
func guardKeys(room, guard string) (newer, older, field string) {
	session, nonce, ok := strings.Cut(guard, ":")
	if !ok {
		session, nonce = "", guard
	}
	return "chat:{" + room + "}:guards:" + session, "chat:{" + room + "}:guards-old:" + session, nonce
}
func channelName(room string) string   { return "chat:{" + room + "}:events" }
func claimKey(room, key string) string { return "chat:{" + room + "}:name:" + key }

// claimKeys are the Redis keys of u's claim on its name in room.
func claimKeys(room string, u realtime.User) []string {
	keys := realtime.NameKeys(u.Name)
	for i, k := range keys {
		keys[i] = claimKey(room, k)
	}
	return keys
}
func presenceSetKey(room string) string { return "chat:{" + room + "}:presence" }

func roomOfChannel(ch string) (string, bool) {
	rest, ok := strings.CutPrefix(ch, "chat:{")
	if !ok {
		return "", false
	}
	room, ok := strings.CutSuffix(rest, "}:events")
	return room, ok
}

// sendScript checks the guard, numbers, stores, trims and publishes in one
// step, so every instance and the history agree on order and seq. The
// message body comes from Go as a JSON object; the script prepends the seq.
// The channel is passed as a key, and published with ARGV[1] (PUBLISH or
// SPUBLISH), so that a cluster checks it shares the room's slot.
//
// A counter that starts at 1 with no history behind it starts the room's
// numbering, and the message says so ("first"): pages that showed an older
// numbering, whose data Redis lost, take the history afresh instead of
// reading the new seq 1 as a message they already show. A counter lost
// while the history survived (an evicted key) goes on from the history's
// last seq rather than reuse its numbers. Both cost nothing but on seq 1.
//
// With an archive (ARGV[7] is '1'), the entry also goes to the room's
// archive stream (KEYS[5]), which the archivers drain; and a room with no
// counter is not numbered afresh before its archive was asked (ARGV[8] is
// '1' once it was): the reply {3} says to restore the room from it first.
// The reply's fourth element is 1 when the stream held nothing else: only
// then must the sender add the room to the archivers' set (it stays there
// while the stream exists). Past ARGV[9] entries (the archive down for
// long) the stream drops its oldest.
//
// With a guard (ARGV[4] is '1'), ARGV[10] is its nonce, looked up in the
// session's newer (KEYS[3]) and older (KEYS[6]) guard hashes and added to
// the newer, which becomes the older once it holds ARGV[11] nonces; the
// newer lives ARGV[5] ms after the session's last send (see guardKeys).
//
// The reply is {1, seq, first, fresh stream} for a stored message, {0,
// seq} for a repeated nonce, {3} for a room to restore first.
var sendScript = redis.NewScript(`
if ARGV[4] == '1' then
  local prev = redis.call('HGET', KEYS[3], ARGV[10]) or redis.call('HGET', KEYS[6], ARGV[10])
  if prev then return {0, tonumber(prev)} end
end
local seq = redis.call('INCR', KEYS[1])
local first = ''
if seq == 1 then
  if ARGV[7] == '1' and ARGV[8] ~= '1' then
    redis.call('DEL', KEYS[1])
    return {3}
  end
  local last = redis.call('LINDEX', KEYS[2], -1)
  local prev = last and tonumber(cjson.decode(last).seq)
  if prev and prev >= seq then
    seq = prev + 1
    redis.call('SET', KEYS[1], seq)
  else
    first = '"first":true,'
  end
end
local entry = '{"seq":' .. seq .. ',' .. first .. string.sub(ARGV[2], 2)
redis.call('RPUSH', KEYS[2], entry)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
if ARGV[4] == '1' then
  if redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[11]) then
    redis.call('RENAME', KEYS[3], KEYS[6])
  end
  redis.call('HSET', KEYS[3], ARGV[10], seq)
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
end
redis.call(ARGV[1], KEYS[4], entry)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
local fresh = 0
if ARGV[7] == '1' then
  redis.call('XADD', KEYS[5], '*', 'e', entry)
  local n = redis.call('XLEN', KEYS[5])
  if n == 1 then fresh = 1 end
  if n > tonumber(ARGV[9]) then redis.call('XTRIM', KEYS[5], 'MAXLEN', '~', ARGV[9]) end
end
if first ~= '' then return {1, seq, 1, fresh} end
return {1, seq, 0, fresh}
`)

// The bindings of names to identities (realtime.NameBook) live under one hash
// tag, so that a bind is one script on a cluster too; "!" is in no room's
// name, so no room's keys can look like these.
func boundNameKey(key string) string    { return "chat:{!identity}:name:" + key }
func identityKey(subject string) string { return "chat:{!identity}:subject:" + subject }

// bindScript gives a name to an identity for good, all of its keys or none.
// KEYS[1] is the identity's key, the rest the name's keys; ARGV[1] is the
// identity, ARGV[2] the name ("": only read the identity's name). It returns
// {1, name} with the identity's name, or {0, ""} when another holds it.
var bindScript = redis.NewScript(`
local mine = redis.call('GET', KEYS[1])
if mine then return {1, mine} end
if ARGV[2] == '' then return {1, ''} end
for i = 2, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder and holder ~= ARGV[1] then return {0, ''} end
end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[1]) end
redis.call('SET', KEYS[1], ARGV[2])
return {1, ARGV[2]}
`)

// claimScript gives a name to a session, all of its keys or none: taken
// when another session holds any of them. KEYS are the name's claim keys,
// ARGV[1] the session, ARGV[2] the expiry in ms.
var claimScript = redis.NewScript(`
for _, k in ipairs(KEYS) do
  local holder = redis.call('GET', k)
  if holder and holder ~= ARGV[1] then return 0 end
end
for _, k in ipairs(KEYS) do
  redis.call('SET', k, ARGV[1], 'PX', ARGV[2])
end
return 1
`)

// renewScript renews the claims of present users: each key that is free or
// held by its session (ARGV[i+1]) is set again, for ARGV[1] ms; one held by
// another session stays theirs.
var renewScript = redis.NewScript(`
for i, k in ipairs(KEYS) do
  local holder = redis.call('GET', k)
  if not holder or holder == ARGV[i + 1] then
    redis.call('SET', k, ARGV[i + 1], 'PX', ARGV[1])
  end
end
return 1
`)

// absentScript removes an instance's presence entry (ARGV[1]) from the
// room's set (KEYS[1]) and, when no live entry of the same session
// (ARGV[2], as "\0session\0") is left, deletes the session's claims
// (KEYS[2..]). The set holds a room's users, so the scan is short.
var absentScript = redis.NewScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
for _, e in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[3], '+inf')) do
  if string.find(e, ARGV[2], 1, true) then return 0 end
end
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == string.sub(ARGV[2], 2, -2) then
    redis.call('DEL', KEYS[i])
  end
end
return 1
`)

// PubSubMode is how room events travel between instances.
type PubSubMode int

const (
	// ClassicPubSub is PUBLISH and SUBSCRIBE on one connection for all
	// rooms: right for one Redis. On a cluster it works, but every node
	// receives every message.
	ClassicPubSub PubSubMode = iota + 1
	// ShardedPubSub is SPUBLISH and SSUBSCRIBE (Redis 7, Valkey): a room's
	// messages stay on the shard that owns its slot, and an instance holds
	// one subscription connection per shard it needs.
	ShardedPubSub
)

// String names the mode, for logs.
func (m PubSubMode) String() string {
	if m == ShardedPubSub {
		return "sharded"
	}
	return "classic"
}

// subscriber delivers the events of the rooms' channels it is subscribed to.
type subscriber interface {
	// subscribe returns once the subscription is in effect.
	subscribe(ctx context.Context, channel string) error
	unsubscribe(ctx context.Context, channel string) error
	close() error
}

// Broker relays events through Redis pub/sub and keeps history in a
// Redis list per room. It holds one pub/sub connection for all its rooms on
// one Redis, or one per shard on a cluster.
type Broker struct {
	rdb         redis.UniversalClient
	mode        PubSubMode
	publish     string // the script's publish command
	instance    string // tells this instance's presence entries apart
	historySize int
	roomTTL     time.Duration
	archive     realtime.Archive // nil: no archive, no archive stream
	archived    func(backlog int, err error)
	archiveDone chan struct{} // closed when archiveLoop returns; nil without an archive
	empty       emptyRooms    // rooms the archive had nothing of, lately
	streamIdle  time.Duration // how long a drained archive stream stays
	sub         subscriber
	events      chan realtime.Event
	quit        chan struct{} // closed by Close, so delivery never blocks on events

	mu     sync.Mutex
	closed bool
}

// Option changes how New sets up a broker.
type Option func(*Broker)

// WithRoomTTL replaces realtime.DefaultRoomTTL.
func WithRoomTTL(d time.Duration) Option {
	return func(b *Broker) { b.roomTTL = d }
}

// WithPubSub chooses the pub/sub mode instead of the default: sharded on a
// *redis.ClusterClient, classic otherwise.
func WithPubSub(mode PubSubMode) Option {
	return func(b *Broker) { b.mode = mode }
}

// New starts the broker's pub/sub on rdb. Close stops it; rdb
// itself stays the caller's to close.
func New(rdb redis.UniversalClient, historySize int, opts ...Option) *Broker {
	b := &Broker{
		rdb:         rdb,
		mode:        ClassicPubSub,
		instance:    rand.Text(),
		historySize: historySize,
		roomTTL:     realtime.DefaultRoomTTL,
		streamIdle:  archiveStreamIdle,
		events:      make(chan realtime.Event, 1024),
		quit:        make(chan struct{}),
	}
	if _, ok := rdb.(*redis.ClusterClient); ok {
		b.mode = ShardedPubSub
	}
	for _, o := range opts {
		o(b)
	}
	if b.mode == ShardedPubSub {
		b.publish = "SPUBLISH"
		b.sub = newShardedSub(rdb, b.stale, b.relay, b.missed)
	} else {
		b.publish = "PUBLISH"
		b.sub = newClassicSub(rdb, b.relay, b.missed)
	}
	if b.archive != nil {
		b.archiveDone = make(chan struct{})
		go b.archiveLoop()
	}
	return b
}

// ShardedPubSubSupported reports whether the server (every node, for a
// cluster) knows SPUBLISH: Redis 7 and later, and Valkey, do.
func ShardedPubSubSupported(ctx context.Context, rdb redis.UniversalClient) (bool, error) {
	err := onEveryPrimary(ctx, rdb, func(ctx context.Context, c redis.Cmdable) error {
		// A channel outside the chat's names: no room hears it.
		err := c.SPublish(ctx, "chat-probe", "").Err()
		// A node that does not own the channel's slot redirects: it knows
		// the command, which is all that is asked.
		if err != nil && (strings.HasPrefix(err.Error(), "MOVED ") || strings.HasPrefix(err.Error(), "ASK ")) {
			return nil
		}
		return err
	})
	if err == nil {
		return true, nil
	}
	if isUnknownCommand(err) {
		return false, nil
	}
	return false, fmt.Errorf("probe for sharded pub/sub: %w", err)
}

// onEveryPrimary runs fn on every primary of a cluster, or on rdb itself.
func onEveryPrimary(ctx context.Context, rdb redis.UniversalClient, fn func(context.Context, redis.Cmdable) error) error {
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		return cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return fn(ctx, c) })
	}
	return fn(ctx, rdb)
}

// stale asks a cluster client to reload its slot map, after an error that
// a failover may explain: go-redis would otherwise keep sending a failed
// primary's slots to it until its next periodic reload.
func (b *Broker) stale() {
	if cc, ok := b.rdb.(*redis.ClusterClient); ok {
		cc.ReloadState(context.Background())
	}
}

// relay turns a payload on channel into an event.
func (b *Broker) relay(channel, payload string) {
	room, ok := roomOfChannel(channel)
	if !ok {
		return
	}
	ev, err := decodeEvent(room, []byte(payload))
	if err != nil {
		return
	}
	b.emit(ev)
}

// missed says that channel's events may have been lost while its
// subscription was re-established.
func (b *Broker) missed(channel string) {
	if room, ok := roomOfChannel(channel); ok {
		b.emit(realtime.Event{Room: room, Kind: realtime.KindResync})
	}
}

func (b *Broker) emit(ev realtime.Event) {
	select {
	case b.events <- ev:
	case <-b.quit:
	}
}

// Send implements realtime.Broker: one run of sendScript.
func (b *Broker) Send(ctx context.Context, room string, m realtime.Message, guard string) (realtime.Message, bool, error) {
	body, err := marshalEvent(wireEvent{Type: realtime.KindMessage, Name: m.Name, Text: m.Text, Time: m.Time, Verified: m.Verified})
	if err != nil {
		return realtime.Message{}, false, fmt.Errorf("encode message: %w", err)
	}
	useGuard := "0"
	if guard != "" {
		useGuard = "1"
	}
	newer, older, nonce := guardKeys(room, guard)
	keys := []string{seqKey(room), historyKey(room), newer, channelName(room), archiveStream(room), older}
	archiving, restored := "0", "0"
	if b.archive != nil {
		archiving = "1"
	}
	for {
		res, err := sendScript.Run(ctx, b.rdb, keys,
			b.publish, body, b.historySize, useGuard, min(guardTTL, b.roomTTL).Milliseconds(), b.roomTTL.Milliseconds(),
			archiving, restored, maxArchiveBacklog, nonce, guardsPerSession).Int64Slice()
		if err != nil {
			b.stale()
			return realtime.Message{}, false, fmt.Errorf("send to room %q: %w", room, err)
		}
		if len(res) == 1 && res[0] == 3 && restored == "0" {
			// Redis has nothing of the room: its archive may, and the next
			// number follows the archive's last. An archive that cannot be
			// asked does not stop the send: the room is most likely new.
			if _, err := b.restore(ctx, room); err != nil {
				b.archiveUnreachable(room, err)
			}
			b.empty.forget(room)
			restored = "1"
			continue
		}
		if len(res) < 2 {
			return realtime.Message{}, false, fmt.Errorf("send to room %q: unexpected reply %v", room, res)
		}
		// Before the sender hears back: a message acknowledged is one an
		// archiver will find, even if this instance dies now. A repeated
		// nonce adds it too: the first try may have died just before.
		if b.archive != nil && (res[0] == 0 || len(res) > 3 && res[3] == 1) {
			if err := b.rdb.SAdd(ctx, archiveRoomsKey, room).Err(); err != nil {
				return realtime.Message{}, false, fmt.Errorf("send to room %q: %w", room, err)
			}
		}
		m.Seq, m.First = res[1], len(res) > 2 && res[2] == 1
		return m, res[0] == 0, nil
	}
}

// Announce implements realtime.Broker: a publish on the room's channel,
// stored nowhere.
func (b *Broker) Announce(ctx context.Context, room string, kind realtime.EventKind, name string) error {
	body, err := marshalEvent(wireEvent{Type: kind, Name: name, Time: time.Now()})
	if err != nil {
		return fmt.Errorf("encode notice: %w", err)
	}
	var cmd *redis.IntCmd
	if b.mode == ShardedPubSub {
		cmd = b.rdb.SPublish(ctx, channelName(room), body)
	} else {
		cmd = b.rdb.Publish(ctx, channelName(room), body)
	}
	if err := cmd.Err(); err != nil {
		b.stale()
		return fmt.Errorf("announce in room %q: %w", room, err)
	}
	return nil
}

// Presence is a sorted set per room: one member per (instance, session,
// name), scored with its expiry, so that the users of an instance that died
// vanish on their own.
func (b *Broker) presenceMember(u realtime.User) string {
	return b.instance + "\x00" + u.Session + "\x00" + u.Name
}

// Present implements realtime.Broker: this instance's entries in the
// room's presence set, and its users' claims, renewed in one transaction.
func (b *Broker) Present(ctx context.Context, room string, users []realtime.User, ttl time.Duration) error {
	if len(users) == 0 {
		return nil
	}
	now := time.Now()
	exp := float64(now.Add(ttl).UnixMilli())
	zs := make([]redis.Z, len(users))
	for i, u := range users {
		zs[i] = redis.Z{Score: exp, Member: b.presenceMember(u)}
	}
	key := presenceSetKey(room)
	var claims []string
	args := []any{ttl.Milliseconds()}
	for _, u := range users {
		for _, k := range claimKeys(room, u) {
			claims = append(claims, k)
			args = append(args, u.Session)
		}
	}
	_, err := b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		// Entries of instances that died go here.
		p.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(now.UnixMilli(), 10))
		p.ZAdd(ctx, key, zs...)
		p.PExpire(ctx, key, 2*ttl)
		// EVAL, not EVALSHA: a pipeline cannot load a script it misses.
		renewScript.Eval(ctx, p, claims, args...)
		return nil
	})
	if err != nil {
		return fmt.Errorf("presence in room %q: %w", room, err)
	}
	return nil
}

// Claim implements realtime.Broker: one run of claimScript.
func (b *Broker) Claim(ctx context.Context, room string, u realtime.User, ttl time.Duration) (bool, error) {
	held, err := claimScript.Run(ctx, b.rdb, claimKeys(room, u), u.Session, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("claim a name in room %q: %w", room, err)
	}
	return held == 1, nil
}

// BindName implements realtime.NameBook: one run of bindScript.
func (b *Broker) BindName(ctx context.Context, subject, name string) (string, error) {
	keys := []string{identityKey(subject)}
	if name != "" {
		for _, k := range realtime.NameKeys(name) {
			keys = append(keys, boundNameKey(k))
		}
	}
	res, err := bindScript.Run(ctx, b.rdb, keys, subject, name).Slice()
	if err != nil {
		return "", fmt.Errorf("bind a name to an identity: %w", err)
	}
	if len(res) != 2 {
		return "", fmt.Errorf("bind a name to an identity: unexpected reply %v", res)
	}
	if ok, _ := res[0].(int64); ok != 1 {
		return "", realtime.ErrNameTaken
	}
	bound, _ := res[1].(string)
	return bound, nil
}

// Absent implements realtime.Broker: one run of absentScript.
func (b *Broker) Absent(ctx context.Context, room string, u realtime.User) error {
	keys := append([]string{presenceSetKey(room)}, claimKeys(room, u)...)
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	if err := absentScript.Run(ctx, b.rdb, keys, b.presenceMember(u), "\x00"+u.Session+"\x00", now).Err(); err != nil {
		return fmt.Errorf("absence in room %q: %w", room, err)
	}
	return nil
}

// Members implements realtime.Broker: the entries of every instance that
// have not expired, each user once.
func (b *Broker) Members(ctx context.Context, room string) ([]realtime.User, error) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	entries, err := b.rdb.ZRangeByScore(ctx, presenceSetKey(room), &redis.ZRangeBy{Min: "(" + now, Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("members of room %q: %w", room, err)
	}
	return presentUsers(entries), nil
}

// MembersOf implements realtime.MembersOf: one pipeline for all the rooms
// (on a cluster, one round trip per shard), for the directory.
func (b *Broker) MembersOf(ctx context.Context, rooms []string) (map[string][]realtime.User, error) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	cmds := make([]*redis.StringSliceCmd, len(rooms))
	_, err := b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, room := range rooms {
			cmds[i] = p.ZRangeByScore(ctx, presenceSetKey(room), &redis.ZRangeBy{Min: "(" + now, Max: "+inf"})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("members of %d rooms: %w", len(rooms), err)
	}
	out := make(map[string][]realtime.User, len(rooms))
	for i, room := range rooms {
		out[room] = presentUsers(cmds[i].Val())
	}
	return out, nil
}

// presentUsers reads a room's presence entries (instance, session, name):
// each user once, in order.
func presentUsers(entries []string) []realtime.User {
	seen := make(map[realtime.User]bool, len(entries))
	users := make([]realtime.User, 0, len(entries))
	for _, e := range entries {
		parts := strings.SplitN(e, "\x00", 3)
		if len(parts) != 3 {
			continue
		}
		u := realtime.User{Session: parts[1], Name: parts[2]}
		if !seen[u] {
			seen[u] = true
			users = append(users, u)
		}
	}
	realtime.SortUsers(users)
	return users
}

// History implements realtime.Broker.
func (b *Broker) History(ctx context.Context, room string) ([]realtime.Message, error) {
	entries, err := b.rdb.LRange(ctx, historyKey(room), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("history of room %q: %w", room, err)
	}
	if len(entries) == 0 && b.archive != nil {
		// Redis may have lost the room: its hot window comes back from the
		// archive at first use.
		n, err := b.rdb.Exists(ctx, seqKey(room)).Result()
		if err != nil {
			return nil, fmt.Errorf("history of room %q: %w", room, err)
		}
		// Reading writes nothing unless the archive has the room: a page
		// opened at a made-up name leaves no key behind, and one opened
		// again soon asks the archive nothing (emptyRooms).
		if n == 0 && !b.empty.known(room, time.Now()) {
			if wrote, err := b.restore(ctx, room); err != nil {
				// The room is most likely new; if not, its page fills
				// again once the archive answers.
				b.archiveUnreachable(room, err)
			} else if wrote {
				if entries, err = b.rdb.LRange(ctx, historyKey(room), 0, -1).Result(); err != nil {
					return nil, fmt.Errorf("history of room %q: %w", room, err)
				}
			}
		}
	}
	msgs := make([]realtime.Message, 0, len(entries))
	for _, e := range entries {
		m, err := decodeMessage([]byte(e))
		if err != nil {
			return nil, fmt.Errorf("history of room %q: %w", room, err)
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

// Subscribe implements realtime.Broker.
func (b *Broker) Subscribe(ctx context.Context, room string) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return realtime.ErrClosed
	}
	if err := b.sub.subscribe(ctx, channelName(room)); err != nil {
		return fmt.Errorf("subscribe to room %q: %w", room, err)
	}
	return nil
}

// Unsubscribe implements realtime.Broker.
func (b *Broker) Unsubscribe(ctx context.Context, room string) error {
	if err := b.sub.unsubscribe(ctx, channelName(room)); err != nil {
		return fmt.Errorf("unsubscribe from room %q: %w", room, err)
	}
	return nil
}

// Events implements realtime.Broker.
func (b *Broker) Events() <-chan realtime.Event { return b.events }

// Ping asks every node that holds rooms: on a cluster, a room whose shard
// is down cannot be served.
func (b *Broker) Ping(ctx context.Context) error {
	err := onEveryPrimary(ctx, b.rdb, func(ctx context.Context, c redis.Cmdable) error {
		return c.Ping(ctx).Err()
	})
	if err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// Close ends the pub/sub connections and waits for their readers to stop.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.quit)
	err := b.sub.close()
	if b.archiveDone != nil {
		<-b.archiveDone
	}
	close(b.events)
	return err
}

// The directory's keys: when each room last had a message, and someone in
// it (scores in Unix ms). Rooms are spread over many keys nowhere else, so
// on a cluster these two live on one shard: a write a minute per busy room
// and one per beat per room with people in it.
const (
	directoryMessagedKey = "chat:directory:messaged"
	directoryPresentKey  = "chat:directory:present"
)

// Touch implements realtime.Directory.
func (b *Broker) Touch(ctx context.Context, room string, at time.Time, message bool) error {
	key := directoryPresentKey
	if message {
		key = directoryMessagedKey
	}
	if err := b.rdb.ZAdd(ctx, key, redis.Z{Score: float64(at.UnixMilli()), Member: room}).Err(); err != nil {
		return fmt.Errorf("directory: note room %q: %w", room, err)
	}
	return nil
}

// Active implements realtime.Directory: the newest of each kind, after
// forgetting what is older than asked.
func (b *Broker) Active(ctx context.Context, messages, present time.Time, limit int) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, set := range []struct {
		key   string
		since time.Time
	}{{directoryMessagedKey, messages}, {directoryPresentKey, present}} {
		since := strconv.FormatInt(set.since.UnixMilli(), 10)
		if err := b.rdb.ZRemRangeByScore(ctx, set.key, "-inf", "("+since).Err(); err != nil {
			return nil, fmt.Errorf("directory: %w", err)
		}
		rooms, err := b.rdb.ZRevRangeByScore(ctx, set.key, &redis.ZRangeBy{Min: since, Max: "+inf", Count: int64(limit)}).Result()
		if err != nil {
			return nil, fmt.Errorf("directory: %w", err)
		}
		for _, room := range rooms {
			if !seen[room] {
				seen[room] = true
				out = append(out, room)
			}
		}
	}
	return out, nil
}
