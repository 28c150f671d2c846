package realtime

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// guardTTL is how long a (session, nonce) guard is remembered: far longer
// than htmx keeps a send queued or a user re-submits a form.
const guardTTL = 24 * time.Hour

// Every key of one room carries the hash tag {room}, so the send script runs
// on one slot when the keys live in a Redis Cluster.
func seqKey(room string) string     { return "chat:{" + room + "}:seq" }
func historyKey(room string) string { return "chat:{" + room + "}:history" }
func guardKey(room, g string) string {
	return "chat:{" + room + "}:guard:" + g
}
func channelName(room string) string    { return "chat:{" + room + "}:events" }
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
var sendScript = redis.NewScript(`
if ARGV[4] == '1' then
  local prev = redis.call('GET', KEYS[3])
  if prev then return {0, tonumber(prev)} end
end
local seq = redis.call('INCR', KEYS[1])
local entry = '{"seq":' .. seq .. ',' .. string.sub(ARGV[2], 2)
redis.call('RPUSH', KEYS[2], entry)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
if ARGV[4] == '1' then
  redis.call('SET', KEYS[3], seq, 'EX', ARGV[5])
end
redis.call('PUBLISH', ARGV[1], entry)
return {1, seq}
`)

// RedisBroker relays events through Redis pub/sub and keeps history in a
// Redis list per room. It holds one pub/sub connection for all its rooms.
type RedisBroker struct {
	rdb         redis.UniversalClient
	instance    string // tells this instance's presence entries apart
	historySize int
	pubsub      *redis.PubSub
	events      chan Event
	quit        chan struct{} // closed by Close, so receive never blocks on events
	done        chan struct{} // closed when receive returns

	mu      sync.Mutex
	waiters map[string][]chan struct{} // channel -> Subscribe calls awaiting confirmation
	closed  bool
}

// NewRedisBroker starts the broker's pub/sub connection on rdb. Close stops
// it; rdb itself stays the caller's to close.
func NewRedisBroker(rdb redis.UniversalClient, historySize int) *RedisBroker {
	b := &RedisBroker{
		rdb:         rdb,
		instance:    rand.Text(),
		historySize: historySize,
		pubsub:      rdb.Subscribe(context.Background()),
		events:      make(chan Event, 1024),
		quit:        make(chan struct{}),
		done:        make(chan struct{}),
		waiters:     make(map[string][]chan struct{}),
	}
	// A large buffer: go-redis drops messages when its channel stays full.
	in := b.pubsub.ChannelWithSubscriptions(redis.WithChannelSize(4096))
	go b.receive(in)
	return b
}

func (b *RedisBroker) receive(in <-chan any) {
	defer close(b.done)
	defer close(b.events)
	for msg := range in {
		switch msg := msg.(type) {
		case *redis.Subscription:
			if msg.Kind != "subscribe" {
				continue
			}
			room, ok := roomOfChannel(msg.Channel)
			if !ok {
				continue
			}
			b.mu.Lock()
			ws := b.waiters[msg.Channel]
			delete(b.waiters, msg.Channel)
			b.mu.Unlock()
			if len(ws) > 0 {
				for _, w := range ws {
					close(w)
				}
				continue
			}
			// Nobody asked: go-redis re-subscribed after a lost connection,
			// and whatever was published meanwhile is gone.
			b.emit(Event{Room: room, Kind: KindResync})
		case *redis.Message:
			room, ok := roomOfChannel(msg.Channel)
			if !ok {
				continue
			}
			ev, err := decodeEvent(room, []byte(msg.Payload))
			if err != nil {
				continue
			}
			b.emit(ev)
		}
	}
}

func (b *RedisBroker) emit(ev Event) {
	select {
	case b.events <- ev:
	case <-b.quit:
	}
}

func (b *RedisBroker) Send(ctx context.Context, room string, m Message, guard string) (Message, bool, error) {
	body, err := json.Marshal(wireEvent{Type: KindMessage, Name: m.Name, Text: m.Text, Time: m.Time})
	if err != nil {
		return Message{}, false, fmt.Errorf("encode message: %w", err)
	}
	useGuard := "0"
	if guard != "" {
		useGuard = "1"
	}
	keys := []string{seqKey(room), historyKey(room), guardKey(room, guard)}
	res, err := sendScript.Run(ctx, b.rdb, keys,
		channelName(room), body, b.historySize, useGuard, int(guardTTL/time.Second)).Int64Slice()
	if err != nil {
		return Message{}, false, fmt.Errorf("send to room %q: %w", room, err)
	}
	if len(res) != 2 {
		return Message{}, false, fmt.Errorf("send to room %q: unexpected reply %v", room, res)
	}
	m.Seq = res[1]
	return m, res[0] == 0, nil
}

func (b *RedisBroker) Announce(ctx context.Context, room string, kind EventKind, name string) error {
	body, err := json.Marshal(wireEvent{Type: kind, Name: name, Time: time.Now()})
	if err != nil {
		return fmt.Errorf("encode notice: %w", err)
	}
	if err := b.rdb.Publish(ctx, channelName(room), body).Err(); err != nil {
		return fmt.Errorf("announce in room %q: %w", room, err)
	}
	return nil
}

// Presence is a sorted set per room: one member per (instance, session,
// name), scored with its expiry, so that the users of an instance that died
// vanish on their own.
func (b *RedisBroker) presenceMember(u User) string {
	return b.instance + "\x00" + u.Session + "\x00" + u.Name
}

func (b *RedisBroker) Present(ctx context.Context, room string, users []User, ttl time.Duration) error {
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
	_, err := b.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		// Entries of instances that died go here.
		p.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(now.UnixMilli(), 10))
		p.ZAdd(ctx, key, zs...)
		p.PExpire(ctx, key, 2*ttl)
		return nil
	})
	if err != nil {
		return fmt.Errorf("presence in room %q: %w", room, err)
	}
	return nil
}

func (b *RedisBroker) Absent(ctx context.Context, room string, u User) error {
	if err := b.rdb.ZRem(ctx, presenceSetKey(room), b.presenceMember(u)).Err(); err != nil {
		return fmt.Errorf("absence in room %q: %w", room, err)
	}
	return nil
}

func (b *RedisBroker) Members(ctx context.Context, room string) ([]User, error) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	entries, err := b.rdb.ZRangeByScore(ctx, presenceSetKey(room), &redis.ZRangeBy{Min: "(" + now, Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("members of room %q: %w", room, err)
	}
	seen := make(map[User]bool, len(entries))
	users := make([]User, 0, len(entries))
	for _, e := range entries {
		parts := strings.SplitN(e, "\x00", 3)
		if len(parts) != 3 {
			continue
		}
		u := User{Session: parts[1], Name: parts[2]}
		if !seen[u] {
			seen[u] = true
			users = append(users, u)
		}
	}
	sortUsers(users)
	return users, nil
}

func (b *RedisBroker) History(ctx context.Context, room string) ([]Message, error) {
	entries, err := b.rdb.LRange(ctx, historyKey(room), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("history of room %q: %w", room, err)
	}
	msgs := make([]Message, 0, len(entries))
	for _, e := range entries {
		m, err := decodeMessage([]byte(e))
		if err != nil {
			return nil, fmt.Errorf("history of room %q: %w", room, err)
		}
		msgs = append(msgs, m)
	}
	return msgs, nil
}

func (b *RedisBroker) Subscribe(ctx context.Context, room string) error {
	ch := channelName(room)
	confirmed := make(chan struct{})
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.waiters[ch] = append(b.waiters[ch], confirmed)
	b.mu.Unlock()

	err := b.pubsub.Subscribe(ctx, ch)
	if err == nil {
		select {
		case <-confirmed:
			return nil
		case <-ctx.Done():
			err = ctx.Err()
		case <-b.done:
			return ErrClosed
		}
	}
	b.dropWaiter(ch, confirmed)
	// go-redis keeps a channel whose SUBSCRIBE failed and subscribes to it
	// again on reconnect; nobody here wants it.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	_ = b.pubsub.Unsubscribe(uctx, ch)
	cancel()
	return fmt.Errorf("subscribe to room %q: %w", room, err)
}

func (b *RedisBroker) dropWaiter(ch string, w chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ws := b.waiters[ch]
	for i, x := range ws {
		if x == w {
			b.waiters[ch] = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(b.waiters[ch]) == 0 {
		delete(b.waiters, ch)
	}
}

func (b *RedisBroker) Unsubscribe(ctx context.Context, room string) error {
	if err := b.pubsub.Unsubscribe(ctx, channelName(room)); err != nil {
		return fmt.Errorf("unsubscribe from room %q: %w", room, err)
	}
	return nil
}

func (b *RedisBroker) Events() <-chan Event { return b.events }

func (b *RedisBroker) Ping(ctx context.Context) error {
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}

// Close ends the pub/sub connection and waits for its reader to stop.
func (b *RedisBroker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	close(b.quit)
	err := b.pubsub.Close()
	if errors.Is(err, redis.ErrClosed) {
		err = nil
	}
	<-b.done
	return err
}
