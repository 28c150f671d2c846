package redisbroker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/realtime"
)

// classicSub is one SUBSCRIBE connection for every room, which go-redis
// restores by itself after the connection is lost.
type classicSub struct {
	pubsub  *redis.PubSub
	deliver func(channel, payload string)
	lost    func(channel string)
	done    chan struct{} // closed when receive returns

	mu      sync.Mutex
	waiters map[string][]chan struct{} // channel -> subscribe calls awaiting confirmation
}

func newClassicSub(rdb redis.UniversalClient, deliver func(channel, payload string), lost func(channel string)) *classicSub {
	s := &classicSub{
		pubsub:  rdb.Subscribe(context.Background()),
		deliver: deliver,
		lost:    lost,
		done:    make(chan struct{}),
		waiters: make(map[string][]chan struct{}),
	}
	// A large buffer: go-redis drops messages when its channel stays full.
	go s.receive(s.pubsub.ChannelWithSubscriptions(redis.WithChannelSize(4096)))
	return s
}

func (s *classicSub) receive(in <-chan any) {
	defer close(s.done)
	for msg := range in {
		switch msg := msg.(type) {
		case *redis.Subscription:
			if msg.Kind != "subscribe" {
				continue
			}
			s.mu.Lock()
			ws := s.waiters[msg.Channel]
			delete(s.waiters, msg.Channel)
			s.mu.Unlock()
			if len(ws) > 0 {
				for _, w := range ws {
					close(w)
				}
				continue
			}
			// Nobody asked: go-redis re-subscribed after a lost connection,
			// and whatever was published meanwhile is gone.
			s.lost(msg.Channel)
		case *redis.Message:
			s.deliver(msg.Channel, msg.Payload)
		}
	}
}

func (s *classicSub) subscribe(ctx context.Context, ch string) error {
	confirmed := make(chan struct{})
	s.mu.Lock()
	s.waiters[ch] = append(s.waiters[ch], confirmed)
	s.mu.Unlock()

	err := s.pubsub.Subscribe(ctx, ch)
	if err == nil {
		select {
		case <-confirmed:
			return nil
		case <-ctx.Done():
			err = ctx.Err()
		case <-s.done:
			return realtime.ErrClosed
		}
	}
	s.dropWaiter(ch, confirmed)
	// go-redis keeps a channel whose SUBSCRIBE failed and subscribes to it
	// again on reconnect; nobody here wants it.
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	_ = s.pubsub.Unsubscribe(uctx, ch)
	cancel()
	return err
}

func (s *classicSub) dropWaiter(ch string, w chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.waiters[ch]
	for i, x := range ws {
		if x == w {
			s.waiters[ch] = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(s.waiters[ch]) == 0 {
		delete(s.waiters, ch)
	}
}

func (s *classicSub) unsubscribe(ctx context.Context, ch string) error {
	return s.pubsub.Unsubscribe(ctx, ch)
}

// close ends the connection and waits for its reader to stop.
func (s *classicSub) close() error {
	err := s.pubsub.Close()
	if errors.Is(err, redis.ErrClosed) {
		err = nil
	}
	<-s.done
	return err
}
