package realtime

import (
	"context"
	"fmt"
	"time"
)

// Apply returns m changed by c, or why c may not change it: a deleted
// message is no message, and only its author or a moderator changes one.
// A message stored before authors were kept has none: only a moderator
// may change it.
func (c Change) Apply(m Message) (Message, error) {
	switch {
	case m.Deleted != "":
		return Message{}, ErrNoMessage
	case c.React != "":
		return m.react(c.Author, c.Name, c.React)
	case !c.Moderator && (m.Author == "" || m.Author != c.Author):
		return Message{}, ErrNotAuthor
	}
	if c.Delete {
		m.Text, m.Edited, m.Reactions, m.Files = "", time.Time{}, nil, nil
		m.Deleted = DeletedByAuthor
		if c.Moderator && c.Author != m.Author {
			m.Deleted = DeletedByModerator
		}
		return m, nil
	}
	m.Text, m.Edited = c.Text, c.Time.UTC()
	return m, nil
}

// Change edits or deletes message c.Seq of the room for c.Author (see
// Broker.Change) and tells every instance: the room's pages replace the
// message, and every instance forgets what it keeps of the room's older
// pages (WithChanged). An edit's text must be as ParseText returns it.
func (h *Hub) Change(ctx context.Context, room string, c Change, guard string) (Message, bool, error) {
	if err := checkRoom(room); err != nil {
		return Message{}, false, err
	}
	if c.React != "" {
		if err := checkName(c.Name); err != nil {
			return Message{}, false, err
		}
		if parsed, err := ParseEmoji(c.React); err != nil {
			return Message{}, false, err
		} else if parsed != c.React {
			return Message{}, false, fmt.Errorf("%w: not in its parsed form", ErrInvalidEmoji)
		}
	} else if !c.Delete {
		if parsed, err := ParseText(c.Text); err != nil {
			return Message{}, false, err
		} else if parsed != c.Text {
			return Message{}, false, fmt.Errorf("%w: not in its parsed form", ErrInvalidText)
		}
	}
	c.Time = time.Now().UTC()
	m, dup, err := h.broker.Change(ctx, room, c, guard)
	if err != nil || dup {
		return m, dup, err
	}
	// Best effort: the room's own pages have the change already; an
	// instance that misses this note keeps an older page of scrollback
	// for at most the page cache's lifetime.
	if err := h.broker.Announce(ctx, SignOutsRoom, KindChanged, room); err != nil {
		h.brokerFailed("announce a change", room, err)
	}
	return m, false, nil
}

// WithChanged has f told the name of every room one of whose messages
// was edited or deleted, on any instance, so that it forgets what it
// keeps of the room's pages. f is called from the hub's event loop and
// must not block.
func WithChanged(f func(room string)) HubOption {
	return func(h *Hub) { h.changed = f }
}

// WithRemoved has f told of every removal from a room that has sockets
// here: the room and the session removed, so that it closes that
// session's sockets in the room. f is called from the hub's event loop
// and must not block.
func WithRemoved(f func(room, session string)) HubOption {
	return func(h *Hub) { h.removed = f }
}

// Remove keeps session out of the room until until (zero: for good), on
// every instance: its sockets there are closed (WithRemoved) and the room
// is told that name was removed.
func (h *Hub) Remove(ctx context.Context, room, session, name string, until time.Time) error {
	if err := checkRoomAndName(room, name); err != nil {
		return err
	}
	return h.broker.Remove(ctx, room, session, name, until)
}

// Removed reports whether session is kept out of the room, and until when
// (zero: for good).
func (h *Hub) Removed(ctx context.Context, room, session string) (time.Time, bool, error) {
	if err := checkRoom(room); err != nil {
		return time.Time{}, false, err
	}
	return h.broker.Removed(ctx, room, session)
}

// NameOwner returns the verified identity name is bound to; "" when none.
func (h *Hub) NameOwner(ctx context.Context, name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	return h.broker.NameOwner(ctx, name)
}
