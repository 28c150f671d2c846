package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// run parses args (args[0] is the program name), runs the benchmark and
// writes its report to stdout. Every phase is bounded in time; ctx ending
// cuts the run short, still closing every socket and reporting.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		args = []string{"chatbench"}
	}
	if len(args) > 1 && args[1] == "chart" {
		return chart(args[2:], stdout)
	}
	cfg, err := parseConfig(args[1:], stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	return runConfig(ctx, cfg, stdout)
}

// runConfig runs the benchmark cfg describes and writes its report; tests
// call it to set what parseConfig cannot (how a storm stops an instance).
func runConfig(ctx context.Context, cfg config, stdout io.Writer) error {
	b := newBench(cfg, stdout)
	rep := b.execute(ctx)
	var err error
	if cfg.json {
		err = rep.writeJSON(stdout)
	} else {
		err = rep.writeText(stdout)
	}
	switch {
	case err != nil:
		return err
	case rep.Interrupted:
		return errors.New("interrupted")
	case rep.Connections == 0:
		return errors.New("no connection could be made")
	}
	return nil
}

// bench is one run: its members, and what they measure together.
type bench struct {
	cfg     config
	out     io.Writer // progress lines, text mode only
	run     string    // tags this run's messages, names and nonces
	rooms   []*room
	members []*member
	latency histogram
	closing atomic.Bool // set before we close the sockets ourselves
	phase   atomic.Pointer[string]
	// draining is when the drain began (unix nanos; 0: not yet).
	draining atomic.Int64

	transports []*http.Transport // one per source address

	// maxMessages bounds a sender's message numbers (-proto socketio):
	// paced sends one at the start and at most one per tick, so twice the
	// phase's worth leaves room for a stop that comes late. A higher
	// number is not of this run, and must not grow a receiver's seenSet.
	maxMessages int64

	// Each socket is read from the moment its history is in, as a page
	// does: a socket left unread fills up and the server drops it. The
	// readers have their own context: ending run's must not cut sockets
	// before they are closed properly.
	readCtx    context.Context
	cancelRead context.CancelFunc
	readers    sync.WaitGroup

	// Members between a storm's close and their next history: the drain
	// waits for them.
	reconnecting atomic.Int64
}

func newBench(cfg config, out io.Writer) *bench {
	b := &bench{cfg: cfg, out: out, run: strings.ToLower(rand.Text()[:8])}
	b.maxMessages = 2*int64(cfg.rate*cfg.duration.Seconds()) + 64
	b.readCtx, b.cancelRead = context.WithCancel(context.Background())
	b.setPhase("connect")
	for k := range cfg.rooms {
		r := &room{name: cfg.roomPrefix + "-" + strconv.Itoa(k)}
		for i := range cfg.members {
			idx := k*cfg.members + i
			at := idx % len(cfg.urls)
			if cfg.storm() {
				at = 0 // the instance the storm stops holds them all
			}
			m := &member{
				idx:  idx,
				room: r,
				// Unique per run: a previous run's users stay listed
				// for a few seconds, and a name held by another
				// session is refused.
				name:     "m" + strconv.Itoa(k) + "-" + strconv.Itoa(i) + "-" + b.run,
				base:     cfg.urls[at],
				urlIdx:   at,
				clientIP: fakeClientIP(idx),
				sender:   i < cfg.senders,
			}
			if m.sender && cfg.storm() {
				m.pending = make(map[int]int64)
			}
			r.members = append(r.members, m)
			b.members = append(b.members, m)
		}
		b.rooms = append(b.rooms, r)
	}
	for s := range cfg.sources {
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
		if cfg.sources > 1 {
			d.LocalAddr = &net.TCPAddr{IP: sourceIP(s, cfg.sources)}
		}
		b.transports = append(b.transports, &http.Transport{
			Proxy:               nil, // the target is named; never a proxy
			DialContext:         d.DialContext,
			MaxIdleConnsPerHost: cfg.connectConcurrency,
			IdleConnTimeout:     30 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
			DisableCompression:  true,
		})
	}
	return b
}

// setPhase names the phase under way, for the reasons of disconnects.
func (b *bench) setPhase(p string) { b.phase.Store(&p) }

func (b *bench) logf(format string, args ...any) {
	if !b.cfg.json {
		fmt.Fprintf(b.out, "# "+format+"\n", args...)
	}
}

// execute runs the phases: connect, then send and drain (or stay idle),
// then close; it samples the servers between them.
func (b *bench) execute(ctx context.Context) *report {
	rep := newReport(b)
	samples := map[string][]procSample{}
	sample := func(phase string) {
		for _, pid := range b.cfg.pids {
			samples[phase] = append(samples[phase], sampleProc(pid))
		}
	}
	sample("before")

	if b.cfg.storm() {
		b.logf("run %s: connecting %d sockets to %s; the storm comes %s into sending", b.run, len(b.members), b.cfg.urls[0], b.cfg.stormAfter)
	} else {
		b.logf("run %s: connecting %d sockets to %d instance(s)", b.run, len(b.members), len(b.cfg.urls))
	}
	start := time.Now()
	connected, failures := b.connectAll(ctx)
	rep.ConnectSeconds = time.Since(start).Seconds()
	for _, t := range b.transports {
		t.CloseIdleConnections() // not to count in the servers' memory
	}
	rep.Connections, rep.ConnectFailed = len(connected), len(b.members)-len(connected)
	rep.ConnectErrors = failures
	b.logf("connected %d, failed %d in %.2f s", rep.Connections, rep.ConnectFailed, rep.ConnectSeconds)
	sample("connected")
	cpuConnected := selfCPU()

	if b.cfg.idle > 0 {
		b.setPhase("idle")
		b.logf("holding %d sockets idle for %s", len(connected), b.cfg.idle)
		if sleep(ctx, b.cfg.idle/2) {
			sample("mid")
			sleep(ctx, b.cfg.idle-b.cfg.idle/2)
		}
	} else {
		b.sendAndDrain(ctx, connected, rep, func() { sample("mid") })
	}
	sample("after")
	rep.GeneratorCPUSendSeconds = selfCPU() - cpuConnected
	rep.Interrupted = ctx.Err() != nil

	b.logf("closing %d sockets", len(connected))
	b.closeAll(connected)
	b.cancelRead()
	b.readers.Wait()
	for _, t := range b.transports {
		t.CloseIdleConnections()
	}

	rep.tally(b, connected)
	rep.servers(b.cfg.pids, samples)
	rep.GeneratorCPUSeconds = selfCPU()
	return rep
}

// connectAll connects every member, connect-concurrency at a time, within
// -connect-timeout. It returns the members connected and why the others
// were not, counted by kind.
func (b *bench) connectAll(ctx context.Context) ([]*member, map[string]int) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.connectTimeout)
	defer cancel()
	errs := make([]error, len(b.members))
	jobs := make(chan *member)
	var wg sync.WaitGroup
	for range min(b.cfg.connectConcurrency, len(b.members)) {
		wg.Go(func() {
			for m := range jobs {
				errs[m.idx] = m.connect(ctx, b, b.transports[m.idx%len(b.transports)])
				if errs[m.idx] == nil {
					b.readers.Go(func() { m.readLoop(b.readCtx, b) })
				}
			}
		})
	}
	fed := 0
feed:
	for _, m := range b.members {
		select {
		case jobs <- m:
			fed++
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	var connected []*member
	failures := map[string]int{}
	for i, m := range b.members {
		switch {
		case i >= fed:
			failures["not attempted: connect phase over"]++
		case errs[i] != nil:
			failures[closeErrKey(errs[i])]++
		default:
			connected = append(connected, m)
		}
	}
	return connected, failures
}

// sendAndDrain runs the sending phase, then waits until every sent message
// is answered and delivered to every member of its room (and every typing
// signal too), or -drain passes.
func (b *bench) sendAndDrain(ctx context.Context, connected []*member, rep *report, mid func()) {
	var senders []*member
	for _, m := range connected {
		m.goneEarly = m.closedBy.Load()
		if m.sender && !m.goneEarly {
			senders = append(senders, m)
		}
	}
	b.setPhase("send")
	b.logf("sending for %s: %d senders at %g msg/s", b.cfg.duration, len(senders), b.cfg.rate)
	interval := time.Duration(float64(time.Second) / b.cfg.rate)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for j, m := range senders {
		// Spread the senders over one interval rather than all at once.
		offset := time.Duration(int64(interval) * int64(j) / int64(len(senders)))
		if b.cfg.storm() {
			wg.Go(func() { m.stormSendLoop(stop, b, offset) })
		} else {
			wg.Go(func() { m.sendLoop(stop, b, offset) })
		}
	}
	if b.cfg.typing > 0 {
		live := 0
		for _, m := range connected {
			if !m.goneEarly {
				live++
			}
		}
		j := 0
		for _, m := range connected {
			if m.goneEarly {
				continue
			}
			offset := time.Duration(int64(b.cfg.typing) * int64(j) / int64(live))
			j++
			wg.Go(func() { m.typingLoop(stop, b, offset) })
		}
	}
	type event struct {
		at time.Duration
		do func()
	}
	events := []event{{b.cfg.duration / 2, mid}}
	if b.cfg.storm() {
		events = append(events, event{b.cfg.stormAfter, func() { b.startStorm(rep, start) }})
		slices.SortStableFunc(events, func(x, y event) int { return cmp.Compare(x.at, y.at) })
	}
	for _, e := range events {
		if !sleep(ctx, time.Until(start.Add(e.at))) {
			break
		}
		e.do()
	}
	sleep(ctx, time.Until(start.Add(b.cfg.duration)))
	close(stop)
	wg.Wait()
	rep.SendSeconds = time.Since(start).Seconds()

	b.setPhase("drain")
	b.draining.Store(time.Now().UnixNano())
	rep.Drained, rep.DrainSeconds = waitDrained(ctx, b.cfg.drain, b.drained)
}

// waitDrained asks drained every 10 ms until it holds, ctx ends or wait
// passes; it returns drained's last answer and the seconds waited.
func waitDrained(ctx context.Context, wait time.Duration, drained func() bool) (bool, float64) {
	start := time.Now()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for !drained() {
		select {
		case <-ctx.Done():
		case <-deadline.C:
		case <-poll.C:
			continue
		}
		break
	}
	return drained(), time.Since(start).Seconds()
}

// typingHeld is the longest the server holds a typing signal (a name's
// repeat, 3 s after the frame that last had it), with a margin.
const typingHeld = 4 * time.Second

// drained reports whether every sender has had a reply to every message,
// and every member of a room has every message accepted there and, with
// -typing, every typing signal sent there. Sockets the server closed are
// left out: they wait for nothing more.
func (b *bench) drained() bool {
	if b.reconnecting.Load() > 0 {
		return false
	}
	for _, r := range b.rooms {
		if !b.typingIn(r) {
			return false
		}
		var accepted int64
		for _, m := range r.members {
			if !m.active() || !m.sender {
				continue
			}
			a := m.accepted.Load()
			if !m.closedBy.Load() && m.sent.Load() > a+m.refused.Load() {
				return false
			}
			accepted += a
		}
		for _, m := range r.members {
			if m.active() && !m.closedBy.Load() && m.received.Load() < accepted {
				return false
			}
		}
	}
	return true
}

// typingIn reports whether every member of r still there has had every
// typing signal written in r, its own included, or typingHeld has passed
// since the drain began. A typing frame written as the sending phase
// stops is still on its way when the last message is in: without this
// wait it is counted sent and the sockets close before it arrives. The
// server holds a name's repeat for up to 3 s and drops it when that
// person's message comes, so not every signal arrives. Signals from
// elsewhere only add to a member's count. A storm's rejoins miss the
// signals sent meanwhile, and nothing sends those again: there the drain
// waits for the messages alone.
func (b *bench) typingIn(r *room) bool {
	if b.cfg.typing == 0 || b.cfg.storm() {
		return true
	}
	if at := b.draining.Load(); at != 0 && time.Since(time.Unix(0, at)) >= typingHeld {
		return true
	}
	var typed int64
	for _, m := range r.members {
		if m.active() && !m.closedBy.Load() {
			typed += m.typed.Load()
		}
	}
	for _, m := range r.members {
		if m.active() && !m.closedBy.Load() && m.typists.Load() < typed {
			return false
		}
	}
	return true
}

// closeAll closes every socket with a normal closure, many at once: each
// Close waits for the server's answer (at most 5 s to write, 5 s to hear).
func (b *bench) closeAll(connected []*member) {
	b.closing.Store(true)
	sem := make(chan struct{}, 512)
	var wg sync.WaitGroup
	for _, m := range connected {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			// A storm's rejoin that has not swapped its socket in yet
			// sees closing and closes the new one itself.
			m.currentConn().Close(websocket.StatusNormalClosure, "")
		})
	}
	wg.Wait()
}

// sleep waits d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// addCounts adds src's counts to dst.
func addCounts(dst map[string]int, src map[string]int) {
	for k, v := range src {
		dst[k] += v
	}
}
