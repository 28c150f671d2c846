package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"cloud.google.com/go/firestore"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/chatrun/chat/handlers"
	"github.com/chatrun/chat/internal/app"
	"github.com/chatrun/chat/push"
	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/realtime/firestorearchive"
	"github.com/chatrun/chat/realtime/redisbroker"
)

// Cloud Run sends SIGKILL 10 s after SIGTERM; the drain must end before.
const (
	drainSockets = 5 * time.Second
	drainTotal   = 7 * time.Second
)

// httpTimeouts bound how long a connection may hold the server without
// sending a whole request.
type httpTimeouts struct {
	readHeader time.Duration // a request's headers
	read       time.Duration // a request's headers and body
	idle       time.Duration // a keep-alive connection between requests
}

// edgeTimeouts are the server's: a request whose body stalls, or a keep-alive
// connection that sends nothing more, is closed within 30 s instead of
// holding a connection and its goroutine for ever. WebSockets are not
// affected: net/http clears a connection's deadlines when the handler hijacks
// it, and pings find dead peers. Tests shorten them; nothing else sets them.
var edgeTimeouts = httpTimeouts{
	readHeader: 10 * time.Second,
	read:       20 * time.Second,
	idle:       25 * time.Second,
}

// newHTTPServer serves h under the edge timeouts.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: edgeTimeouts.readHeader,
		ReadTimeout:       edgeTimeouts.read,
		IdleTimeout:       edgeTimeouts.idle,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// run serves until ctx is done, then drains: it stops accepting, closes every
// socket with 1012 and returns within drainTotal.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	log := newLogger(stdout)
	cfg, err := loadConfig(args, getenv)
	if err != nil {
		log.Error("bad configuration", "err", err)
		return fmt.Errorf("configuration: %w", err)
	}

	met := newMetrics()
	store, err := openBroker(ctx, cfg, log, met)
	if err != nil {
		log.Error("broker", "err", err)
		return fmt.Errorf("broker: %w", err)
	}
	// A broker that does not answer must not hold the process past the
	// drain: closing it gets a moment, then run returns all the same.
	defer waitAtMost(brokerClose, store.close)
	if cfg.secretGenerated {
		log.Warn("SESSION_SECRET is not set: using a random key, so sessions end when this process does and are not valid on other instances")
	}

	pusher, err := newPusher(cfg, store, log)
	if err != nil {
		return err
	}
	if pusher != nil {
		// Notifications still queued get what is left of a second.
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = pusher.Close(ctx)
		}()
	}
	up, err := openUploads(context.WithoutCancel(ctx), cfg, log)
	if err != nil {
		log.Error("uploads", "err", err)
		return err
	}
	defer up.close()
	chat := newChat(cfg, store, met, log, pusher, up)
	hubCtx, stopHub := context.WithCancel(context.Background())
	hubDone := chat.Start(hubCtx)
	defer stopHub()

	srv, err := startServers(cfg, chat, met, log)
	if err != nil {
		return err
	}
	if err := srv.wait(ctx); err != nil {
		return err
	}
	drain(srv, chat, stopHub, hubDone, log)
	return nil
}

// newChat puts the service together on store, with cfg's settings:
// scrollback reads store's archive, when it has one.
func newChat(cfg config, store stores, met *metrics, log *slog.Logger, pusher *push.Service, up uploads) *app.App {
	var hubOpts []realtime.HubOption
	scrollback := 0
	if store.archive != nil {
		hubOpts = append(hubOpts, realtime.WithArchive(store.archive))
		scrollback = cfg.historySize
	}
	// met is a realtime.Observer too, so app.New has the hub report to it.
	return app.New(store.broker, handlers.Config{
		Secret:         cfg.secret,
		SendRate:       rate.Limit(cfg.sendRate),
		SendBurst:      cfg.sendBurst,
		Metrics:        met,
		ReadyNote:      store.note,
		TrustProxy:     cfg.trustProxy,
		ScrollbackPage: scrollback,
		RoomDirectory:  cfg.roomDirectory,
		SocketMaxAge:   cfg.socketMaxAge,
		Identifier:     identifier(cfg),
		OIDC:           oidcConfig(cfg),
		Moderators:     cfg.moderators,
		Push:           pushConfig(pusher),
		Files:          up.uploader(),
		UploadPerHour:  cfg.uploadPerHour,
	}, log, hubOpts...)
}

// newPusher starts Web Push on store's subscriptions when cfg has VAPID
// settings; nil when it has none.
func newPusher(cfg config, store stores, log *slog.Logger) (*push.Service, error) {
	if cfg.vapidPublic == "" {
		return nil, nil
	}
	p, err := push.New(push.Config{
		VAPIDPublicKey: cfg.vapidPublic, VAPIDPrivateKey: cfg.vapidPrivate, Subject: cfg.vapidSubject,
		Allowed: cfg.pushAllowed, Store: store.push, Log: log,
	})
	if err != nil {
		return nil, fmt.Errorf("push: %w", err)
	}
	log.Info("sending Web Push notifications", "subject", cfg.vapidSubject, "allowed_hosts", []string(cfg.pushAllowed))
	return p, nil
}

// pushConfig is p as the handlers take it: a nil *push.Service is no
// pusher at all.
func pushConfig(p *push.Service) handlers.Pusher {
	if p == nil {
		return nil
	}
	return p
}

// servers are the service's HTTP servers: the public one, and the one for
// metrics (nil unless METRICS_ADDR asks for it). served has the first
// failure of either.
type servers struct {
	public, metrics *http.Server
	served          chan error
}

// startServers listens on cfg's addresses and serves chat there, and the
// metrics when asked for.
func startServers(cfg config, chat *app.App, met *metrics, log *slog.Logger) (*servers, error) {
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	s := &servers{public: newHTTPServer(chat.Handler(), log), served: make(chan error, 2)}
	// Metrics are not for the public: they have a listener of their own, on
	// an address only a scraper reaches, and none unless asked for.
	if cfg.metricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.metricsAddr)
		if err != nil {
			ln.Close()
			log.Error("metrics listener", "addr", cfg.metricsAddr, "err", err)
			return nil, fmt.Errorf("metrics listen: %w", err)
		}
		s.serveMetrics(mln, met, log)
	}
	log.Info("listening", "addr", ln.Addr().String(), "trust_proxy", cfg.trustProxy)
	go func() { s.served <- s.public.Serve(ln) }()
	return s, nil
}

// serveMetrics serves met on mln, in the background.
func (s *servers) serveMetrics(mln net.Listener, met *metrics, log *slog.Logger) {
	s.metrics = newHTTPServer(met.mux(), log)
	log.Info("metrics listening", "addr", mln.Addr().String())
	go func() {
		if err := s.metrics.Serve(mln); err != nil {
			s.served <- fmt.Errorf("metrics: %w", err)
		}
	}()
}

// wait returns nil once ctx is done, for the drain; or, when a server fails
// first, closes both and returns its error.
func (s *servers) wait(ctx context.Context) error {
	select {
	case err := <-s.served:
		// One server failed: the other goes too.
		s.public.Close()
		if s.metrics != nil {
			s.metrics.Close()
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		return nil
	}
}

// drain ends the service within drainTotal: sockets first, then the hub,
// then the metrics.
func drain(s *servers, chat *app.App, stopHub context.CancelFunc, hubDone <-chan struct{}, log *slog.Logger) {
	log.Info("shutting down: closing sockets with 1012")
	start := time.Now()
	drainCtx, cancel := context.WithTimeout(context.Background(), drainTotal)
	defer cancel()
	s.shutdownPublic(drainCtx, chat, log)
	// The hub stops within what is left of the drain: its last presence
	// writes may wait on a Redis that does not answer.
	stopHub()
	select {
	case <-hubDone:
	case <-drainCtx.Done():
		log.Warn("the hub did not stop within the drain")
	}
	// Last, so that a scraper can still read the drain's figures.
	s.shutdownMetrics(drainCtx, log)
	log.Info("stopped", "drain_ms", time.Since(start).Milliseconds())
}

// shutdownPublic stops the public server accepting and closes every socket
// with 1012, giving them drainSockets of ctx's time.
func (s *servers) shutdownPublic(ctx context.Context, chat *app.App, log *slog.Logger) {
	shut := make(chan error, 1)
	go func() { shut <- s.public.Shutdown(ctx) }()
	socketsCtx, cancelSockets := context.WithTimeout(ctx, drainSockets)
	chat.CloseSockets(socketsCtx)
	cancelSockets()
	if err := <-shut; err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("shutdown", "err", err)
	}
	_ = s.public.Close()
}

// shutdownMetrics stops the metrics server, if there is one, within ctx.
func (s *servers) shutdownMetrics(ctx context.Context, log *slog.Logger) {
	if s.metrics == nil {
		return
	}
	if err := s.metrics.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("metrics shutdown", "err", err)
	}
	_ = s.metrics.Close()
}

// brokerClose is how long closing the broker may take at the end of run.
const brokerClose = 500 * time.Millisecond

// waitAtMost runs f and waits for it for at most d: what f leaves running
// ends with the process.
func waitAtMost(d time.Duration, f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// stores are what the service keeps rooms in: the broker, and the archive
// that scrollback reads (nil: none). note, when not empty, says how the
// service runs below what was asked; /ready repeats it.
type stores struct {
	broker  realtime.Broker
	archive realtime.Archive
	// push keeps Web Push subscriptions: in Redis with Redis, else here.
	push  push.Store
	note  string
	close func()
}

// openBroker connects the broker cfg asks for, and the archive.
func openBroker(ctx context.Context, cfg config, log *slog.Logger, met *metrics) (stores, error) {
	var rdb redis.UniversalClient
	var opts []redisbroker.Option
	note := ""
	if cfg.cluster != nil || cfg.redis != nil {
		// go-redis has one logger for the process; without this its lines
		// (failed dials during a failover) would reach stderr as plain text.
		redis.SetLogger(redisLogger{log})
	}
	switch {
	case cfg.cluster != nil:
		cc := redis.NewClusterClient(cfg.cluster)
		rdb = cc
		probeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := redisbroker.ShardedPubSubSupported(probeCtx, cc)
		cancel()
		switch {
		case err != nil:
			// Not fatal: /ready says 503 until the cluster answers.
			log.Warn("Redis Cluster does not answer yet: assuming it has sharded pub/sub (Redis 7 or Valkey)", "err", err)
		case !ok:
			note = "the Redis Cluster refuses sharded pub/sub (SPUBLISH needs Redis 7 or Valkey): rooms use classic PUBLISH, which every node of the cluster receives"
			// Before any other line, so that nobody misses it.
			log.Warn(note, "broker", "redis-cluster", "pubsub", redisbroker.ClassicPubSub.String())
			opts = append(opts, redisbroker.WithPubSub(redisbroker.ClassicPubSub))
		}
		log.Info("relaying rooms through a Redis Cluster", "broker", "redis-cluster", "seeds", cfg.cluster.Addrs, "tls", cfg.cluster.TLSConfig != nil)
	case cfg.redis != nil:
		log.Info("relaying rooms through Redis", "broker", "redis", "redis_addr", cfg.redis.Addr, "tls", cfg.redis.TLSConfig != nil)
		rdb = redis.NewClient(cfg.redis)
		pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := rdb.Ping(pingCtx).Err(); err != nil {
			// Not fatal: /ready says 503 until Redis answers.
			log.Warn("Redis does not answer yet", "err", err)
		}
		cancel()
	default:
		log.Info("no Redis configured: running as a single instance on the in-memory broker", "broker", "memory")
		b := realtime.NewMemoryBroker(cfg.historySize, realtime.WithMemoryRoomTTL(cfg.roomTTL))
		// Its memory is its archive: scrollback reaches as far as it keeps.
		return stores{broker: b, archive: b, push: push.NewMemoryStore(), close: func() { b.Close() }}, nil
	}
	opts = append(opts, redisbroker.WithRoomTTL(cfg.roomTTL))
	var archive realtime.Archive
	closeArchive := func() {}
	if cfg.firestoreProject != "" {
		fs, err := firestore.NewClientWithDatabase(ctx, cfg.firestoreProject, cmp.Or(cfg.firestoreDatabase, firestore.DefaultDatabaseID))
		if err != nil {
			rdb.Close()
			return stores{}, fmt.Errorf("firestore: %w", err)
		}
		closeArchive = func() { fs.Close() }
		archive = firestorearchive.New(fs, firestorearchive.WithRetention(cfg.retention))
		opts = append(opts, redisbroker.WithArchive(archive, archiveState(log, met)))
		log.Info("keeping every message in Firestore", "project", cfg.firestoreProject,
			"database", cmp.Or(cfg.firestoreDatabase, firestore.DefaultDatabaseID), "retention", cfg.retention.String())
	}
	b := redisbroker.New(rdb, cfg.historySize, opts...)
	return stores{broker: b, archive: archive, push: push.NewRedisStore(rdb), note: note, close: func() {
		b.Close()
		closeArchive()
		rdb.Close()
	}}, nil
}

// archiveState reports the archivers' passes: the backlog in a metric, and
// in the log each time the archive falls behind or catches up.
func archiveState(log *slog.Logger, met *metrics) func(backlog int, err error) {
	var mu sync.Mutex
	behind := false
	return func(backlog int, err error) {
		if backlog < 0 { // not a pass: a send that went on without the archive
			log.Warn("the archive did not answer", "err", err)
			return
		}
		met.archiveBacklog.Set(float64(backlog))
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil && !behind:
			behind = true
			met.archiveErrors.Inc()
			log.Warn("the archive is behind: messages are kept in Redis until Firestore takes them", "backlog", backlog, "err", err)
		case err != nil:
			met.archiveErrors.Inc()
		case behind && backlog == 0:
			behind = false
			log.Info("the archive caught up")
		}
	}
}

// redisLogger writes go-redis's own lines into the JSON log.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...), "component", "go-redis")
}

// newLogger writes one JSON object a line with the field names Cloud
// Logging reads: severity and message.
func newLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.LevelKey:
				a.Key = "severity"
				if lvl, ok := a.Value.Any().(slog.Level); ok && lvl == slog.LevelWarn {
					a.Value = slog.StringValue("WARNING")
				}
			case slog.MessageKey:
				a.Key = "message"
			}
			return a
		},
	}))
}

// identifier is the identity provider in front that cfg names, nil for none.
func identifier(cfg config) handlers.Identifier {
	if cfg.auth != "iap" {
		return nil
	}
	return handlers.NewIAP(cfg.iapKeys, cfg.iapAudience, &http.Client{Timeout: 10 * time.Second})
}

// oidcConfig is the OpenID Connect provider cfg names, nil for none.
func oidcConfig(cfg config) *handlers.OIDCConfig {
	if cfg.auth != "oidc" {
		return nil
	}
	o := cfg.oidc
	o.Client = &http.Client{Timeout: 10 * time.Second}
	return &o
}
