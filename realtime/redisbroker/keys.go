package redisbroker

import (
	"strings"
	"time"

	"github.com/chatrun/chat/realtime"
)

// Redis's schema: every key and channel the broker uses, what it holds,
// its type and its expiry. The Lua scripts that write them are in
// scripts.go; the JSON of messages and notices is in record.go.
//
// Every key of one room carries the hash tag {room}, so that on a Redis
// Cluster a room's keys share one slot and a script may touch several of
// them. Tags that start with '!' ({!identity}, {!auth}, {!signouts}) name
// no room: '!' is outside the room alphabet (realtime's room rules,
// realtime.ParseRoom), so no room's keys can look like them, and each such
// tag keeps its keys in one slot too. Keys without a tag (the directory,
// the archivers' set of rooms) each live on one shard.

// Per room.

// seqKey holds the room's last seq, a string counter (INCR). It expires
// ROOM_TTL after the room's last message; sendScript and restoreScript set
// it.
func seqKey(room string) string { return "chat:{" + room + "}:seq" }

// historyKey holds the room's newest HISTORY_SIZE messages, a list of
// records (record.go), oldest first. It expires ROOM_TTL after the room's
// last message.
func historyKey(room string) string { return "chat:{" + room + "}:history" }

// Nonce guards. What a repeated nonce must be recognised against is one
// session's resend window in one room: a page sends its unanswered
// messages again after a reconnect (at most what the send limit let through
// before the socket dropped: tens), a form is posted twice. So a guard is a
// field of a hash per (room, session), not a key per message: the session's
// newest guardsPerSession nonces live in chat:{room}:guards:SESSION; when it
// is full it becomes chat:{room}:guards-old:SESSION (replacing the one
// before) and a new one starts, so the newest guardsPerSession to
// 2*guardsPerSession nonces are always known, and both hashes stay small
// enough for Redis's compact encoding. A session's hash lives guardTTL after
// its last send in the room, never past ROOM_TTL (the room's own keys expire
// then): guard memory is bounded by the sessions that wrote in each room
// lately, not by the messages they sent.
const (
	guardTTL         = 24 * time.Hour // a page offline overnight still resends once
	guardsPerSession = 64
)

// guardKeys are the newer and older guard hashes of the session that guard
// ("SESSION:NONCE", as the handlers make it) belongs to in room, and the
// field that guard is in them. A guard without a session shares the room's
// hashes of the session "". Both hashes map a nonce to the seq it was
// stored as. The newer expires min(guardTTL, ROOM_TTL) after the session's
// last send in the room; the older keeps the expiry the newer had when it
// was renamed (RENAME keeps it), so it never outlives the newer.
func guardKeys(room, guard string) (newer, older, field string) {
	session, nonce, ok := strings.Cut(guard, ":")
	if !ok {
		session, nonce = "", guard
	}
	return "chat:{" + room + "}:guards:" + session, "chat:{" + room + "}:guards-old:" + session, nonce
}

// channelName is the room's pub/sub channel: records (record.go) of its
// messages, as stored, and of its notices (joined, left, typing), stored
// nowhere. Sign-outs travel on the channel of realtime.SignOutsRoom,
// chat:{!signouts}:events.
func channelName(room string) string { return "chat:{" + room + "}:events" }

// roomOfChannel is the room whose channel ch is (channelName's inverse).
func roomOfChannel(ch string) (string, bool) {
	rest, ok := strings.CutPrefix(ch, "chat:{")
	if !ok {
		return "", false
	}
	room, ok := strings.CutSuffix(rest, "}:events")
	return room, ok
}

// claimKey holds the id of the session that claimed the name key
// (realtime.NameKeys) in room, a string. It expires claimHold after the
// last Claim or renewal (Present, every claimRenew), and claimScript takes
// it sooner when its session has had no live presence entry in the room
// for the presence TTL; absentScript deletes it when the session's last
// presence entry in the room goes.
func claimKey(room, key string) string { return "chat:{" + room + "}:name:" + key }

// claimKeys are the claim keys of u's name in room: one per name key.
func claimKeys(room string, u realtime.User) []string {
	keys := realtime.NameKeys(u.Name)
	for i, k := range keys {
		keys[i] = claimKey(room, k)
	}
	return keys
}

// removedKey holds until when (Unix ms as a string; "0": for good) a
// moderator keeps session out of room. A string, expiring at that time;
// one removed for good never expires.
func removedKey(room, session string) string { return "chat:{" + room + "}:removed:" + session }

// presenceSetKey holds who is in the room through which instance, a sorted
// set of presenceMember entries (instance, session, name) scored with when
// each expires (Unix ms): the entries of an instance that died lapse on
// their own, and each Present removes them. The key expires twice the
// presence TTL after the last Present.
func presenceSetKey(room string) string { return "chat:{" + room + "}:presence" }

// archiveStream holds the room's messages the archive has yet to store, a
// stream of entries whose field "e" is a record (record.go) as in the
// history; every instance reads it in the consumer group archiveGroup. It
// has no expiry: past maxArchiveBacklog entries the oldest go, and
// settleScript deletes it, group and all, once drained and idle for
// archiveStreamIdle.
func archiveStream(room string) string { return "chat:{" + room + "}:archive" }

// Private rooms (realtime.Rooms, rooms.go). A created room's keys have no
// expiry, unlike its messages': a private room stays private after its last
// message, and its name stays taken.

// roomInfoKey holds what the room is (realtime.RoomInfo as JSON), a
// string, with no expiry. Set once, by createRoomScript, on a room that had
// no seqKey, historyKey or roomInfoKey: its being there means the room was
// created.
func roomInfoKey(room string) string { return "chat:{" + room + "}:info" }

// roomNamesKey holds the names members signed in to a created room with,
// for its creator's list of members: a hash of member id to name, with no
// expiry, a member's field deleted when they leave.
func roomNamesKey(room string) string { return "chat:{" + room + "}:names" }

// roomMembersKey holds the member ids of a created room, a set, with no
// expiry. createRoomScript starts it with the creator, addMemberScript adds
// to it only while roomInfoKey exists, excludeScript removes from it.
func roomMembersKey(room string) string { return "chat:{" + room + "}:members" }

// roomInvitesKey holds the room's open invitations, a sorted set of
// invitation ids scored with when each expires (Unix ms): one whose score
// is past is closed, whatever the set still holds. inviteScript drops the
// expired ones at each invitation, keeps at most maxInvitesPerRoom (the
// closest to expiring go first), and makes the key expire with its
// last-expiring invitation; RevokeInvites deletes it.
func roomInvitesKey(room string) string { return "chat:{" + room + "}:invites" }

// maxInvitesPerRoom bounds a room's open invitations (roomInvitesKey).
const maxInvitesPerRoom = 1000

// Per identity and per credential.

// boundNameKey holds the identity (subject) that the name key
// (realtime.NameKeys) is bound to, a string, with no expiry: bindings
// (realtime.NameBook) are for good.
func boundNameKey(key string) string { return "chat:{!identity}:name:" + key }

// identityKey holds the name bound to the identity subject, a string, with
// no expiry. It shares {!identity} with boundNameKey, so that bindScript
// binds on one slot.
func identityKey(subject string) string { return "chat:{!identity}:subject:" + subject }

// memberRoomsKey holds the created rooms the member id belongs to, a set,
// with no expiry: the index RoomsOf reads. It lives on {!identity}'s slot,
// not on any room's, so it is written by a command of its own beside each
// room script, in the order that keeps it a superset of the member's
// rooms: before the room's script when a membership starts (CreateRoom,
// AddMember), after it when one ends (RemoveMember). A crash between the
// two leaves at most a room the member does not belong to, which RoomsOf
// filters out by the room's members (roomMembersKey); never a membership
// it misses.
func memberRoomsKey(member string) string { return "chat:{!identity}:rooms:" + member }

// generationKey holds a credential's generation (realtime.Credentials; id
// as the handlers make it, such as "session:ID"), a string counter; no key
// is generation 0. It expires Revoke's ttl (the longest the credential
// lives) after the last revocation.
func generationKey(id string) string { return "chat:{!auth}:gen:" + id }

// firstUseKey says that id was used (realtime.Credentials.FirstUse), a
// string set only if absent. It expires FirstUse's ttl after that use. It
// shares {!auth} with generationKey.
func firstUseKey(id string) string { return "chat:{!auth}:used:" + id }

// Across rooms: the archivers and the directory.

// archiveRoomsKey holds the rooms whose archive streams may hold entries,
// a set, with no expiry: a sender adds its room, and an archiver removes a
// room once it deleted its stream.
const archiveRoomsKey = "chat:archive:rooms"

// archiveGroup is the consumer group of every archive stream; each
// instance is a consumer in it, under its presence id (Broker.instance).
const archiveGroup = "archive"

// The directory's keys: when each room last had a message, and someone in
// it, sorted sets of rooms scored in Unix ms, with no expiry: Active drops
// the rooms older than it asks for. Rooms are spread over many keys nowhere
// else, so on a cluster these two live on one shard: a write a minute per
// busy room and one per beat per room with people in it.
const (
	directoryMessagedKey = "chat:directory:messaged"
	directoryPresentKey  = "chat:directory:present"
)

// probeChannel is where ShardedPubSubSupported publishes to see whether
// the server knows SPUBLISH: outside the chat's names, no room hears it.
const probeChannel = "chat-probe"
