package push

import (
	"context"
	"slices"
	"sync"
	"time"
)

// MemoryStore keeps subscriptions in this process: for a single instance
// without Redis. They go with the process; pages send theirs again when
// they load.
type MemoryStore struct {
	mu     sync.Mutex
	people map[string][]Subscription
	max    int // people kept; the one stored longest ago goes first
}

// memoryPeople bounds the people a MemoryStore keeps: sessions are free
// to make.
const memoryPeople = 100_000

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{people: map[string][]Subscription{}, max: memoryPeople}
}

// Add implements Store.
func (m *MemoryStore) Add(_ context.Context, person string, s Subscription) error {
	if s.Added.IsZero() {
		s.Added = time.Now()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	subs := slices.DeleteFunc(m.people[person], func(o Subscription) bool { return o.Endpoint == s.Endpoint })
	subs = append(subs, s)
	if len(subs) > MaxPerPerson {
		subs = slices.Clone(subs[len(subs)-MaxPerPerson:])
	}
	if _, ok := m.people[person]; !ok && len(m.people) >= m.max {
		m.evictOldest()
	}
	m.people[person] = subs
	return nil
}

// evictOldest drops the person whose newest subscription is the oldest.
// Only when full: a scan of the map then is cheap beside what filled it.
func (m *MemoryStore) evictOldest() {
	var who string
	var when time.Time
	for p, subs := range m.people {
		if t := subs[len(subs)-1].Added; who == "" || t.Before(when) {
			who, when = p, t
		}
	}
	delete(m.people, who)
}

// List implements Store.
func (m *MemoryStore) List(_ context.Context, person string) ([]Subscription, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.people[person]), nil
}

// Remove implements Store.
func (m *MemoryStore) Remove(_ context.Context, person, endpoint string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	subs := slices.DeleteFunc(m.people[person], func(o Subscription) bool { return o.Endpoint == endpoint })
	if len(subs) == 0 {
		delete(m.people, person)
	} else {
		m.people[person] = subs
	}
	return nil
}
