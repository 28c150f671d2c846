package redisbroker

import "github.com/redis/go-redis/v9"

// The Lua scripts: each runs as one step, on one slot on a cluster (its keys
// share a hash tag, keys.go). KEYS are named by their builders in keys.go.

// Per room.

// sendScript checks the guard, numbers, stores, trims and publishes in one
// step, so every instance and the history agree on order and seq. The
// message body comes from Go as a JSON object; the script prepends the seq.
// The channel is passed as a key, and published with ARGV[1] (PUBLISH or
// SPUBLISH), so that a cluster checks it shares the room's slot.
//
// KEYS: seqKey, historyKey, the newer of guardKeys, channelName,
// archiveStream, the older of guardKeys. ARGV: the publish command, the
// record (record.go) without seq, HISTORY_SIZE, '1' with a guard, the
// newer guard hash's expiry in ms, ROOM_TTL in ms, '1' with an archive,
// '1' once the archive was asked, maxArchiveBacklog, the guard's nonce,
// guardsPerSession.
//
// A counter that starts at 1 with no history behind it starts the room's
// numbering, and the message says so ("first"): pages that showed an older
// numbering, whose data Redis lost, take the history afresh instead of
// reading the new seq 1 as a message they already show. A counter lost
// while the history survived (an evicted key) goes on from the history's
// last seq rather than reuse its numbers. Both cost nothing but on seq 1.
//
// With an archive (ARGV[7] is '1'), the entry also goes to the room's
// archive stream (KEYS[5]), which the archivers drain; and a room with no
// counter is not numbered afresh before its archive was asked (ARGV[8] is
// '1' once it was): the reply {3} says to restore the room from it first.
// The reply's fourth element is 1 when the stream held nothing else: only
// then must the sender add the room to the archivers' set (it stays there
// while the stream exists). Past ARGV[9] entries (the archive down for
// long) the stream drops its oldest.
//
// With a guard (ARGV[4] is '1'), ARGV[10] is its nonce, looked up in the
// session's newer (KEYS[3]) and older (KEYS[6]) guard hashes and added to
// the newer, which becomes the older once it holds ARGV[11] nonces; the
// newer lives ARGV[5] ms after the session's last send (see guardKeys).
//
// With a sender (ARGV[12] is '1'), a stored message is counted for the
// readers as Arrived counts it (arrivedLua, on KEYS[7] and KEYS[8], the
// room's readingKey and readingAllKey; ARGV[13] the message's time in
// Unix ms, ARGV[14] the sender, ARGV[15] maxMentionsKept, ARGV[16] now in
// Unix ms, the candidate names from ARGV[17] on) in the same step: one
// round trip a message, where Send and Arrived were two and a third
// announced the sender's read mark. That announcement now rides on the
// message: when the sender's read mark rose, what is published (not what
// is stored) names them as its "reader", and every instance that hears
// the message raises their mark in what it keeps.
//
// The reply is {1, seq, first, fresh stream, whom to tell, whose reading
// changed} for a stored message (the last two empty without a sender),
// {0, seq} for a repeated nonce, {3} for a room to restore first.
var sendScript = redis.NewScript(arrivedLua + `
if ARGV[4] == '1' then
  local prev = redis.call('HGET', KEYS[3], ARGV[10]) or redis.call('HGET', KEYS[6], ARGV[10])
  if prev then return {0, tonumber(prev)} end
end
local seq = redis.call('INCR', KEYS[1])
local first = ''
if seq == 1 then
  if ARGV[7] == '1' and ARGV[8] ~= '1' then
    redis.call('DEL', KEYS[1])
    return {3}
  end
  local last = redis.call('LINDEX', KEYS[2], -1)
  local prev = last and tonumber(cjson.decode(last).seq)
  if prev and prev >= seq then
    seq = prev + 1
    redis.call('SET', KEYS[1], seq)
  else
    first = '"first":true,'
  end
end
local entry = '{"seq":' .. seq .. ',' .. first .. string.sub(ARGV[2], 2)
redis.call('RPUSH', KEYS[2], entry)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
if ARGV[4] == '1' then
  if redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[11]) then
    redis.call('RENAME', KEYS[3], KEYS[6])
  end
  redis.call('HSET', KEYS[3], ARGV[10], seq)
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
end
local tell, changed, published = {}, {}, entry
if ARGV[12] == '1' then
  local raised
  tell, changed, raised = arrived(KEYS[7], KEYS[8], ARGV[13], ARGV[6], ARGV[14], seq, ARGV[15], ARGV[16], 17)
  if raised then published = '{"reader":' .. cjson.encode(ARGV[14]) .. ',' .. string.sub(entry, 2) end
end
redis.call(ARGV[1], KEYS[4], published)
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
local fresh = 0
if ARGV[7] == '1' then
  redis.call('XADD', KEYS[5], '*', 'e', entry)
  local n = redis.call('XLEN', KEYS[5])
  if n == 1 then fresh = 1 end
  if n > tonumber(ARGV[9]) then redis.call('XTRIM', KEYS[5], 'MAXLEN', '~', ARGV[9]) end
end
if first ~= '' then return {1, seq, 1, fresh, tell, changed} end
return {1, seq, 0, fresh, tell, changed}
`)

// restoreScript refills a room Redis lost from the archive, unless the room
// has a counter again already. KEYS[1] is its counter (seqKey), KEYS[2]
// its hot window (historyKey); ARGV[1] the keys' expiry in ms, ARGV[2] the
// archive's last seq, ARGV[3..] the archive's newest entries as records,
// oldest first. A hot window that survived stays as it is, and the counter
// goes on from whichever of the two is further on: numbers are never used
// twice.
var restoreScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local last = tonumber(ARGV[2])
local kept = redis.call('LINDEX', KEYS[2], -1)
if kept then
  local seq = tonumber(cjson.decode(kept).seq)
  if seq and seq > last then last = seq end
else
  for i = 3, #ARGV do
    redis.call('RPUSH', KEYS[2], ARGV[i])
  end
  redis.call('PEXPIRE', KEYS[2], ARGV[1])
end
redis.call('SET', KEYS[1], last, 'PX', ARGV[1])
return 1
`)

// claimScript gives a name to a session, all of its keys or none: taken
// while another session holds any of them. KEYS are the name's claim keys
// (claimKeys) and, last, the room's presence set (presenceSetKey); ARGV[1]
// the session, ARGV[2] how long a claim key lasts (claimHold, ms),
// ARGV[3] the presence TTL (ms), ARGV[4] now (Unix ms).
//
// A key lasts claimHold, much longer than the presence TTL, so that the
// beats need not renew every user's claim (they renew them every
// claimRenew): another session's claim holds while it was set within the
// TTL (its time left is above claimHold less the TTL) or while that
// session has a live entry in the room's presence set; past both it is
// stale (its user left without a leave, with their instance) and is
// taken.
var claimScript = redis.NewScript(`
local set = KEYS[#KEYS]
local fresh = tonumber(ARGV[2]) - tonumber(ARGV[3])
local entries
for i = 1, #KEYS - 1 do
  local k = KEYS[i]
  local holder = redis.call('GET', k)
  if holder and holder ~= ARGV[1] then
    if redis.call('PTTL', k) > fresh then return 0 end
    entries = entries or redis.call('ZRANGEBYSCORE', set, '(' .. ARGV[4], '+inf')
    local mark = '\0' .. holder .. '\0'
    for _, e in ipairs(entries) do
      if string.find(e, mark, 1, true) then return 0 end
    end
  end
end
for i = 1, #KEYS - 1 do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
end
return 1
`)

// renewScript renews the claims of present users: each key (claimKeys of
// every user) that is free or held by its session (ARGV[i+1]) is set
// again, for ARGV[1] ms (claimHold); one held by another session stays
// theirs.
var renewScript = redis.NewScript(`
for i, k in ipairs(KEYS) do
  local holder = redis.call('GET', k)
  if not holder or holder == ARGV[i + 1] then
    redis.call('SET', k, ARGV[i + 1], 'PX', ARGV[1])
  end
end
return 1
`)

// absentScript removes an instance's presence entry (ARGV[1]) from the
// room's set (KEYS[1], presenceSetKey) and, when no live entry of the same
// session (ARGV[2], as "\0session\0") is left at ARGV[3] (now, Unix ms),
// deletes the session's claims (KEYS[2..], claimKeys). The set holds a
// room's users, so the scan is short.
var absentScript = redis.NewScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
for _, e in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[3], '+inf')) do
  if string.find(e, ARGV[2], 1, true) then return 0 end
end
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == string.sub(ARGV[2], 2, -2) then
    redis.call('DEL', KEYS[i])
  end
end
return 1
`)

// ackScript acknowledges and deletes stored entries of a stream (KEYS[1],
// archiveStream): one call for the batch. ARGV[1] is the group
// (archiveGroup), ARGV[2..] the entries' ids.
var ackScript = redis.NewScript(`
redis.call('XACK', KEYS[1], ARGV[1], unpack(ARGV, 2))
return redis.call('XDEL', KEYS[1], unpack(ARGV, 2))
`)

// settleScript says how many entries a stream (KEYS[1], archiveStream)
// holds; an empty one that took no entry for ARGV[1] ms is deleted, group
// and all (answer -1), so rooms long gone leave no keys behind. The next
// XADD makes a new stream, and the archivers a new group that reads it
// from its start.
var settleScript = redis.NewScript(`
local n = redis.call('XLEN', KEYS[1])
if n > 0 then return n end
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last = '0-0'
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] end
end
local ms = tonumber(string.match(last, '^(%d+)'))
local now = redis.call('TIME')
if ms + tonumber(ARGV[1]) > tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) then
  return 0
end
redis.call('DEL', KEYS[1])
return -1
`)

// Per identity and per credential.

// bindScript gives a name to an identity for good, all of its keys or none.
// KEYS[1] is the identity's key (identityKey), the rest the name's keys
// (boundNameKey); ARGV[1] is the identity, ARGV[2] the name ("": only read
// the identity's name). It returns {1, name} with the identity's name, or
// {0, ""} when another holds it.
var bindScript = redis.NewScript(`
local mine = redis.call('GET', KEYS[1])
if mine then return {1, mine} end
if ARGV[2] == '' then return {1, ''} end
for i = 2, #KEYS do
  local holder = redis.call('GET', KEYS[i])
  if holder and holder ~= ARGV[1] then return {0, ''} end
end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[1]) end
redis.call('SET', KEYS[1], ARGV[2])
return {1, ARGV[2]}
`)

// revokeScript bumps a generation (KEYS[1], generationKey) and sets how
// long it is kept (ARGV[1], in ms), at once: a generation without expiry
// would outlive every cookie it guards.
var revokeScript = redis.NewScript(`
local g = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return g`)

// changeScript edits or deletes one message of the room's hot window, or
// toggles a reaction to it, and publishes it, in one step
// (realtime.Broker.Change).
//
// KEYS: historyKey, the newer of guardKeys, channelName, archiveStream,
// the older of guardKeys. ARGV: the publish command, the seq, the asker's
// author id, '1' for a moderator, '1' to delete, the new text as a JSON
// string, the edit's time as a JSON string, '1' with a guard, the newer
// guard hash's expiry in ms, the guard's nonce, guardsPerSession, '1' with
// an archive, maxArchiveBacklog, how many of the archive stream's newest
// entries to look through, the emoji to toggle (” for an edit or a
// deletion), the reactor's name as a JSON string,
// realtime.MaxReactionsPerPerson.
//
// The window is numbered without gaps, so the entry sits at seq minus the
// first entry's seq. Its author is checked here, where no other change can
// come between. With an archive the changed entry goes to the stream too,
// so that Firestore gets it after the message it changes, and the
// stream's older entries of the same message (not archived yet) are
// deleted: a deleted text is gone from Redis at once. A reaction leaves
// those be (its entry only comes after them), so that it costs what a
// message costs: one entry read, one written, one published, one streamed.
//
// The replies' quotes follow in requoteScript. Reactions are kept without empty arrays, which
// cjson would encode as objects: an emoji nobody gives any more goes, and
// so does an empty list.
//
// The reply is {1, entry, fresh stream} for a change made (fresh: the
// stream held nothing else, as for a send), {0, seq} for a repeated
// nonce, {2} for no such message (or a deleted one), {4} for a message of
// someone else's, {5} for a message older than the window, {6} for a
// reaction past the asker's limit.
var changeScript = redis.NewScript(`
if ARGV[8] == '1' then
  local prev = redis.call('HGET', KEYS[2], ARGV[10]) or redis.call('HGET', KEYS[5], ARGV[10])
  if prev then return {0, tonumber(prev)} end
end
local seq = tonumber(ARGV[2])
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then return {5} end
local idx = seq - tonumber(cjson.decode(head).seq)
if idx < 0 then return {5} end
local raw = redis.call('LINDEX', KEYS[1], idx)
if not raw then return {2} end
local m = cjson.decode(raw)
if tonumber(m.seq) ~= seq or m.deleted then return {2} end
local react = ARGV[15] ~= ''
local mine = m.author ~= nil and m.author == ARGV[3]
if not react and ARGV[4] ~= '1' and not mine then return {4} end
m.type = 'message'
if react then
  local rs = m.reactions or {}
  local given, at, pos = 0, nil, nil
  for i, r in ipairs(rs) do
    for j, a in ipairs(r.authors) do
      if a == ARGV[3] then
        given = given + 1
        if r.emoji == ARGV[15] then at, pos = i, j end
      end
    end
  end
  if at then
    table.remove(rs[at].authors, pos)
    table.remove(rs[at].names, pos)
    if #rs[at].authors == 0 then table.remove(rs, at) end
  else
    if given >= tonumber(ARGV[17]) then return {6} end
    for i, r in ipairs(rs) do
      if r.emoji == ARGV[15] then at = i end
    end
    if not at then
      table.insert(rs, {emoji = ARGV[15], authors = {}, names = {}})
      at = #rs
    end
    table.insert(rs[at].authors, ARGV[3])
    table.insert(rs[at].names, cjson.decode(ARGV[16]))
  end
  if #rs == 0 then m.reactions = nil else m.reactions = rs end
elseif ARGV[5] == '1' then
  m.text = nil
  m.edited = nil
  m.reactions = nil
  m.files = nil
  if mine then m.deleted = 'author' else m.deleted = 'moderator' end
else
  m.text = cjson.decode(ARGV[6])
  m.edited = cjson.decode(ARGV[7])
end
m.seq = nil
local entry = '{"seq":' .. seq .. ',' .. string.sub(cjson.encode(m), 2)
redis.call('LSET', KEYS[1], idx, entry)
if ARGV[8] == '1' then
  if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[11]) then
    redis.call('RENAME', KEYS[2], KEYS[5])
  end
  redis.call('HSET', KEYS[2], ARGV[10], seq)
  redis.call('PEXPIRE', KEYS[2], ARGV[9])
end
m.type = 'changed'
m.first = nil
redis.call(ARGV[1], KEYS[3], '{"seq":' .. seq .. ',' .. string.sub(cjson.encode(m), 2))
local archiving = ARGV[12] == '1'
local function stream(e)
  redis.call('XADD', KEYS[4], '*', 'e', e)
  if redis.call('XLEN', KEYS[4]) > tonumber(ARGV[13]) then
    redis.call('XTRIM', KEYS[4], 'MAXLEN', '~', ARGV[13])
  end
end
if archiving and not react then
  local prefix = '{"seq":' .. seq .. ','
  for _, e in ipairs(redis.call('XREVRANGE', KEYS[4], '+', '-', 'COUNT', ARGV[14])) do
    local f = e[2]
    for i = 1, #f, 2 do
      if f[i] == 'e' and string.sub(f[i + 1], 1, #prefix) == prefix then
        redis.call('XDEL', KEYS[4], e[1])
      end
    end
  end
end
local fresh = 0
if archiving then
  stream(entry)
  if redis.call('XLEN', KEYS[4]) == 1 then fresh = 1 end
end
return {1, entry, fresh}
`)

// requoteScript rewrites the quote of every reply to one message in the
// room's hot window, after the message was edited or deleted (wherever it
// is: the hot window or only the archive), and streams them to the
// archive: a deleted text leaves no quote behind in Redis. Replies are
// found by "reply_to" in the entry before it is decoded, which costs a
// scan of the window's bytes per edit or deletion, never per message.
//
// KEYS: historyKey, archiveStream. ARGV: the seq, the quote as JSON
// (realtime.QuoteOf), '1' with an archive, maxArchiveBacklog. The reply is
// how many replies it rewrote.
var requoteScript = redis.NewScript(`
local seq = tonumber(ARGV[1])
local n1, n2 = '"reply_to":' .. seq .. ',', '"reply_to":' .. seq .. '}'
local head = redis.call('LINDEX', KEYS[1], 0)
if not head then return 0 end
local from = math.max(0, seq + 1 - tonumber(cjson.decode(head).seq))
local n = 0
for k, e in ipairs(redis.call('LRANGE', KEYS[1], from, -1)) do
  if string.find(e, n1, 1, true) or string.find(e, n2, 1, true) then
    local x = cjson.decode(e)
    if tonumber(x.reply_to) == seq then
      local xseq = tonumber(x.seq)
      x.seq = nil
      x.quote = cjson.decode(ARGV[2])
      local xe = '{"seq":' .. xseq .. ',' .. string.sub(cjson.encode(x), 2)
      redis.call('LSET', KEYS[1], from + k - 1, xe)
      if ARGV[3] == '1' then
        redis.call('XADD', KEYS[2], '*', 'e', xe)
        if redis.call('XLEN', KEYS[2]) > tonumber(ARGV[4]) then
          redis.call('XTRIM', KEYS[2], 'MAXLEN', '~', ARGV[4])
        end
      end
      n = n + 1
    end
  end
end
return n
`)

// removeScript keeps a session out of a room until a time and tells the
// room's instances, in one step. KEYS: the session's removedKey,
// channelName. ARGV: the publish command, the expiry as Unix ms ('0': for
// good), the event to publish.
var removeScript = redis.NewScript(`
redis.call('SET', KEYS[1], ARGV[2])
if ARGV[2] ~= '0' then redis.call('PEXPIREAT', KEYS[1], ARGV[2]) end
redis.call(ARGV[1], KEYS[2], ARGV[3])
return 1
`)

// Private rooms (realtime.Rooms, rooms.go).

// createRoomScript creates a room, unless it had a message or was created:
// one step on the room's slot, so that of two creations at once, on any
// instances, one wins. A room's members, their names and invitations left from before
// (none, unless someone deleted its info by hand) go, so nobody is a member
// of a new room but its creator.
//
// KEYS: seqKey, historyKey, roomInfoKey, roomMembersKey, roomInvitesKey,
// roomNamesKey.
// ARGV: the info (realtime.RoomInfo as JSON), the creator's member id (empty
// for none). The reply is 1 for a room created, 0 for a name taken.
var createRoomScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 or redis.call('EXISTS', KEYS[3]) == 1 then
  return 0
end
redis.call('DEL', KEYS[4], KEYS[5], KEYS[6])
redis.call('SET', KEYS[3], ARGV[1])
if ARGV[2] ~= '' then redis.call('SADD', KEYS[4], ARGV[2]) end
return 1
`)

// addMemberScript adds a member to a created room. KEYS: roomInfoKey,
// roomMembersKey. ARGV: the member id. The reply is 1 when added (or a
// member already), 0 for a room never created.
var addMemberScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
return 1
`)

// excludeScript ends a membership and tells the room's instances, in one
// step, as removeScript does for a moderator's removal. KEYS:
// roomMembersKey, channelName. ARGV: the publish command, the record to
// publish (realtime.KindExcluded, the member id as its author), the member
// id. The reply is 1 when the member was one, 0 otherwise; the record is
// published either way, so that a repeated call still closes any socket.
var excludeScript = redis.NewScript(`
local n = redis.call('SREM', KEYS[1], ARGV[3])
redis.call(ARGV[1], KEYS[2], ARGV[2])
return n
`)

// inviteScript keeps an invitation open until a time. KEYS: roomInfoKey,
// roomInvitesKey. ARGV: the invitation id, now and its expiry (Unix ms),
// maxInvitesPerRoom. Expired invitations go, and past the bound the ones
// closest to expiring; the key expires with its last-expiring invitation.
// The reply is 1, or 0 for a room never created.
var inviteScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, over - 1) end
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[2], last[2])
return 1
`)

// restoreRoomScript brings back a private room's info and members from the
// archive, unless Redis holds an info for it again already. KEYS:
// roomInfoKey, roomMembersKey. ARGV: the info (JSON), then the member ids.
var restoreRoomScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('DEL', KEYS[2])
  for i = 2, #ARGV do redis.call('SADD', KEYS[2], ARGV[i]) end
end
return 1
`)

// setNameScript records the name a member of a created room signed in
// with. KEYS: roomMembersKey, roomNamesKey. ARGV: the member id, the name.
// Someone who is not a member is not recorded (0).
var setNameScript = redis.NewScript(`
if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
`)
