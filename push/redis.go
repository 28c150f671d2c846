package push

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisStore keeps subscriptions in Redis, shared by every instance: per
// person a hash (endpoint → subscription) and a sorted set (endpoint by
// time stored), both in the person's hash slot ("chat:push:{person}…"),
// so that it works on one Redis and on a Redis Cluster alike.
type RedisStore struct {
	rdb redis.UniversalClient
	ttl time.Duration
}

// redisTTL is how long a person's subscriptions outlive their last
// subscribe: pages send theirs again each time they load.
const redisTTL = 90 * 24 * time.Hour

// NewRedisStore returns a RedisStore on rdb.
func NewRedisStore(rdb redis.UniversalClient) *RedisStore {
	return &RedisStore{rdb: rdb, ttl: redisTTL}
}

func redisKeys(person string) []string {
	base := "chat:push:{" + person + "}"
	return []string{base + ":subs", base + ":order"}
}

// addScript stores one subscription and drops the oldest beyond the
// bound, at once: KEYS hash, order; ARGV endpoint, JSON, time (ms), bound,
// ttl (ms).
var addScript = redis.NewScript(`
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then
  local old = redis.call('ZRANGE', KEYS[2], 0, over - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1)
  redis.call('HDEL', KEYS[1], unpack(old))
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return 1
`)

// Add implements Store.
func (r *RedisStore) Add(ctx context.Context, person string, s Subscription) error {
	if s.Added.IsZero() {
		s.Added = time.Now()
	}
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("push: encode subscription: %w", err)
	}
	err = addScript.Run(ctx, r.rdb, redisKeys(person), s.Endpoint, b, s.Added.UnixMilli(), MaxPerPerson, r.ttl.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("push: store subscription: %w", err)
	}
	return nil
}

// List implements Store.
func (r *RedisStore) List(ctx context.Context, person string) ([]Subscription, error) {
	all, err := r.rdb.HGetAll(ctx, redisKeys(person)[0]).Result()
	if err != nil {
		return nil, fmt.Errorf("push: read subscriptions: %w", err)
	}
	subs := make([]Subscription, 0, len(all))
	for _, v := range all {
		var s Subscription
		if json.Unmarshal([]byte(v), &s) == nil {
			subs = append(subs, s)
		}
	}
	slices.SortFunc(subs, func(a, b Subscription) int { return a.Added.Compare(b.Added) })
	return subs, nil
}

// Remove implements Store.
func (r *RedisStore) Remove(ctx context.Context, person, endpoint string) error {
	keys := redisKeys(person)
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, keys[0], endpoint)
		p.ZRem(ctx, keys[1], endpoint)
		return nil
	})
	if err != nil {
		return fmt.Errorf("push: remove subscription: %w", err)
	}
	return nil
}
