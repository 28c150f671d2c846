package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// report is everything a run measured; -json prints it as one line.
type report struct {
	RunID      string   `json:"run_id"`
	Proto      string   `json:"proto"`
	URLs       []string `json:"urls"`
	Rooms      int      `json:"rooms"`
	Members    int      `json:"members"`
	Senders    int      `json:"senders"`
	Rate       float64  `json:"rate"`
	Duration   float64  `json:"duration_s"`
	IdleTarget float64  `json:"idle_s"`
	Page       bool     `json:"page"`
	Sources    int      `json:"sources"`

	Connections    int            `json:"connections"`
	ConnectFailed  int            `json:"connect_failed"`
	ConnectErrors  map[string]int `json:"connect_errors"`
	ConnectSeconds float64        `json:"connect_s"`
	// Sockets the server closed before the run ended, how and in which
	// phase (connect, send, drain, idle).
	Disconnects       int            `json:"disconnects"`
	DisconnectReasons map[string]int `json:"disconnect_reasons"`

	// Members that take part in the counts: connected, and not closed by
	// the server before sending began.
	Receivers      int            `json:"receivers"`
	Sent           int64          `json:"sent"`
	Accepted       int64          `json:"accepted"`
	Refused        int64          `json:"refused"`
	Unanswered     int64          `json:"unanswered"`
	RefusalReasons map[string]int `json:"refusal_reasons"`
	SendErrors     int            `json:"send_errors"`
	// With -typing: typing frames sent, and typing signals received.
	TypingSent     int64 `json:"typing_sent,omitempty"`
	TypingReceived int64 `json:"typing_received,omitempty"`

	Expected   int64 `json:"expected"`
	Received   int64 `json:"received"`
	Lost       int64 `json:"lost"`
	Duplicated int64 `json:"duplicated"`
	// Deliveries beyond the accepted count (a message stored although
	// its sender was told otherwise), messages not of this run, history
	// frames after the first (resyncs) and the messages they brought.
	Unexpected       int64 `json:"unexpected"`
	Foreign          int64 `json:"foreign"`
	Resyncs          int64 `json:"resyncs"`
	ResyncDeliveries int64 `json:"resync_deliveries"`

	SendSeconds  float64 `json:"send_s"`
	DrainSeconds float64 `json:"drain_s"`
	Drained      bool    `json:"drained"`
	PerSecond    float64 `json:"deliveries_per_s"`
	SpanSeconds  float64 `json:"span_s"`
	PerSecSpan   float64 `json:"deliveries_per_s_span"`

	LatencyCount uint64  `json:"latency_count"`
	LatencyP50   float64 `json:"latency_p50_ms"`
	LatencyP90   float64 `json:"latency_p90_ms"`
	LatencyP99   float64 `json:"latency_p99_ms"`
	LatencyMax   float64 `json:"latency_max_ms"`
	LatencyMean  float64 `json:"latency_mean_ms"`

	Servers             []serverReport `json:"servers"`
	RSSPerConnKB        float64        `json:"rss_per_conn_kb"`
	ServerCPUSendSecs   float64        `json:"server_cpu_send_s"`
	PerServerCPUSecond  float64        `json:"deliveries_per_server_cpu_s"`
	GeneratorCPUSeconds float64        `json:"generator_cpu_s"`
	// From connected to the end of the drain (or of -idle).
	GeneratorCPUSendSeconds float64 `json:"generator_cpu_send_s"`

	// A reconnect storm (-storm-after; all zero in other runs): when the
	// bench told the first instance to stop, into the sending phase (0
	// when it was left to something else), and what followed. Closed1012 and Dropped1013 count sockets; Rejoined and
	// NotRejoined the members closed with 1012, by whether they were
	// back in their room (on the history of another socket) at the end,
	// RejoinedOn the former by the URL they ended on.
	// Dropped1013 counts sockets closed with 1013 after their member's
	// 1012, before or after their history; DroppedMembers the members.
	// Rejoin times run from a member's first 1012 to the history of the
	// socket it ended on; the span from the first 1012 of all to the last
	// such history. Closes are every server close that a rejoin followed,
	// by reason and phase; Reconnects every handshake tried, and
	// ReconnectErrors why those that failed did. CaughtUp counts
	// messages first seen in a rejoin's history, Resent those sent again
	// under their nonce on a new socket.
	StormAfter           float64        `json:"storm_after_s"`
	StormStopSeconds     float64        `json:"storm_stop_s"`
	StormStopError       string         `json:"storm_stop_error,omitempty"`
	StormClosed1012      int            `json:"storm_closed_1012"`
	StormRejoined        int            `json:"storm_rejoined"`
	StormNotRejoined     int            `json:"storm_not_rejoined"`
	StormRejoinedOn      map[string]int `json:"storm_rejoined_on"`
	StormDropped1013     int            `json:"storm_dropped_1013"`
	StormDroppedMembers  int            `json:"storm_dropped_members"`
	StormRejoinP50       float64        `json:"storm_rejoin_p50_ms"`
	StormRejoinP99       float64        `json:"storm_rejoin_p99_ms"`
	StormRejoinMax       float64        `json:"storm_rejoin_max_ms"`
	StormSpanSeconds     float64        `json:"storm_span_s"`
	StormCloses          map[string]int `json:"storm_closes"`
	StormReconnects      int            `json:"storm_reconnects"`
	StormReconnectErrors map[string]int `json:"storm_reconnect_errors"`
	StormCaughtUp        int64          `json:"storm_caught_up"`
	StormResent          int64          `json:"storm_resent"`

	Interrupted bool `json:"interrupted"`
}

// serverReport is one server process sampled before connecting, once
// connected, in the middle of the sending (or idle) phase, and after it.
type serverReport struct {
	PID            int     `json:"pid"`
	RSSBeforeKB    int64   `json:"rss_before_kb"`
	RSSConnectedKB int64   `json:"rss_connected_kb"`
	RSSMidKB       int64   `json:"rss_mid_kb"`
	RSSAfterKB     int64   `json:"rss_after_kb"`
	CPUBefore      float64 `json:"cpu_before_s"`
	CPUConnected   float64 `json:"cpu_connected_s"`
	CPUMid         float64 `json:"cpu_mid_s"`
	CPUAfter       float64 `json:"cpu_after_s"`
	Error          string  `json:"error,omitempty"`
}

func newReport(b *bench) *report {
	r := &report{
		RunID:             b.run,
		Rooms:             b.cfg.rooms,
		Members:           b.cfg.members,
		Senders:           b.cfg.senders,
		Rate:              b.cfg.rate,
		Duration:          b.cfg.duration.Seconds(),
		IdleTarget:        b.cfg.idle.Seconds(),
		Proto:             b.cfg.proto,
		Page:              b.cfg.page && !b.cfg.socketIO(), // a Socket.IO run has no page
		Sources:           b.cfg.sources,
		ConnectErrors:     map[string]int{},
		DisconnectReasons: map[string]int{},
		RefusalReasons:    map[string]int{},
		Servers:           []serverReport{},
		StormAfter:        b.cfg.stormAfter.Seconds(),
		StormCloses:       map[string]int{},
		StormRejoinedOn:   map[string]int{},

		StormReconnectErrors: map[string]int{},
	}
	if b.cfg.idle > 0 {
		r.Duration, r.Senders, r.Rate = 0, 0, 0
	}
	for _, u := range b.cfg.urls {
		r.URLs = append(r.URLs, u.String())
	}
	return r
}

// tally counts deliveries once every reader has stopped. Each member of a
// room expects every message accepted there: all connected before the
// first send.
func (r *report) tally(b *bench, connected []*member) {
	var firstSend, lastRecv int64
	for _, rm := range b.rooms {
		var accepted int64
		for _, m := range rm.members {
			if !m.active() || !m.sender {
				continue
			}
			sent, acc, ref := m.sent.Load(), m.accepted.Load(), m.refused.Load()
			r.Sent += sent
			r.Accepted += acc
			r.Refused += ref
			r.Unanswered += max(0, sent-acc-ref)
			accepted += acc
			addCounts(r.RefusalReasons, m.reasons)
			if m.sendErr != nil {
				r.SendErrors++
			}
			if m.firstSend != 0 && (firstSend == 0 || m.firstSend < firstSend) {
				firstSend = m.firstSend
			}
		}
		for _, m := range rm.members {
			r.TypingSent += m.typed.Load()
			r.TypingReceived += m.typists.Load()
		}
		for _, m := range rm.members {
			if m.joined && m.closedBy.Load() {
				r.Disconnects++
				r.DisconnectReasons[closeErrKey(m.readErr)+" while "+m.readPhase]++
			}
			if !m.active() {
				continue
			}
			r.Receivers++
			got := m.received.Load()
			r.Expected += accepted
			r.Received += got
			r.Lost += max(0, accepted-got)
			r.Unexpected += max(0, got-accepted)
			r.Duplicated += m.dups
			r.Foreign += m.foreign
			r.Resyncs += int64(max(0, m.histories-1-m.storm.rejoins))
			r.ResyncDeliveries += m.resynced
			lastRecv = max(lastRecv, m.lastRecv)
		}
	}
	if r.SendSeconds > 0 {
		r.PerSecond = float64(r.Received) / r.SendSeconds
	}
	if firstSend != 0 && lastRecv > firstSend {
		r.SpanSeconds = time.Duration(lastRecv - firstSend).Seconds()
		r.PerSecSpan = float64(r.Received) / r.SpanSeconds
	}
	s := b.latency.summary()
	r.LatencyCount = s.count
	r.LatencyP50, r.LatencyP90, r.LatencyP99 = s.p50/1000, s.p90/1000, s.p99/1000
	r.LatencyMax, r.LatencyMean = s.max/1000, s.avg/1000
	if b.cfg.storm() {
		r.tallyStorm(b)
	}
}

// tallyStorm sums the members' storms once every reader has stopped.
func (r *report) tallyStorm(b *bench) {
	var rejoin histogram
	var first, last time.Time
	for _, m := range b.members {
		st := &m.storm
		r.StormClosed1012 += st.closed1012
		r.StormDropped1013 += st.dropped
		if st.dropped > 0 {
			r.StormDroppedMembers++
		}
		r.StormReconnects += st.attempts
		addCounts(r.StormCloses, st.closes)
		addCounts(r.StormReconnectErrors, st.errs)
		r.StormCaughtUp += st.caughtUp
		r.StormResent += st.resent
		if st.closed1012 == 0 {
			continue
		}
		if first.IsZero() || st.first1012.Before(first) {
			first = st.first1012
		}
		if m.closedBy.Load() || !st.back.After(st.first1012) {
			r.StormNotRejoined++
			continue
		}
		r.StormRejoined++
		r.StormRejoinedOn[m.base.String()]++
		rejoin.record(m.idx, st.back.Sub(st.first1012).Microseconds())
		if st.back.After(last) {
			last = st.back
		}
	}
	s := rejoin.summary()
	r.StormRejoinP50, r.StormRejoinP99, r.StormRejoinMax = s.p50/1000, s.p99/1000, s.max/1000
	if !last.IsZero() {
		r.StormSpanSeconds = last.Sub(first).Seconds()
	}
}

// servers fills in the per-process samples and what follows from them.
func (r *report) servers(pids []int, samples map[string][]procSample) {
	at := func(phase string, i int) procSample {
		if i < len(samples[phase]) {
			return samples[phase][i]
		}
		return procSample{Err: "not sampled"}
	}
	var rssGrowth int64
	for i, pid := range pids {
		before, conn, mid, after := at("before", i), at("connected", i), at("mid", i), at("after", i)
		s := serverReport{
			PID:         pid,
			RSSBeforeKB: before.RSSKB, RSSConnectedKB: conn.RSSKB, RSSMidKB: mid.RSSKB, RSSAfterKB: after.RSSKB,
			CPUBefore: before.CPU, CPUConnected: conn.CPU, CPUMid: mid.CPU, CPUAfter: after.CPU,
		}
		for _, p := range []procSample{before, conn, mid, after} {
			if p.Err != "" && s.Error == "" {
				s.Error = p.Err
			}
		}
		rssGrowth += conn.RSSKB - before.RSSKB
		if conn.Err == "" && after.Err == "" {
			r.ServerCPUSendSecs += after.CPU - conn.CPU
		}
		r.Servers = append(r.Servers, s)
	}
	if len(pids) > 0 && r.Connections > 0 {
		r.RSSPerConnKB = float64(rssGrowth) / float64(r.Connections)
	}
	if r.ServerCPUSendSecs > 0 {
		r.PerServerCPUSecond = float64(r.Received) / r.ServerCPUSendSecs
	}
}

func (r *report) writeJSON(w io.Writer) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

func (r *report) writeText(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	mode := fmt.Sprintf("%d senders/room at %g msg/s for %gs", r.Senders, r.Rate, r.Duration)
	if r.IdleTarget > 0 {
		mode = fmt.Sprintf("idle for %gs", r.IdleTarget)
	}
	p("chatbench run %s: %d rooms × %d members, %s, on %s (%s)", r.RunID, r.Rooms, r.Members, mode, strings.Join(r.URLs, ", "), r.Proto)
	p("connections  %d made, %d failed, in %.2f s%s", r.Connections, r.ConnectFailed, r.ConnectSeconds, counts(r.ConnectErrors))
	if r.Disconnects > 0 {
		p("disconnects  %d closed by the server during the run%s", r.Disconnects, counts(r.DisconnectReasons))
	}
	if r.IdleTarget == 0 {
		p("messages     %d sent: %d accepted, %d refused, %d unanswered%s", r.Sent, r.Accepted, r.Refused, r.Unanswered, counts(r.RefusalReasons))
		p("deliveries   %d expected, %d received, %d lost, %d duplicated (%d receivers)", r.Expected, r.Received, r.Lost, r.Duplicated, r.Receivers)
		if r.TypingSent > 0 {
			p("typing       %d sent, %d signals received", r.TypingSent, r.TypingReceived)
		}
		if r.Unexpected+r.Foreign+r.Resyncs > 0 {
			p("             %d unexpected, %d from others, %d resyncs bringing %d", r.Unexpected, r.Foreign, r.Resyncs, r.ResyncDeliveries)
		}
		drained := "all in"
		if !r.Drained {
			drained = "drain timed out"
		}
		p("throughput   %.0f deliveries/s over the sending phase (%.2f s); %.0f/s from first send to last delivery (%.2f s); drain %.2f s, %s",
			r.PerSecond, r.SendSeconds, r.PerSecSpan, r.SpanSeconds, r.DrainSeconds, drained)
		p("latency      p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms, mean %.2f ms (%d samples)",
			r.LatencyP50, r.LatencyP90, r.LatencyP99, r.LatencyMax, r.LatencyMean, r.LatencyCount)
	}
	if r.StormAfter > 0 {
		trigger := fmt.Sprintf("first instance stopped %.2f s into sending", r.StormStopSeconds)
		switch {
		case r.StormStopSeconds == 0:
			trigger = "first instance left to be stopped by other means"
		case r.StormStopError != "":
			trigger = "stopping the first instance failed: " + r.StormStopError
		}
		p("storm        %s; %d sockets closed with 1012: %d rejoined, %d not; %d dropped with 1013 while rejoining (%d members)",
			trigger, r.StormClosed1012, r.StormRejoined, r.StormNotRejoined, r.StormDropped1013, r.StormDroppedMembers)
		p("             rejoin p50 %.0f ms, p99 %.0f ms, max %.0f ms; the last %.2f s after the first 1012; %d reconnects%s",
			r.StormRejoinP50, r.StormRejoinP99, r.StormRejoinMax, r.StormSpanSeconds, r.StormReconnects, counts(r.StormReconnectErrors))
		p("             %d messages caught up from a rejoin's history, %d sent again under their nonce; closes%s",
			r.StormCaughtUp, r.StormResent, counts(r.StormCloses))
	}
	for _, s := range r.Servers {
		after := fmt.Sprintf("%.2f s", s.CPUAfter-s.CPUConnected)
		if s.CPUAfter == 0 && s.Error != "" {
			after = "? s" // not sampled: a storm's stopped instance has exited
		}
		line := fmt.Sprintf("server %-6d RSS %s → %s connected → %s mid → %s after; CPU %.2f s connecting, %s after",
			s.PID, mib(s.RSSBeforeKB), mib(s.RSSConnectedKB), mib(s.RSSMidKB), mib(s.RSSAfterKB), s.CPUConnected-s.CPUBefore, after)
		if s.Error != "" {
			line += " (" + s.Error + ")"
		}
		p("%s", line)
	}
	if len(r.Servers) > 0 {
		p("servers      %.1f kB RSS per connection; %.2f CPU s after connecting; %.0f deliveries per CPU second",
			r.RSSPerConnKB, r.ServerCPUSendSecs, r.PerServerCPUSecond)
	}
	p("generator    %.2f CPU s in all, %.2f after connecting", r.GeneratorCPUSeconds, r.GeneratorCPUSendSeconds)
	if r.Interrupted {
		p("INTERRUPTED: the figures cover part of the run")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mib(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }

// counts renders a reason → count map, most frequent first.
func counts(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d× %s", m[k], k)
	}
	return " (" + strings.Join(parts, "; ") + ")"
}
