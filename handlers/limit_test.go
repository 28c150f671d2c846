package handlers

import (
	"testing"
	"time"
)

func TestLimiterAllowsABurstThenTheRate(t *testing.T) {
	l := newLimiter(5, 10)
	start := time.Unix(1_000_000, 0)
	for i := range 10 {
		if !l.allowAt("ann", start) {
			t.Fatalf("message %d of the burst refused", i+1)
		}
	}
	if l.allowAt("ann", start) {
		t.Fatal("the 11th message at once was allowed")
	}
	if !l.allowAt("bob", start) {
		t.Fatal("another user was limited by ann's burst")
	}
	// A token comes back every 200 ms.
	if !l.allowAt("ann", start.Add(200*time.Millisecond)) {
		t.Fatal("refused after a token came back")
	}
}

func TestLimiterNeverLimitsNormalPace(t *testing.T) {
	l := newLimiter(5, 10)
	now := time.Unix(1_000_000, 0)
	// Four messages a second for ten minutes.
	for i := range 4 * 600 {
		if !l.allowAt("ann", now) {
			t.Fatalf("message %d at 4/s refused", i+1)
		}
		now = now.Add(250 * time.Millisecond)
	}
}

func TestLimiterForgetsIdleUsers(t *testing.T) {
	l := newLimiter(5, 10)
	now := time.Unix(1_000_000, 0)
	for i := range 1000 {
		l.allowAt(string(rune('a'+i%26))+time.Duration(i).String(), now)
	}
	l.allowAt("late", now.Add(2*time.Minute))
	if n := len(l.buckets); n != 1 {
		t.Fatalf("%d buckets kept after everyone went idle, want 1", n)
	}
}

func TestLimiterSaysWhenToRetry(t *testing.T) {
	l := newLimiter(1, 2)
	now := time.Unix(1_000_000, 0)
	for i := range 2 {
		if ok, _ := l.allowOrRetry("ann", now); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, retry := l.allowOrRetry("ann", now)
	if ok || retry <= 0 || retry > time.Second {
		t.Fatalf("past the burst: allowed %v, retry in %v; want refused, within a second", ok, retry)
	}
	// A refusal takes nothing: the token comes when it said.
	if ok, _ := l.allowOrRetry("ann", now.Add(retry)); !ok {
		t.Fatal("refused when the limiter said to retry")
	}
}
