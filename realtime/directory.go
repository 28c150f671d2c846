package realtime

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"
)

// The room directory: the rooms in use, with how many people are in each
// across instances, busiest first.

// RoomCount is a room in the directory and how many people are in it.
type RoomCount struct {
	Room    string
	Members int
}

// Directory limits and timing.
const (
	// DirectorySize is the most rooms the directory lists.
	DirectorySize = 50
	// directoryIdle drops a room nobody is in that had no message for it.
	directoryIdle = 24 * time.Hour
	// directoryFresh is how long an instance reuses the directory it read.
	directoryFresh = 2 * time.Second
	// directoryScan bounds the rooms whose members are counted per read.
	directoryScan = 500
	// touchEvery is how often a room's messages tell the directory.
	touchEvery = time.Minute
)

// directory is a hub's view of the directory: the last one read, and when
// each room last told it, from here, of a message or of someone in it.
type directory struct {
	// readMu guards read and rooms. It is held across the broker calls of a
	// read, so that concurrent pages share one: only Directory takes it.
	readMu sync.Mutex
	read   time.Time
	rooms  []RoomCount

	// touchMu guards touched and present; sends and joins take it, so it
	// is never held across I/O.
	touchMu sync.Mutex
	touched map[string]time.Time // the room's last message noted
	present map[string]time.Time // someone in the room last noted
}

// Directory returns the rooms in use, with how many people are in each on
// every instance, busiest first (then by name), at most DirectorySize. A
// room nobody is in drops out a day after its last message. It is read at
// most every 2 s per instance; concurrent callers share one read.
func (h *Hub) Directory(ctx context.Context) ([]RoomCount, error) {
	d := &h.dir
	d.readMu.Lock()
	defer d.readMu.Unlock()
	now := time.Now()
	if now.Sub(d.read) < directoryFresh {
		return d.rooms, nil
	}
	names, err := h.broker.Active(ctx, now.Add(-directoryIdle), now.Add(-h.timing.TTL), directoryScan)
	if err != nil {
		return nil, err
	}
	// Private rooms are their members' to see, unlisted ones nobody's:
	// the directory every visitor sees leaves them out (handlers add a
	// member's own private rooms).
	names = slices.DeleteFunc(names, func(room string) bool {
		info, err := h.roomInfo(ctx, room)
		return err != nil || info.Visibility != Public
	})
	// A room with sockets here has its list at hand, as its pages show
	// it: only the others are read.
	counts := h.listedCounts(names)
	var unlisted []string
	for _, name := range names {
		if _, ok := counts[name]; !ok {
			unlisted = append(unlisted, name)
		}
	}
	if len(unlisted) > 0 {
		members, err := h.membersOf(ctx, unlisted)
		if err != nil {
			return nil, err
		}
		for _, name := range unlisted {
			counts[name] = len(Names(members[name]))
		}
	}
	rooms := make([]RoomCount, 0, len(names))
	for _, name := range names {
		rooms = append(rooms, RoomCount{Room: name, Members: counts[name]})
	}
	slices.SortFunc(rooms, func(a, b RoomCount) int {
		return cmp.Or(cmp.Compare(b.Members, a.Members), cmp.Compare(a.Room, b.Room))
	})
	d.rooms, d.read = rooms[:min(len(rooms), DirectorySize)], now
	return d.rooms, nil
}

// listedCounts returns how many people are in each of rooms that has
// sockets here: the member list as last read, which those rooms' pages
// show, and anyone with a socket here whom that list does not name yet
// (a join is listed with the next presence batch).
func (h *Hub) listedCounts(rooms []string) map[string]int {
	local := make([]*localRoom, 0, len(rooms))
	h.mu.Lock()
	for _, name := range rooms {
		if r := h.rooms[name]; r != nil {
			local = append(local, r)
		}
	}
	h.mu.Unlock()
	counts := make(map[string]int, len(rooms))
	for _, r := range local {
		r.mu.RLock()
		if r.known {
			n := len(r.listed)
			var extra []string
			for u := range r.users {
				// listed is sorted (Names of a sorted list).
				if _, in := slices.BinarySearch(r.listed, u.Name); !in && !slices.Contains(extra, u.Name) {
					extra = append(extra, u.Name)
				}
			}
			counts[r.name] = n + len(extra)
		}
		r.mu.RUnlock()
	}
	return counts
}

// MembersOf is what a broker offers that can read the members of many
// rooms in one round trip; the directory uses it when the broker has it.
type MembersOf interface {
	// MembersOf returns what Members returns for each of rooms.
	MembersOf(ctx context.Context, rooms []string) (map[string][]User, error)
}

// membersOf reads the members of rooms: at once where the broker can, else
// room by room.
func (h *Hub) membersOf(ctx context.Context, rooms []string) (map[string][]User, error) {
	if m, ok := h.broker.(MembersOf); ok {
		return m.MembersOf(ctx, rooms)
	}
	out := make(map[string][]User, len(rooms))
	for _, room := range rooms {
		users, err := h.broker.Members(ctx, room)
		if err != nil {
			return nil, err
		}
		out[room] = users
	}
	return out, nil
}

// touched tells the directory that room had a message, at most once a
// touchEvery per room from this instance.
func (h *Hub) touched(ctx context.Context, room string) {
	h.note(ctx, room, true, touchEvery)
}

// occupied tells the directory that someone is in room, unless this
// instance told it within a presence beat: the heartbeat tells it of every
// room with someone here each beat, so a crowd joining one room costs one
// write, not one each.
func (h *Hub) occupied(ctx context.Context, room string) {
	h.note(ctx, room, false, h.timing.Beat)
}

// note tells the directory of room (message, or someone in it) unless this
// instance did within every.
func (h *Hub) note(ctx context.Context, room string, message bool, every time.Duration) {
	now := time.Now()
	if !h.dir.due(room, message, now, every) {
		return
	}
	if err := h.broker.Touch(ctx, room, now, message); err != nil {
		h.brokerFailed("directory", room, err)
	}
}

// due reports whether room's note of that kind is older than every, and
// if so takes it as noted at now.
func (d *directory) due(room string, message bool, now time.Time, every time.Duration) bool {
	d.touchMu.Lock()
	defer d.touchMu.Unlock()
	last := &d.present
	if message {
		last = &d.touched
	}
	if now.Sub((*last)[room]) < every {
		return false
	}
	if *last == nil || len(*last) > 10000 {
		*last = map[string]time.Time{}
	}
	(*last)[room] = now
	return true
}
