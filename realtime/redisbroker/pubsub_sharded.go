package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
)

const (
	// confirmWithin bounds the wait for SSUBSCRIBE's reply; a shard that
	// does not answer in time is treated as lost.
	confirmWithin = 5 * time.Second
	// readIdle is how long a subscription connection may stay silent
	// before it is pinged; pongWithin is how long the answer may take.
	readIdle   = 5 * time.Second
	pongWithin = 2 * time.Second
	// failedFor is how long a node whose connection failed is not dialled
	// again while the slot map still names it: during a failover the map
	// lags, and each dial of a dead host costs a dial timeout.
	failedFor = 3 * time.Second
)

var (
	errShardLost = errors.New("shard connection lost")
	errStaleMap  = errors.New("the slot map names a node that just failed")
	errNoReply   = errors.New("no reply to SSUBSCRIBE")
)

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
	shards map[string]*shard    // by node address
	want   map[string]bool      // channels subscribed to and not unsubscribed
	failed map[string]time.Time // node address -> when its connection failed
	closed bool
}

type shard struct {
	addr       string
	ps         *redis.PubSub
	subMu      sync.Mutex  // one SSUBSCRIBE in flight, so that an error reply is known to be its
	delivering atomic.Bool // the reader waits on the hub, not on the server

	// Guarded by shardedSub.mu.
	channels map[string]bool // confirmed on this connection
	pending  string
	reply    chan error
	dead     bool
}

func newShardedSub(rdb redis.UniversalClient, reload func(), deliver func(channel, payload string), lost func(channel string)) *shardedSub {
	s := &shardedSub{
		deliver: deliver,
		lost:    lost,
		quit:    make(chan struct{}),
		shards:  make(map[string]*shard),
		want:    make(map[string]bool),
		failed:  make(map[string]time.Time),
		reload:  reload,
	}
	switch c := rdb.(type) {
	case *redis.ClusterClient:
		s.nodeFor = c.MasterForKey
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
		return realtime.ErrClosed
	}
	s.want[ch] = true
	s.mu.Unlock()
	for {
		err := ctx.Err()
		if err == nil {
			if err = s.place(ctx, ch); err == nil {
				return nil
			}
		}
		if errors.Is(err, realtime.ErrClosed) || isUnknownCommand(err) || ctx.Err() != nil {
			s.mu.Lock()
			delete(s.want, ch)
			s.mu.Unlock()
			return err
		}
		// MOVED, a shard that just failed: the slot map is out of date.
		s.reload()
		select {
		case <-time.After(jitter(100 * time.Millisecond)):
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
		return nil, realtime.ErrClosed
	}
	if sh := s.shards[addr]; sh != nil {
		return sh, nil
	}
	if at, ok := s.failed[addr]; ok {
		if time.Since(at) < failedFor {
			return nil, errStaleMap
		}
		delete(s.failed, addr)
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
	// A write whose deadline has passed fails, and go-redis then drops the
	// connection: better not to start.
	if err := ctx.Err(); err != nil {
		return err
	}
	reply := make(chan error, 1)
	s.mu.Lock()
	if sh.dead {
		s.mu.Unlock()
		return errShardLost
	}
	sh.pending, sh.reply = ch, reply
	s.mu.Unlock()

	// From here the caller's context is not watched: an SSUBSCRIBE on the
	// wire is answered, and an answer that came unheard would leave this
	// connection out of step.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), confirmWithin)
	err := sh.ps.SSubscribe(wctx, ch)
	cancel()
	silent := false
	if err == nil {
		t := time.NewTimer(confirmWithin)
		select {
		case err = <-reply:
		case <-t.C:
			err = fmt.Errorf("%w from %s within %v", errNoReply, sh.addr, confirmWithin)
			// A reader stuck handing events to a busy hub is not a
			// silent server.
			silent = !sh.delivering.Load()
		case <-s.quit:
			err = realtime.ErrClosed
		}
		t.Stop()
	}

	s.mu.Lock()
	sh.pending, sh.reply = "", nil
	if err == nil && sh.dead {
		err = errShardLost
	}
	if err != nil {
		delete(sh.channels, ch)
	}
	unwanted := err == nil && !s.want[ch]
	s.mu.Unlock()
	var rerr redis.Error
	switch {
	case unwanted:
		// Unsubscribed while this was in flight.
		s.unsubscribeOn(sh, ch)
	case silent, err != nil && !errors.As(err, &rerr) && !errors.Is(err, realtime.ErrClosed) && !errors.Is(err, errNoReply):
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
		wait := readIdle
		if pinged {
			wait = pongWithin
		}
		msg, err := sh.ps.ReceiveTimeout(ctx, wait)
		if err != nil {
			if s.isDead(sh) {
				return
			}
			var ne net.Error
			var op *net.OpError
			dial := errors.As(err, &op) && op.Op == "dial"
			if !dial && errors.As(err, &ne) && ne.Timeout() && !pinged {
				pinged = true
				if sh.ps.Ping(ctx) == nil {
					continue
				}
			}
			var rerr redis.Error
			if errors.As(err, &rerr) {
				// MOVED and the like: the pending subscribe retries
				// elsewhere. Unasked, it answers an SUNSUBSCRIBE of a
				// slot already gone: nothing to do.
				s.answer(sh, "", err)
				continue
			}
			s.fail(sh, err)
			return
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Message:
			sh.delivering.Store(true)
			s.deliver(m.Channel, m.Payload)
			sh.delivering.Store(false)
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

// answer hands the reply to the subscribe call awaiting it, if any. A
// confirmation is recorded at once, before the reader reads on: the next
// reply may be the server dropping the channel again.
func (s *shardedSub) answer(sh *shard, ch string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sh.reply == nil || (err == nil && sh.pending != ch) {
		return
	}
	if err == nil && s.want[ch] && !sh.dead {
		sh.channels[ch] = true
	}
	sh.reply <- err
	sh.reply = nil
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
		s.failed[sh.addr] = time.Now()
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
			case <-time.After(jitter(backoff)):
			}
			backoff = min(2*backoff, time.Second)
		}
	}()
}

func (s *shardedSub) unsubscribe(_ context.Context, ch string) error {
	s.mu.Lock()
	delete(s.want, ch)
	var on []*shard
	for _, sh := range s.shards {
		if sh.channels[ch] {
			on = append(on, sh)
			delete(sh.channels, ch)
		}
	}
	s.mu.Unlock()
	for _, sh := range on {
		s.unsubscribeOn(sh, ch)
	}
	return nil
}

// unsubscribeOn sends SUNSUBSCRIBE. If the write fails, go-redis has
// reconnected that PubSub behind our back, re-sending its channels in one
// SSUBSCRIBE: the shard is dropped and its rooms placed again.
func (s *shardedSub) unsubscribeOn(sh *shard, ch string) {
	ctx, cancel := context.WithTimeout(context.Background(), confirmWithin)
	defer cancel()
	if err := sh.ps.SUnsubscribe(ctx, ch); err != nil {
		s.fail(sh, err)
	}
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
	// In parallel: a Close can wait behind a reconnect's dial.
	var closing sync.WaitGroup
	for _, sh := range shards {
		closing.Go(func() { _ = sh.ps.Close() })
	}
	closing.Wait()
	s.wg.Wait()
	return nil
}

// jitter spreads d over [d/2, d), so that instances do not retry in step.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2)
}

// isUnknownCommand tells a server too old for a command (sharded pub/sub
// needs Redis 7) from a passing failure.
func isUnknownCommand(err error) bool {
	return err != nil && strings.Contains(strings.ToLower(err.Error()), "unknown command")
}
