package main

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chatrun/chat/realtime"
)

// metrics are the service's Prometheus metrics, in a registry of their own
// (one per run, so that tests can run instances side by side). They serve
// both the hub (realtime.Observer) and the handlers (handlers.Metrics).
type metrics struct {
	reg          *prometheus.Registry
	socketsOpen  prometheus.Gauge
	roomsActive  prometheus.Gauge
	messagesIn   prometheus.Counter
	deliveries   prometheus.Counter
	dropped      prometheus.Counter
	brokerErrors prometheus.Counter
	resyncs      prometheus.Counter
	fanOut       prometheus.Histogram
	// The archive (Firestore): messages waiting for it, and failed passes.
	archiveBacklog prometheus.Gauge
	archiveErrors  prometheus.Counter
}

// app.New has the hub report to the handlers' Metrics only when they are an
// Observer too: a metrics that stopped being one would count half silently.
var _ realtime.Observer = (*metrics)(nil)

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		socketsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_sockets_open", Help: "WebSockets open on this instance.",
		}),
		roomsActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_rooms_active", Help: "Rooms with at least one socket on this instance.",
		}),
		messagesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_messages_in_total", Help: "Messages accepted from this instance's users.",
		}),
		deliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_deliveries_out_total", Help: "Messages handed to this instance's sockets.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_slow_clients_dropped_total", Help: "Sockets dropped because their queue was full.",
		}),
		brokerErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_redis_errors_total", Help: "Failed calls to the broker (Redis).",
		}),
		resyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_room_resyncs_total", Help: "Rooms sent their history again after a gap in their Redis subscription (outage, failover, slot move).",
		}),
		archiveBacklog: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chat_archive_backlog", Help: "Messages acknowledged but not yet in the archive (Firestore), as this instance last counted.",
		}),
		archiveErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chat_archive_errors_total", Help: "Passes of this instance's archiver that failed (Firestore or Redis unavailable).",
		}),
		fanOut: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "chat_fanout_seconds",
			Help:    "Time to hand one message to every local socket of its room.",
			Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10), // 1 µs to 0.26 s
		}),
	}
	m.reg.MustRegister(m.socketsOpen, m.roomsActive, m.messagesIn, m.deliveries, m.dropped, m.brokerErrors, m.resyncs, m.fanOut,
		m.archiveBacklog, m.archiveErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// mux is the metrics listener's handler: GET /metrics, and 404 for the rest.
func (m *metrics) mux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.handler())
	return mux
}

func (m *metrics) SocketOpened()          { m.socketsOpen.Inc() }
func (m *metrics) SocketClosed()          { m.socketsOpen.Dec() }
func (m *metrics) MessageIn()             { m.messagesIn.Inc() }
func (m *metrics) Delivered(n int)        { m.deliveries.Add(float64(n)) }
func (m *metrics) FanOut(d time.Duration) { m.fanOut.Observe(d.Seconds()) }
func (m *metrics) Dropped()               { m.dropped.Inc() }
func (m *metrics) RoomsActive(n int)      { m.roomsActive.Set(float64(n)) }
func (m *metrics) BrokerError()           { m.brokerErrors.Inc() }
func (m *metrics) Resynced()              { m.resyncs.Inc() }
