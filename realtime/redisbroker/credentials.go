package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Generation implements realtime.Credentials: one GET.
func (b *Broker) Generation(ctx context.Context, id string) (int64, error) {
	g, err := b.rdb.Get(ctx, generationKey(id)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read a credential's generation: %w", err)
	}
	return g, nil
}

// Revoke implements realtime.Credentials: one run of revokeScript.
func (b *Broker) Revoke(ctx context.Context, id string, ttl time.Duration) (int64, error) {
	g, err := revokeScript.Run(ctx, b.rdb, []string{generationKey(id)}, ttl.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("revoke a credential: %w", err)
	}
	return g, nil
}

// FirstUse implements realtime.Credentials: one SET NX.
func (b *Broker) FirstUse(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	first, err := b.rdb.SetNX(ctx, firstUseKey(id), 1, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("record a credential's use: %w", err)
	}
	return first, nil
}
