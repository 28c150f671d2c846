package main

import (
	"math/bits"
	"sync/atomic"
)

// histogram counts latencies in microseconds in log-linear buckets: exact
// below 64 µs, then 32 buckets per power of two (at most ~3% error), up to
// 2^40 µs. Receivers record from many goroutines at once, so counts are
// atomic and spread over shards to keep them off one cache line.
type histogram struct {
	shards [histShards]histShard
}

const (
	histShards  = 16
	histSubBits = 5
	histSub     = 1 << histSubBits // buckets per power of two
	histLinear  = 2 * histSub      // values below this have their own bucket
	histMaxBits = 40
	histBuckets = histLinear + (histMaxBits-histSubBits-1)*histSub
)

type histShard struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64
	sum    atomic.Int64
	_      [64]byte
}

func bucketOf(us int64) int {
	if us < histLinear {
		return int(max(us, 0))
	}
	if us >= 1<<histMaxBits {
		us = 1<<histMaxBits - 1
	}
	e := bits.Len64(uint64(us)) - histSubBits - 1 // ≥ 1
	return histLinear + (e-1)*histSub + int(us>>e) - histSub
}

// bucketRange is the smallest and largest value bucket b holds.
func bucketRange(b int) (lo, hi int64) {
	if b < histLinear {
		return int64(b), int64(b)
	}
	e := (b-histLinear)/histSub + 1
	m := int64((b-histLinear)%histSub + histSub)
	return m << e, (m+1)<<e - 1
}

// record adds one latency; shard is any number, say the receiver's index.
func (h *histogram) record(shard int, us int64) {
	us = max(us, 0)
	s := &h.shards[shard%histShards]
	s.counts[bucketOf(us)].Add(1)
	s.sum.Add(us)
	for {
		m := s.max.Load()
		if us <= m || s.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// latencySummary is the histogram read out, in microseconds.
type latencySummary struct {
	count                   uint64
	p50, p90, p99, max, avg float64
}

// summary reads the histogram; call it once recording has stopped. A
// percentile is the middle of its bucket, never above the largest value.
func (h *histogram) summary() latencySummary {
	var counts [histBuckets]uint64
	var total uint64
	var sum, maxv int64
	for i := range h.shards {
		s := &h.shards[i]
		for b := range counts {
			counts[b] += s.counts[b].Load()
		}
		sum += s.sum.Load()
		maxv = max(maxv, s.max.Load())
	}
	for _, c := range counts {
		total += c
	}
	out := latencySummary{count: total, max: float64(maxv)}
	if total == 0 {
		return out
	}
	out.avg = float64(sum) / float64(total)
	pct := func(p float64) float64 {
		rank := uint64(p/100*float64(total) + 0.999999999) // ceil, at least 1
		rank = min(max(rank, 1), total)
		var seen uint64
		for b, c := range counts {
			seen += c
			if seen >= rank {
				lo, hi := bucketRange(b)
				return min(float64(lo+hi)/2, float64(maxv))
			}
		}
		return float64(maxv)
	}
	out.p50, out.p90, out.p99 = pct(50), pct(90), pct(99)
	return out
}
