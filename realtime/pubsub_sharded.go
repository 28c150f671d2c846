package realtime

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// confirmWithin bounds the wait for SSUBSCRIBE's reply; a shard that
	// does not answer in time is treated as lost.
	confirmWithin = 5 * time.Second
	// readIdle is how long a subscription connection may stay silent
	// before it is pinged; a second silence of that length loses it.
	readIdle = 10 * time.Second
)

var errShardLost = errors.New("shard connection lost")

// shardedSub holds one SSUBSCRIBE connection per shard primary that owns a
// subscribed room's slot.
//
// go-redis's own sharded PubSub re-sends all its channels in one SSUBSCRIBE
// after a reconnect, which a cluster refuses (CROSSSLOT) once they span
// slots (go-redis #3133, #3806). So a connection here is never reused after
// it fails: its rooms are subscribed again one by one wherever their slots
// now live, and each is resynced from its history, since whatever was
// published meanwhile is gone.
type shardedSub struct {
	nodeFor func(ctx context.Context, channel string) (*redis.Client, error)
	reload  func() // asks for a fresh slot map, after a failover or a move
	deliver func(channel, payload string)
	lost    func(channel string)
	quit    chan struct{}
	wg      sync.WaitGroup // readers and re-subscribing goroutines

	mu     sync.Mutex
	shards map[string]*shard // by node address
	want   map[string]bool   // channels subscribed to and not unsubscribed
	closed bool
}

type shard struct {
	addr  string
	ps    *redis.PubSub
	subMu sync.Mutex // one SSUBSCRIBE in flight, so that an error reply is known to be its

	// Guarded by shardedSub.mu.
	channels map[string]bool // confirmed on this connection
	pending  string
	reply    chan error
	dead     bool
}

func newShardedSub(rdb redis.UniversalClient, deliver func(channel, payload string), lost func(channel string)) *shardedSub {
	s := &shardedSub{
		deliver: deliver,
		lost:    lost,
		quit:    make(chan struct{}),
		shards:  make(map[string]*shard),
		want:    make(map[string]bool),
		reload:  func() {},
	}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		s.nodeFor = c.MasterForKey
		s.reload = func() { c.ReloadState(context.Background()) }
	case *redis.Client:
		s.nodeFor = func(context.Context, string) (*redis.Client, error) { return c, nil }
	default:
		s.nodeFor = func(context.Context, string) (*redis.Client, error) {
			return nil, fmt.Errorf("sharded pub/sub needs a single Redis or a cluster client, not %T", rdb)
		}
	}
	return s
}

func (s *shardedSub) subscribe(ctx context.Context, ch string) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.want[ch] = true
	s.mu.Unlock()
	for {
		err := s.place(ctx, ch)
		if err == nil {
			return nil
		}
		if errors.Is(err, ErrClosed) || isUnknownCommand(err) || ctx.Err() != nil {
			s.mu.Lock()
			delete(s.want, ch)
			s.mu.Unlock()
			return err
		}
		// MOVED, a shard that just failed: the slot map is out of date.
		s.reload()
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
		}
	}
}

// place subscribes ch on the connection of the shard that owns its slot.
func (s *shardedSub) place(ctx context.Context, ch string) error {
	node, err := s.nodeFor(ctx, ch)
	if err != nil {
		return err
	}
	sh, err := s.shardOf(node)
	if err != nil {
		return err
	}
	return s.subscribeOn(ctx, sh, ch)
}

func (s *shardedSub) shardOf(node *redis.Client) (*shard, error) {
	addr := node.Options().Addr
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if sh := s.shards[addr]; sh != nil {
		return sh, nil
	}
	// No channels yet: the reader's first Receive dials.
	sh := &shard{addr: addr, ps: node.SSubscribe(context.Background()), channels: make(map[string]bool)}
	s.shards[addr] = sh
	s.wg.Add(1)
	go s.read(sh)
	return sh, nil
}

func (s *shardedSub) subscribeOn(ctx context.Context, sh *shard, ch string) error {
	sh.subMu.Lock()
	defer sh.subMu.Unlock()
	reply := make(chan error, 1)
	s.mu.Lock()
	if sh.dead {
		s.mu.Unlock()
		return errShardLost
	}
	sh.pending, sh.reply = ch, reply
	s.mu.Unlock()

	err := sh.ps.SSubscribe(ctx, ch)
	if err == nil {
		// The caller's context is not watched here: an SSUBSCRIBE on the
		// wire is answered, and an answer that came unheard would leave
		// this connection out of step.
		t := time.NewTimer(confirmWithin)
		select {
		case err = <-reply:
		case <-t.C:
			err = fmt.Errorf("no reply to SSUBSCRIBE from %s within %v", sh.addr, confirmWithin)
		case <-s.quit:
			err = ErrClosed
		}
		t.Stop()
	}

	s.mu.Lock()
	sh.pending, sh.reply = "", nil
	unwanted := err == nil && !s.want[ch]
	if err == nil && sh.dead {
		err = errShardLost
	}
	if err == nil && !unwanted {
		sh.channels[ch] = true
	}
	s.mu.Unlock()
	var rerr redis.Error
	switch {
	case unwanted:
		// Unsubscribed while this was in flight.
		_ = sh.ps.SUnsubscribe(context.WithoutCancel(ctx), ch)
	case err != nil && !errors.As(err, &rerr) && !errors.Is(err, ErrClosed):
		// The connection failed or went silent: nothing on it is sure.
		s.fail(sh, err)
	}
	return err
}

// read delivers a shard's messages until its connection fails or is closed.
func (s *shardedSub) read(sh *shard) {
	defer s.wg.Done()
	ctx := context.Background()
	pinged := false
	for {
		msg, err := sh.ps.ReceiveTimeout(ctx, readIdle)
		if err != nil {
			if s.isDead(sh) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged {
				pinged = true
				if sh.ps.Ping(ctx) == nil {
					continue
				}
			}
			var rerr redis.Error
			if errors.As(err, &rerr) && s.answer(sh, "", err) {
				continue // MOVED and the like: the pending subscribe retries elsewhere
			}
			s.fail(sh, err)
			return
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Message:
			s.deliver(m.Channel, m.Payload)
		case *redis.Subscription:
			switch m.Kind {
			case "ssubscribe":
				s.answer(sh, m.Channel, nil)
			case "sunsubscribe":
				s.dropped(sh, m.Channel)
			}
		}
	}
}

// answer hands the reply to the subscribe call awaiting it, if any.
func (s *shardedSub) answer(sh *shard, ch string, err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh.reply == nil || (err == nil && sh.pending != ch) {
		return false
	}
	sh.reply <- err
	sh.reply = nil
	return true
}

// dropped handles a SUNSUBSCRIBE: the answer to ours, or the server's word
// that the slot is no longer this node's (a slot moved or the primary
// stepped down).
func (s *shardedSub) dropped(sh *shard, ch string) {
	s.mu.Lock()
	ours := !sh.channels[ch]
	delete(sh.channels, ch)
	again := !ours && s.want[ch]
	s.mu.Unlock()
	if again {
		s.reload()
		s.resubscribe(ch)
	}
}

// fail drops a shard's connection and subscribes its rooms again wherever
// their slots are now served.
func (s *shardedSub) fail(sh *shard, reason error) {
	s.mu.Lock()
	if sh.dead {
		s.mu.Unlock()
		return
	}
	sh.dead = true
	if s.shards[sh.addr] == sh {
		delete(s.shards, sh.addr)
	}
	var again []string
	for ch := range sh.channels {
		if s.want[ch] {
			again = append(again, ch)
		}
	}
	if sh.reply != nil {
		sh.reply <- reason
		sh.reply = nil
	}
	s.mu.Unlock()
	_ = sh.ps.Close()
	if len(again) > 0 {
		s.reload()
	}
	for _, ch := range again {
		s.resubscribe(ch)
	}
}

func (s *shardedSub) isDead(sh *shard) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sh.dead
}

// resubscribe places ch again in the background, retrying until it holds
// or nobody wants it, then has its room resynced.
func (s *shardedSub) resubscribe(ch string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		backoff := 50 * time.Millisecond
		for {
			s.mu.Lock()
			wanted := s.want[ch] && !s.closed
			s.mu.Unlock()
			if !wanted {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), confirmWithin)
			err := s.place(ctx, ch)
			cancel()
			if err == nil {
				s.lost(ch)
				return
			}
			s.reload()
			select {
			case <-s.quit:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
		}
	}()
}

func (s *shardedSub) unsubscribe(ctx context.Context, ch string) error {
	s.mu.Lock()
	delete(s.want, ch)
	var on *shard
	for _, sh := range s.shards {
		if sh.channels[ch] {
			on = sh
			delete(sh.channels, ch)
			break
		}
	}
	s.mu.Unlock()
	if on == nil {
		return nil
	}
	return on.ps.SUnsubscribe(ctx, ch)
}

// close ends every shard connection and waits for their goroutines.
func (s *shardedSub) close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	shards := make([]*shard, 0, len(s.shards))
	for _, sh := range s.shards {
		sh.dead = true
		shards = append(shards, sh)
	}
	s.mu.Unlock()
	close(s.quit)
	for _, sh := range shards {
		_ = sh.ps.Close()
	}
	s.wg.Wait()
	return nil
}

// isUnknownCommand tells a server too old for a command (sharded pub/sub
// needs Redis 7) from a passing failure.
func isUnknownCommand(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "unknown command")
}
