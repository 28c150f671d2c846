package main

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func TestBuckets(t *testing.T) {
	prevHi := int64(-1)
	for b := range histBuckets {
		lo, hi := bucketRange(b)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d: [%d, %d] after %d", b, lo, hi, prevHi)
		}
		if bucketOf(lo) != b || bucketOf(hi) != b {
			t.Fatalf("bucket %d: [%d, %d] maps to %d, %d", b, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= histLinear && float64(hi-lo+1)/float64(lo) > 1.0/histSub+1e-9 {
			t.Fatalf("bucket %d: [%d, %d] wider than 1/%d", b, lo, hi, histSub)
		}
		prevHi = hi
	}
	if prevHi != 1<<histMaxBits-1 || bucketOf(math.MaxInt64) != histBuckets-1 || bucketOf(-5) != 0 {
		t.Errorf("range ends at %d", prevHi)
	}
}

func TestPercentiles(t *testing.T) {
	var h histogram
	if s := h.summary(); s.count != 0 || s.p99 != 0 {
		t.Errorf("empty: %+v", s)
	}
	// 1..1000 µs, each once, recorded from many goroutines.
	var wg sync.WaitGroup
	for g := range 10 {
		wg.Go(func() {
			for v := int64(g*100 + 1); v <= int64(g*100+100); v++ {
				h.record(int(v), v)
			}
		})
	}
	wg.Wait()
	s := h.summary()
	near := func(name string, got, want float64) {
		if math.Abs(got-want)/want > 0.02 {
			t.Errorf("%s = %g; want %g ± 2%%", name, got, want)
		}
	}
	if s.count != 1000 || s.max != 1000 {
		t.Errorf("count %d, max %g", s.count, s.max)
	}
	near("p50", s.p50, 500)
	near("p90", s.p90, 900)
	near("p99", s.p99, 990)
	near("mean", s.avg, 500.5)

	// Against exact percentiles of a skewed sample.
	var h2 histogram
	r := rand.New(rand.NewPCG(1, 2))
	vals := make([]int64, 100000)
	for i := range vals {
		vals[i] = int64(r.ExpFloat64()*2000) + 50
		h2.record(i, vals[i])
	}
	slices.Sort(vals)
	s = h2.summary()
	exact := func(p float64) float64 { return float64(vals[int(math.Ceil(p/100*float64(len(vals))))-1]) }
	near("p50", s.p50, exact(50))
	near("p90", s.p90, exact(90))
	near("p99", s.p99, exact(99))
	if s.max != float64(vals[len(vals)-1]) {
		t.Errorf("max %g; want %d", s.max, vals[len(vals)-1])
	}

	// A single huge outlier is the max, and p99 stays put.
	var h3 histogram
	for range 999 {
		h3.record(0, 100)
	}
	h3.record(0, 5_000_000)
	if s := h3.summary(); math.Abs(s.p99-100) > 1 || s.max != 5_000_000 || math.Abs(s.p50-100) > 1 {
		t.Errorf("outlier: %+v", s)
	}
}
