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
// each room last told it of a message from here.
type directory struct {
	// readMu guards read and rooms. It is held across the broker calls of a
	// read, so that concurrent pages share one: only Directory takes it.
	readMu sync.Mutex
	read   time.Time
	rooms  []RoomCount

	// touchMu guards touched; sends take it, so it is never held across I/O.
	touchMu sync.Mutex
	touched map[string]time.Time
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
	members, err := h.membersOf(ctx, names)
	if err != nil {
		return nil, err
	}
	rooms := make([]RoomCount, 0, len(names))
	for _, name := range names {
		rooms = append(rooms, RoomCount{Room: name, Members: len(Names(members[name]))})
	}
	slices.SortFunc(rooms, func(a, b RoomCount) int {
		return cmp.Or(cmp.Compare(b.Members, a.Members), cmp.Compare(a.Room, b.Room))
	})
	d.rooms, d.read = rooms[:min(len(rooms), DirectorySize)], now
	return d.rooms, nil
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
	d := &h.dir
	d.touchMu.Lock()
	now := time.Now()
	if now.Sub(d.touched[room]) < touchEvery {
		d.touchMu.Unlock()
		return
	}
	if d.touched == nil || len(d.touched) > 10000 {
		d.touched = map[string]time.Time{}
	}
	d.touched[room] = now
	d.touchMu.Unlock()
	if err := h.broker.Touch(ctx, room, now, true); err != nil {
		h.brokerFailed("directory", room, err)
	}
}
