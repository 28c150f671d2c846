package redisbroker

import (
	"context"
	"errors"
	"time"

	"github.com/chatrun/chat/realtime"
)

// Change implements realtime.Broker.
func (b *Broker) Change(ctx context.Context, room string, c realtime.Change, guard string) (realtime.Message, bool, error) {
	return realtime.Message{}, false, errors.ErrUnsupported // TODO(issue 27)
}

// Remove implements realtime.Removals.
func (b *Broker) Remove(ctx context.Context, room, session, name string, until time.Time) error {
	return errors.ErrUnsupported // TODO(issue 27)
}

// Removed implements realtime.Removals.
func (b *Broker) Removed(ctx context.Context, room, session string) (time.Time, bool, error) {
	return time.Time{}, false, errors.ErrUnsupported // TODO(issue 27)
}

// NameOwner implements realtime.NameBook.
func (b *Broker) NameOwner(ctx context.Context, name string) (string, error) {
	return "", errors.ErrUnsupported // TODO(issue 27)
}
