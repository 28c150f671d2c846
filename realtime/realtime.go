// Package realtime relays room events between the sockets of every instance
// and keeps each room's history. It knows nothing of HTTP or HTML: the Hub is
// handed a Renderer that turns events into the bytes it writes to sockets.
//
// The package holds the domain (Message, User, Event), the interfaces the
// hub needs of a store (Broker, and Presence within it), the Hub itself, and
// the in-memory broker a single instance runs on. The Redis broker is its
// peer in realtime/redisbroker; testkit/brokertest is the suite both pass.
package realtime

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"
)

// Message is one chat message as stored in a room's history.
type Message struct {
	Seq int64 `json:"seq"`
	// First says that Seq 1 starts the room's numbering: the store held
	// nothing of the room, because it is new or because its data was lost
	// (Redis restarted empty, a FLUSHALL). A page that shows higher numbers
	// shows a numbering that is gone.
	First bool      `json:"first,omitempty"`
	Name  string    `json:"name"`
	Text  string    `json:"text"`
	Time  time.Time `json:"ts"`
	// Verified says that the sender was signed in with a verified
	// identity (AUTH), which the name belongs to.
	Verified bool `json:"verified,omitempty"`
	// Author is who sent it: the sender's session id, which the sessions
	// of one verified identity share. It is kept with the message and
	// never shown: it decides who may change the message.
	Author string `json:"author,omitempty"`
	// Edited is when its author last changed the text; zero if never.
	Edited time.Time `json:"edited,omitzero"`
	// Deleted says who took the message back; its text is gone, and so
	// are its reactions.
	Deleted Deletion `json:"deleted,omitempty"`
	// Reactions are the emoji people put under the message, in the order
	// each was first given; none without people.
	Reactions []Reaction `json:"reactions,omitempty"`
	// ReplyTo is the seq of the message this one answers; 0: none.
	ReplyTo int64 `json:"reply_to,omitempty"`
	// Quote is what a reply shows of the message it answers, as that
	// message is now: the store updates it when the original is edited
	// or deleted (in its hot window; see Broker.Change).
	Quote *Quote `json:"quote,omitempty"`
	// Files are the pictures and files attached to it, in the order
	// they were attached (at most MaxFiles); none once it is deleted.
	Files []Attachment `json:"files,omitempty"`
}

// Attachment is a file attached to a message, as pages show it: the
// file itself lives in the file store (package files), under ID.
type Attachment struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Type is the media type the server decided from the content.
	Type string `json:"type"`
	Size int64  `json:"size"`
	// Image says that it is a picture with a thumbnail of Width×Height
	// pixels.
	Image  bool `json:"image,omitempty"`
	Width  int  `json:"width,omitempty"`
	Height int  `json:"height,omitempty"`
}

// MaxFiles is how many files one message may carry.
const MaxFiles = 4

// Reaction is one emoji under a message, and who gave it: Authors (who
// may take it back, never shown) and their Names, in the order they
// reacted. A reaction nobody gives any more is no reaction.
type Reaction struct {
	Emoji   string   `json:"emoji"`
	Authors []string `json:"authors"`
	Names   []string `json:"names"`
}

// Quote is a reply's view of the message it answers: who wrote it and
// its first QuoteLength characters, or who deleted it.
type Quote struct {
	Name    string   `json:"name"`
	Text    string   `json:"text,omitempty"`
	Deleted Deletion `json:"deleted,omitempty"`
}

// Deletion says who deleted a message: "" when nobody did.
type Deletion string

const (
	// DeletedByAuthor is a message its author took back.
	DeletedByAuthor Deletion = "author"
	// DeletedByModerator is a message a moderator removed.
	DeletedByModerator Deletion = "moderator"
)

// User is one signed-in person: the name shown, and the session that signed
// in with it. Two sessions may not hold one name in a room.
type User struct {
	Name    string
	Session string
}

// EventKind tells what an Event announces.
type EventKind string

const (
	// KindMessage is a message stored in the room's history.
	KindMessage EventKind = "message"
	// KindPresence says that the room's member list changed: instances
	// read it again and tell their sockets who entered or left.
	KindPresence EventKind = "presence"
	// KindEntered is the notice that someone entered, which an instance
	// derives from the member list; it does not travel between instances.
	KindEntered EventKind = "entered"
	// KindLeft is the notice that someone left, derived like KindEntered.
	KindLeft EventKind = "left"
	// KindResync says that events of the room may have been lost (the
	// subscription was re-established): members must reload its history.
	KindResync EventKind = "resync"
	// KindTyping says that someone is typing in the room. It travels
	// between instances like a notice and is never stored or replayed.
	KindTyping EventKind = "typing"
	// KindSignedOut says that a session was signed out (its id in the
	// event's Message.Name): every instance closes that session's sockets.
	// It travels on SignOutsRoom alone.
	KindSignedOut EventKind = "signed-out"
	// KindChanged is a stored message edited or deleted: the message as
	// it is now. On SignOutsRoom it says only which room had one (its name
	// in Message.Name), so that every instance forgets what it keeps of
	// the room's older pages.
	KindChanged EventKind = "changed"
	// KindRemoved says that a moderator removed someone from the room:
	// their session in Message.Author, their name in Message.Name.
	KindRemoved EventKind = "removed"
	// KindExcluded says that a member left a private room's members
	// (removed by its creator): their member id in Message.Author.
	KindExcluded EventKind = "excluded"
)

// SignOutsRoom is the channel sign-outs (and notes of changed messages)
// travel on, as if it were a room: every hub subscribes to it. No room's
// name can take this form ('!').
const SignOutsRoom = "!signouts"

// Event is what travels on a room's channel between instances.
type Event struct {
	Room    string    // the room it happened in
	Kind    EventKind // what happened
	Message Message   // for KindMessage; Name only for notices
}

// ErrClosed is returned by a broker that has been closed.
var ErrClosed = errors.New("realtime: broker closed")

// ErrNameTaken says that a name, or one that looks like it (NameKeys),
// belongs to another identity.
var ErrNameTaken = errors.New("realtime: the name belongs to another identity")

// NameBook binds display names to verified identities, for good and on every
// instance, when people sign in through an identity provider: a name then
// belongs to one person in every room.
type NameBook interface {
	// BindName gives name to the identity subject, unless subject has a
	// name already or another identity holds name or one that looks like
	// it (ErrNameTaken). It returns subject's name after the call: the one
	// bound before, if any. An empty name binds nothing and returns
	// subject's name, "" when it has none. Two binds of one name at once,
	// on any instances, give it to one identity.
	BindName(ctx context.Context, subject, name string) (string, error)
	// NameOwner returns the identity name (or one that looks like it) is
	// bound to; "" when none.
	NameOwner(ctx context.Context, name string) (string, error)
}

// Change is an edit or a deletion of one stored message, or a reaction
// to it given or taken back.
type Change struct {
	Seq int64
	// Author is who asks: the message's author, unless Moderator; for a
	// reaction, the one who reacts.
	Author    string
	Moderator bool
	// Delete takes the message back; otherwise Text is its new text.
	Delete bool
	Text   string
	// React, when not "", toggles Author's reaction with that emoji (as
	// ParseEmoji returns it) under the message: given if Author had not
	// given it, taken back if they had. Name is the reactor's name, shown.
	React string
	Name  string
	// Time is when the change was made: the edit's time.
	Time time.Time
}

// ErrNoMessage says that a room has no message of that number, or that it
// was deleted.
var ErrNoMessage = errors.New("realtime: no such message")

// ErrNotAuthor says that someone asked to change a message that is not
// theirs.
var ErrNotAuthor = errors.New("realtime: the message is someone else's")

// ErrTooManyReactions says that someone has given MaxReactionsPerPerson
// distinct reactions to one message already.
var ErrTooManyReactions = errors.New("realtime: too many reactions to one message")

// MaxReactionsPerPerson is how many distinct emoji one person may put
// under one message.
const MaxReactionsPerPerson = 20

// Removals keeps who a moderator removed from which room, until when, on
// every instance.
type Removals interface {
	// Remove keeps session out of room until until (zero: for good) and
	// tells every instance (KindRemoved, with name).
	Remove(ctx context.Context, room, session, name string, until time.Time) error
	// Removed reports whether session is kept out of room, and until
	// when (zero: for good).
	Removed(ctx context.Context, room, session string) (until time.Time, removed bool, err error)
}

// Presence records who is in which room through which instance, and who
// holds which name there. Entries expire unless renewed, so the users of an
// instance that died go by themselves.
type Presence interface {
	// Claim gives u's name in room to u's session while u is present
	// there on a live instance and until ttl passes after that (or after
	// the Claim), unless another session holds it:
	// names that look alike to a reader are one name (NameKeys). It
	// reports whether u's session holds the name now. Two Claims of one
	// name at once, on any instances, give it to one session.
	Claim(ctx context.Context, room string, u User, ttl time.Duration) (bool, error)
	// Present records that users are connected to room through this
	// instance, until ttl passes without another call: their claims on
	// their names hold meanwhile.
	Present(ctx context.Context, room string, users []User, ttl time.Duration) error
	// Absent removes this instance's record of u in room and, when no
	// instance has u there any more, gives up u's claim on the name.
	Absent(ctx context.Context, room string, u User) error
	// Members returns who is connected to room through any live instance,
	// each user once, sorted by name.
	Members(ctx context.Context, room string) ([]User, error)
}

// Credentials lets what people signed in with (a session, a verified
// identity, a sign-in under way) be ended, or used once, on every instance.
type Credentials interface {
	// Generation returns the credential id's generation: 0 until it is
	// revoked, then one more at each Revoke. A cookie issued at an older
	// generation than the current one is no longer valid.
	Generation(ctx context.Context, id string) (int64, error)
	// Revoke bumps id's generation and returns the new one; it is kept
	// for ttl, the longest the credential lives.
	Revoke(ctx context.Context, id string, ttl time.Duration) (int64, error)
	// FirstUse reports whether id is used here for the first time within
	// ttl, on any instance: of two uses at once, one is the first.
	FirstUse(ctx context.Context, id string, ttl time.Duration) (bool, error)
}

// Broker stores room history and relays events between instances, and
// keeps their presence. The in-memory and Redis brokers both pass the
// conformance suite of testkit/brokertest.
type Broker interface {
	Presence
	Directory
	NameBook
	Credentials
	Removals
	Reading
	// Send numbers m with the room's next seq (and First), appends it to
	// the history and publishes it, as one atomic step. A non-empty guard
	// makes it idempotent: a second Send with the same guard stores nothing
	// and returns the first one's seq with dup set.
	Send(ctx context.Context, room string, m Message, guard string) (stored Message, dup bool, err error)
	// SendCounted is Send and then, for a message stored (not dup),
	// Arrived with sender: notify is Arrived's answer. A store that can
	// makes it one step (the Redis broker: one round trip a message).
	// An error with stored.Seq set says the message was stored and
	// published, and only telling the other instances of whom it
	// mentions failed.
	SendCounted(ctx context.Context, room string, m Message, guard, sender string) (stored Message, dup bool, notify []string, err error)
	// Change applies c to message c.Seq of room, stores it and publishes
	// it (KindChanged) as one step, and returns the message as stored now.
	// ErrNoMessage: the room's history holds no such message, or it was
	// deleted; ErrNotAuthor: c.Author did not write it and c is not a
	// moderator's; ErrTooManyReactions: c would give its author more
	// than MaxReactionsPerPerson reactions to the message. A deleted
	// message keeps its number and loses its text and reactions. An edit
	// or deletion also updates the Quote of the replies to the message
	// that the hot window holds. A non-empty guard makes it idempotent,
	// as for Send.
	Change(ctx context.Context, room string, c Change, guard string) (stored Message, dup bool, err error)
	// Announce publishes an event that is not kept in the history.
	Announce(ctx context.Context, room string, kind EventKind, name string) error
	// History returns the room's recent messages, oldest first.
	History(ctx context.Context, room string) ([]Message, error)
	// Subscribe starts delivering the room's events on Events; it returns
	// once the subscription is in effect, so that nothing published after it
	// returns is missed.
	Subscribe(ctx context.Context, room string) error
	// Unsubscribe stops delivering the room's events; events already on
	// their way may still arrive.
	Unsubscribe(ctx context.Context, room string) error
	// Events carries the events of every subscribed room, in publish order
	// per room. It is closed by Close.
	Events() <-chan Event
	// Ping reports whether the broker's backing store is reachable.
	Ping(ctx context.Context) error
	// Close ends the broker's connections and closes Events; the caller
	// closes what it handed the broker (a Redis client).
	Close() error
}

// Directory knows which rooms are in use, for the list of rooms people can
// join. It keeps no member counts: those come from Presence.
type Directory interface {
	// Touch notes that room had a message (message set) or someone in it,
	// at at.
	Touch(ctx context.Context, room string, at time.Time, message bool) error
	// Active returns the rooms that had a message since messages or someone
	// in them since present, at most limit of each kind, and forgets the
	// rest.
	Active(ctx context.Context, messages, present time.Time, limit int) ([]string, error)
}

// DefaultRoomTTL is how long a room's keys live after its last message,
// when nothing else is set: a room nobody writes in goes away by itself.
const DefaultRoomTTL = 30 * 24 * time.Hour

// SortUsers orders users by name, then session: the order Broker.Members
// returns them in.
func SortUsers(us []User) {
	slices.SortFunc(us, func(a, b User) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Session, b.Session))
	})
}

// Names returns the distinct names of users, in order.
func Names(users []User) []string {
	names := make([]string, 0, len(users))
	for _, u := range users {
		if len(names) == 0 || names[len(names)-1] != u.Name {
			names = append(names, u.Name)
		}
	}
	return names
}

// ReplyArchive is an Archive that finds the replies to a message, so that
// their quotes follow it when it is edited or deleted after they left the
// broker's hot window: a deleted text is then gone from their quotes too.
type ReplyArchive interface {
	Archive
	// RepliesTo returns the room's messages that answer seq, oldest first.
	RepliesTo(ctx context.Context, room string, seq int64) ([]Message, error)
}

// Archive keeps every message of every room, beyond the broker's hot
// window of HISTORY_SIZE: the system of record that scrollback reads and
// that refills the window when the broker lost it. Writes are idempotent by
// room and seq, so a message archived twice (by two instances, or again
// after a crash) is stored once.
type Archive interface {
	// Store writes msgs of room.
	Store(ctx context.Context, room string, msgs []Message) error
	// Before returns up to limit messages of room numbered below before,
	// oldest first, and whether older ones exist.
	Before(ctx context.Context, room string, before int64, limit int) (msgs []Message, more bool, err error)
	// Latest returns the room's newest limit messages, oldest first.
	Latest(ctx context.Context, room string, limit int) ([]Message, error)
}
