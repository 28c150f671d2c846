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
	noInfo      emptyRooms    // rooms the room archive had no info of, lately
	streamIdle  time.Duration // how long a drained archive stream stays
	sub         subscriber
	reading     readingCache // what polls of "Your rooms" need (readingcache.go)
	claims      claimRenewals
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
		err := c.SPublish(ctx, probeChannel, "").Err()
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
	ev, reader, err := decodeEvent(room, []byte(payload))
	if err != nil {
		return
	}
	if ev.Kind == kindReading {
		b.reading.heard(ev.Message.Text)
		return // the broker's own: no hub needs it
	}
	if ev.Kind == realtime.KindMessage {
		b.reading.message(room, ev.Message.Seq, ev.Message.Time)
		if reader != "" {
			// Its sender read it (sendScript): no announcement of it
			// comes on the sign-outs' channel.
			b.reading.raise(raisedRead{person: reader, room: room, seq: ev.Message.Seq})
		}
	}
	b.emit(ev)
}

// missed says that channel's events may have been lost while its
// subscription was re-established.
func (b *Broker) missed(channel string) {
	if room, ok := roomOfChannel(channel); ok {
		if room == realtime.SignOutsRoom {
			b.reading.follow(true) // changes announced meanwhile are lost
		}
		b.reading.following(room, true)
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
	m, dup, _, err := b.send(ctx, room, m, guard, "")
	return m, dup, err
}

// SendCounted implements realtime.Broker: one run of sendScript, which
// counts the message for the readers too.
func (b *Broker) SendCounted(ctx context.Context, room string, m realtime.Message, guard, sender string) (realtime.Message, bool, []string, error) {
	return b.send(ctx, room, m, guard, sender)
}

// send runs sendScript, with sender ("": none) counting the message as
// Arrived does, and returns whom to tell of it.
func (b *Broker) send(ctx context.Context, room string, m realtime.Message, guard, sender string) (realtime.Message, bool, []string, error) {
	body, err := encodeRecord(record{Type: realtime.KindMessage, Name: m.Name, Text: m.Text, Time: m.Time, Verified: m.Verified, Author: m.Author, ReplyTo: m.ReplyTo, Quote: m.Quote, Files: m.Files})
	if err != nil {
		return realtime.Message{}, false, nil, fmt.Errorf("encode message: %w", err)
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
	var counting []any
	if sender != "" {
		at := m.Time
		if at.IsZero() {
			at = time.Now()
		}
		keys = append(keys, readingKey(room), readingAllKey(room))
		counting = []any{"1", at.UnixMilli(), sender, maxMentionsKept, time.Now().UnixMilli()}
		for _, c := range realtime.MentionCandidates(m.Text) {
			counting = append(counting, c)
		}
	}
	for {
		args := append([]any{b.publish, body, b.historySize, useGuard, min(guardTTL, b.roomTTL).Milliseconds(), b.roomTTL.Milliseconds(),
			archiving, restored, maxArchiveBacklog, nonce, guardsPerSession}, counting...)
		reply, err := sendScript.Run(ctx, b.rdb, keys, args...).Slice()
		if err != nil {
			b.stale()
			return realtime.Message{}, false, nil, fmt.Errorf("send to room %q: %w", room, err)
		}
		res := make([]int64, 0, 4)
		for _, v := range reply {
			if n, ok := v.(int64); ok {
				res = append(res, n)
			}
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
			return realtime.Message{}, false, nil, fmt.Errorf("send to room %q: unexpected reply %v", room, reply)
		}
		// Before the sender hears back: a message acknowledged is one an
		// archiver will find, even if this instance dies now. A repeated
		// nonce adds it too: the first try may have died just before.
		if b.archive != nil && (res[0] == 0 || len(res) > 3 && res[3] == 1) {
			if err := b.rdb.SAdd(ctx, archiveRoomsKey, room).Err(); err != nil {
				return realtime.Message{}, false, nil, fmt.Errorf("send to room %q: %w", room, err)
			}
		}
		m.Seq, m.First = res[1], len(res) > 2 && res[2] == 1
		b.reading.message(room, m.Seq, m.Time)
		dup := res[0] == 0
		if sender == "" || dup {
			return m, dup, nil, nil
		}
		tell, changed := replyStrings(reply, 4), replyStrings(reply, 5)
		tell, err = b.counted(ctx, room, m, sender, tell, changed)
		return m, false, tell, err // m.Seq is set: stored, even with err
	}
}

// Announce implements realtime.Broker: a publish on the room's channel,
// stored nowhere.
func (b *Broker) Announce(ctx context.Context, room string, kind realtime.EventKind, name string) error {
	body, err := encodeRecord(record{Type: kind, Name: name, Time: time.Now()})
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

// A claim key lasts claimHold and this instance renews its users' claims
// in a room every claimRenew, not every beat: renewing each user's claim
// every 5 s was a GET and a SET per person and room, most of what the
// presence cost Redis (docs/PERFORMANCE.md). claimScript keeps a claim
// whose session is present, or that was set within the presence TTL, and
// takes one past both: what a claim that lapsed with the TTL did.
const (
	claimHold  = 10 * time.Minute
	claimRenew = 2 * time.Minute
)

// claimRenewals says when this instance last renewed its users' claims in
// each room. Its mutex guards the fields and is held for no I/O.
type claimRenewals struct {
	mu     sync.Mutex
	at     map[string]time.Time
	pruned time.Time
}

// due reports whether room's claims are due for renewal at now and, if
// they are, records now as their renewal.
func (c *claimRenewals) due(room string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at == nil {
		c.at = map[string]time.Time{}
	}
	if now.Sub(c.pruned) > claimRenew {
		c.pruned = now
		for r, t := range c.at {
			if now.Sub(t) > claimRenew {
				delete(c.at, r)
			}
		}
	}
	if t, ok := c.at[room]; ok && now.Sub(t) < claimRenew {
		return false
	}
	c.at[room] = now
	return true
}

// forget makes room's claims due at the next beat: their renewal failed.
func (c *claimRenewals) forget(room string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.at, room)
}

// Present implements realtime.Broker: this instance's entries in the
// room's presence set renewed in one transaction, with its users' claims
// when they are due (claimRenew).
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
	args := []any{claimHold.Milliseconds()}
	renew := b.claims.due(room, now)
	if renew {
		for _, u := range users {
			for _, k := range claimKeys(room, u) {
				claims = append(claims, k)
				args = append(args, u.Session)
			}
		}
	}
	_, err := b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		// Entries of instances that died go here.
		p.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(now.UnixMilli(), 10))
		p.ZAdd(ctx, key, zs...)
		p.PExpire(ctx, key, 2*ttl)
		if renew {
			// EVAL, not EVALSHA: a pipeline cannot load a script it misses.
			renewScript.Eval(ctx, p, claims, args...)
		}
		return nil
	})
	if err != nil {
		if renew {
			b.claims.forget(room)
		}
		return fmt.Errorf("presence in room %q: %w", room, err)
	}
	return nil
}

// Claim implements realtime.Broker: one run of claimScript.
func (b *Broker) Claim(ctx context.Context, room string, u realtime.User, ttl time.Duration) (bool, error) {
	keys := append(claimKeys(room, u), presenceSetKey(room))
	now := time.Now().UnixMilli()
	held, err := claimScript.Run(ctx, b.rdb, keys, u.Session, claimHold.Milliseconds(), ttl.Milliseconds(), now).Int()
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

// MembersLapse implements realtime.MembersLapse: Members, with the lowest
// score read.
func (b *Broker) MembersLapse(ctx context.Context, room string) ([]realtime.User, time.Time, error) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	zs, err := b.rdb.ZRangeByScoreWithScores(ctx, presenceSetKey(room), &redis.ZRangeBy{Min: "(" + now, Max: "+inf"}).Result()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("members of room %q: %w", room, err)
	}
	entries := make([]string, len(zs))
	var lapse time.Time
	for i, z := range zs {
		entries[i], _ = z.Member.(string)
		if at := time.UnixMilli(int64(z.Score)); lapse.IsZero() || at.Before(lapse) {
			lapse = at
		}
	}
	return presentUsers(entries), lapse, nil
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
	b.reading.following(room, true)
	if room == realtime.SignOutsRoom {
		b.reading.follow(true)
	}
	return nil
}

// Unsubscribe implements realtime.Broker.
func (b *Broker) Unsubscribe(ctx context.Context, room string) error {
	b.reading.following(room, false)
	if room == realtime.SignOutsRoom {
		b.reading.follow(false)
	}
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
