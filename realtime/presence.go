package realtime

import (
	"context"
	"slices"
	"sync"
	"time"
)

// present lists u in room through this instance and tells the other
// instances to read the list again. A leave still in its grace period is
// called off instead: the user never left.
func (h *Hub) present(ctx context.Context, room string, u User) error {
	key := presenceKey{room, u}
	defer h.lockPresence(key)()
	h.presMu.Lock()
	t, leaving := h.pending[key]
	if leaving {
		t.Stop()
		delete(h.pending, key)
	}
	h.presMu.Unlock()
	if leaving {
		return nil
	}
	if err := h.broker.Present(ctx, room, []User{u}, h.timing.TTL); err != nil {
		return err
	}
	h.occupied(ctx, room)
	return h.broker.Announce(ctx, room, KindPresence, u.Name)
}

// lockPresence orders the presence writes of one user in one room (a join
// and a leave must reach the broker in the order they happened) and returns
// the unlock. Writes of other users and rooms go on meanwhile: no lock that
// they need is held across broker I/O.
func (h *Hub) lockPresence(key presenceKey) (unlock func()) {
	h.presMu.Lock()
	l := h.presLocks[key]
	if l == nil {
		l = &presenceLock{}
		h.presLocks[key] = l
	}
	l.refs++
	h.presMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		h.presMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(h.presLocks, key)
		}
		h.presMu.Unlock()
	}
}

// presenceLock is one user's presence lock in one room, kept while someone
// holds or waits for it.
type presenceLock struct {
	mu   sync.Mutex
	refs int // guarded by Hub.presMu
}

// absentLater unlists u from room after the leave grace, unless a
// socket of theirs joins here meanwhile.
func (h *Hub) absentLater(room string, u User) {
	h.presMu.Lock()
	defer h.presMu.Unlock()
	key := presenceKey{room, u}
	if t, ok := h.pending[key]; ok {
		t.Stop()
	}
	var t *time.Timer
	// The timer reads t under presMu, which is held while t is set.
	t = time.AfterFunc(h.timing.LeaveGrace, func() { h.absent(key, &t) })
	h.pending[key] = t
}

func (h *Hub) absent(key presenceKey, t **time.Timer) {
	defer h.lockPresence(key)()
	h.presMu.Lock()
	current := h.pending[key] == *t
	if current {
		delete(h.pending, key)
	}
	h.presMu.Unlock()
	if !current {
		return // called off, or superseded
	}
	if h.localSockets(key.room, key.user) > 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := h.broker.Absent(ctx, key.room, key.user); err != nil {
		h.brokerFailed("record absence", key.room, err)
		return // the entry expires by itself
	}
	if err := h.broker.Announce(ctx, key.room, KindPresence, key.user.Name); err != nil {
		h.brokerFailed("announce absence", key.room, err)
	}
}

func (h *Hub) stopPending() {
	h.presMu.Lock()
	defer h.presMu.Unlock()
	for k, t := range h.pending {
		t.Stop()
		delete(h.pending, k)
	}
}

func (h *Hub) localSockets(room string, u User) int {
	h.mu.Lock()
	r := h.rooms[room]
	h.mu.Unlock()
	if r == nil {
		return 0
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.users[u]
}

// MembersLapse is what a broker offers that can tell, with a room's
// members, when the first of their entries lapses unless renewed. Until
// then the list changes only by joins and leaves, which are announced, and
// the presence beat need not read it: half the reads of a room's members,
// with a beat of 5 s and a TTL of 15 s.
type MembersLapse interface {
	// MembersLapse returns what Members returns, and when the first of
	// the entries read lapses unless renewed (zero: none).
	MembersLapse(ctx context.Context, room string) ([]User, time.Time, error)
}

// markDirty asks the presence loop to read the room's member list again.
func (h *Hub) markDirty(room string) { h.dirty.add(room) }

// presenceLoop renews this instance's users and reads the member lists of
// its rooms: at once when a room is marked dirty, and every beat,
// which is how the users of a dead instance are seen to leave.
func (h *Hub) presenceLoop(ctx context.Context) {
	tick := time.NewTicker(h.timing.Beat)
	defer tick.Stop()
	// Changes are read back at most every Batch: a crowd joining at once
	// costs each socket a frame per batch, not a frame per person.
	batch := time.NewTimer(0)
	<-batch.C
	batching := false
	for {
		select {
		case <-ctx.Done():
			batch.Stop()
			return
		case <-h.dirty.woken():
			if !batching {
				batching = true
				batch.Reset(h.timing.Batch)
			}
		case <-batch.C:
			batching = false
			for name := range h.dirty.take() {
				h.refresh(ctx, name)
			}
		case <-tick.C:
			h.heartbeat(ctx)
			now := time.Now()
			for _, r := range h.roomList() {
				r.mu.RLock()
				lapse := r.lapse
				r.mu.RUnlock()
				// Until an entry may lapse, what changes the list is
				// announced, and marks the room dirty.
				if now.Before(lapse) {
					continue
				}
				h.refresh(ctx, r.name)
			}
		}
	}
}

// heartbeat renews the presence of every user with a socket here, and of
// those in their grace period.
func (h *Hub) heartbeat(ctx context.Context) {
	byRoom := map[string][]User{}
	for _, r := range h.roomList() {
		r.mu.RLock()
		for u := range r.users {
			byRoom[r.name] = append(byRoom[r.name], u)
		}
		r.mu.RUnlock()
	}
	h.presMu.Lock()
	for k := range h.pending {
		byRoom[k.room] = append(byRoom[k.room], k.user)
	}
	h.presMu.Unlock()
	for room, users := range byRoom {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		if err := h.broker.Present(ctx, room, users, h.timing.TTL); err != nil {
			h.brokerFailed("renew presence", room, err)
		} else {
			h.note(ctx, room, false, 0) // every beat: the renewal itself
		}
		cancel()
	}
}

// knowMembers reads the member list of a room new to this instance before
// its first user here is listed, so that the others' entries made from now
// on are told as entries.
func (h *Hub) knowMembers(ctx context.Context, r *localRoom) {
	r.mu.RLock()
	known := r.known
	r.mu.RUnlock()
	if known {
		return
	}
	users, err := h.broker.Members(ctx, r.name)
	if err != nil {
		h.brokerFailed("read members", r.name, err)
		return
	}
	r.mu.Lock()
	if !r.known {
		r.listed, r.known = Names(users), true
	}
	r.mu.Unlock()
}

// refresh reads the room's member list and, when it changed, tells the local
// sockets who entered and who left, and sends them the new list.
func (h *Hub) refresh(ctx context.Context, room string) {
	h.mu.Lock()
	r := h.rooms[room]
	h.mu.Unlock()
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	var users []User
	var lapse time.Time
	var err error
	if ml, ok := h.broker.(MembersLapse); ok {
		users, lapse, err = ml.MembersLapse(ctx, room)
	} else {
		users, err = h.broker.Members(ctx, room)
	}
	cancel()
	if err != nil {
		h.brokerFailed("read members", room, err)
		return
	}
	names := Names(users)
	now := time.Now()
	r.mu.Lock()
	r.lapse = lapse
	old, known := r.listed, r.known
	changed := !known || !slices.Equal(old, names)
	soon := changed && known && now.Sub(r.toldAt) < h.timing.Batch
	if changed && !soon {
		r.listed, r.known, r.toldAt = names, true, now
	}
	r.mu.Unlock()
	if soon {
		// Told less than a batch ago: the change waits for the next batch.
		h.markDirty(room)
		return
	}
	if !changed {
		return
	}
	var entered, left []string
	if known {
		for _, n := range names {
			if !slices.Contains(old, n) {
				entered = append(entered, n)
			}
		}
		for _, n := range old {
			if !slices.Contains(names, n) {
				left = append(left, n)
			}
		}
	}
	h.tellPresence(r, entered, left, names)
}

// tellPresence sends each local socket one frame: who entered, who left,
// and the new list. A user's own sockets are not told that the user came or
// went, so they get the same frame without that notice.
func (h *Hub) tellPresence(r *localRoom, entered, left, names []string) {
	common := renderAs(func(rr Renderer) []byte { return rr.Presence(entered, left, names) })
	without := func(list []string, name string) []string {
		return slices.DeleteFunc(slices.Clone(list), func(n string) bool { return n == name })
	}
	own := map[string]*rendition{}
	var fl flushList
	defer fl.flush()
	r.mu.RLock()
	defer r.mu.RUnlock()
	for sock := range r.sockets {
		out := common
		name := sock.User.Name
		if slices.Contains(entered, name) || slices.Contains(left, name) {
			if own[name] == nil {
				e, l := without(entered, name), without(left, name)
				own[name] = renderAs(func(rr Renderer) []byte { return rr.Presence(e, l, names) })
			}
			out = own[name]
		}
		_, flush := sock.deliver(frame{out: out})
		fl.add(sock, flush)
	}
}
