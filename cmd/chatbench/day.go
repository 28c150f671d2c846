package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
)

// A realistic day (-day): many people, most of them reading, each signed in
// once and holding one socket per room they are in, as open pages do. They
// write now and then (a Poisson process per person), type before most
// messages, reload pages, poll the directory as the page does, and a tenth
// of them sit behind a long round trip. Every part can be turned off, so
// that what each costs the chat and Redis is the difference between a run
// with it and one without (docs/perf/day.sh).

// dayConfig is what the -day-* flags ask for.
type dayConfig struct {
	on           bool
	people       int
	roomMin      int
	roomMax      int
	roomsEach    int
	seed         uint64
	messageEvery time.Duration // mean gap between a person's messages
	messages     bool
	typing       bool
	typingShare  float64       // messages preceded by typing signals
	typingEvery  time.Duration // the page's period while the box has text
	reloads      bool
	reloadPerMin float64 // pages reloading per minute, as a share of all pages
	polls        bool
	focusedShare float64 // people with one page focused, reporting what they read
	background   bool    // the pages not focused say they are hidden
	slowShare    float64
	slowRTT      time.Duration
	duration     time.Duration
	redis        string // host:port whose INFO is read before and after
}

// The page's own periods (docs/SPEC.md): the directory refreshes every 5 s
// and "your rooms" every 8 s while the page is open; neither poll is sent
// while the socket brought that list within 40 s.
const (
	dayReadDelay     = 300 * time.Millisecond // a focused page reports its newest message this long after messages stop
	dayReadGap       = 3 * time.Second        // and at most this often
	dayFocusBeat     = 15 * time.Second       // and that it is focused this often
	dayFocusFresh    = 10 * time.Second       // unless a report said so this recently
	dayDirectoryPoll = 5 * time.Second
	dayMyRoomsPoll   = 8 * time.Second
	dayDirectoryHeld = 40 * time.Second
)

// directoryPushed and myRoomsPushed mark a frame that brings the
// directory or "your rooms" (a room page's ul#rooms or ul#my-rooms sent
// over its socket).
// frameKinds name what a frame from the server brings, as the day counts
// them: each frame is one write of the server to one socket.
var frameKinds = [...]string{"typing", "directory", "my-rooms", "members", "messages and the rest"}

// frameKind is data's index in frameKinds.
func frameKind(data []byte) int {
	switch {
	case bytes.Contains(data, typingSignal):
		return 0
	case bytes.Contains(data, directoryPushed):
		return 1
	case bytes.Contains(data, myRoomsPushed):
		return 2
	case bytes.Contains(data, membersList):
		return 3
	}
	return 4
}

var (
	membersList     = []byte(`id="members"`)
	directoryPushed = []byte(`id="rooms"`)
	myRoomsPushed   = []byte(`id="my-rooms"`)
)

// addDayFlags defines the -day-* flags on fs.
func addDayFlags(fs *flag.FlagSet, d *dayConfig) {
	fs.BoolVar(&d.on, "day", false, "a realistic day instead of the fixed load: -day-people people in rooms of -day-room-min to -day-room-max, each signed in once with a socket per room, writing, typing, reloading and polling as pages do; -rooms, -members, -senders, -rate, -duration and -idle do not apply")
	fs.IntVar(&d.people, "day-people", 2000, "people (sessions) in the day")
	fs.IntVar(&d.roomMin, "day-room-min", 20, "smallest room, in people")
	fs.IntVar(&d.roomMax, "day-room-max", 200, "largest room, in people")
	fs.IntVar(&d.roomsEach, "day-rooms-each", 2, "rooms each person is in (one socket each)")
	fs.Uint64Var(&d.seed, "day-seed", 1, "seed of the room sizes, memberships and every person's timings")
	fs.DurationVar(&d.messageEvery, "day-message-every", 2*time.Minute, "mean gap between one person's messages (Poisson), each to one of their rooms at random")
	fs.BoolVar(&d.messages, "day-messages", true, "send messages (false: typing signals still come at the same times)")
	fs.BoolVar(&d.typing, "day-typing", true, "send typing signals before -day-typing-share of the messages")
	fs.Float64Var(&d.typingShare, "day-typing-share", 0.8, "share of messages preceded by typing: {\"typing\":true} every -day-typing-every for 2 to 6 s before it")
	fs.DurationVar(&d.typingEvery, "day-typing-every", 2*time.Second, "period of the typing signal while someone types, as the page sends it")
	fs.BoolVar(&d.reloads, "day-reloads", true, "reload pages: close the socket, GET the room page, open the socket again")
	fs.Float64Var(&d.reloadPerMin, "day-reload-per-min", 0.05, "share of pages reloading per minute (each page a Poisson process)")
	fs.BoolVar(&d.polls, "day-polls", true, "poll as the room page does: the directory (GET /rooms?current=) every 5 s and your rooms (GET /my-rooms) every 8 s, each unless the page's socket brought it within 40 s")
	fs.Float64Var(&d.focusedShare, "day-focused-share", 0.2, "share of people with one of their pages focused (the others in background tabs): as the page's script does, it POSTs /rooms/{room}/read with the newest seq 300 ms after messages stop coming (at most every 3 s), and focused=1 every 15 s unless a report said so within 10 s")
	fs.BoolVar(&d.background, "day-background", true, "the pages not focused are background tabs: each says so over its socket ({\"visible\": false}) once it has joined, as the page's script does, and is sent no typing nor directory")
	fs.Float64Var(&d.slowShare, "day-slow-share", 0.1, "share of people behind a long round trip")
	fs.DurationVar(&d.slowRTT, "day-slow-rtt", 200*time.Millisecond, "their round trip: half of it added before each write and after each read of their connections")
	fs.DurationVar(&d.duration, "day-duration", 5*time.Minute, "length of the day, after everyone is connected")
	fs.StringVar(&d.redis, "day-redis", "", "host:port of the deployment's Redis (loopback): INFO cpu, memory and commandstats are read once everyone is connected and at the end")
}

func (d *dayConfig) validate(c *config) error {
	switch {
	case !d.on:
		return nil
	case c.socketIO():
		return errors.New("-day works only with -proto chat")
	case c.storm() || c.typing > 0 || c.idle > 0:
		return errors.New("-day does not combine with -storm-after, -typing or -idle")
	case d.people < 1:
		return errors.New("-day-people must be at least 1")
	case d.roomMin < 1 || d.roomMax < d.roomMin:
		return errors.New("-day-room-min must be at least 1 and -day-room-max at least -day-room-min")
	case d.roomMax+d.roomMin-1 > d.people:
		// A person's rooms are slots people apart in one row of rooms
		// (dayLayout): no room may be wider than that.
		return errors.New("-day-room-max + -day-room-min - 1 may not exceed -day-people")
	case d.roomsEach < 1 || d.roomsEach > 16:
		return errors.New("-day-rooms-each must be between 1 and 16")
	case d.messageEvery <= 0 || d.typingEvery <= 0 || d.duration <= 0:
		return errors.New("-day-message-every, -day-typing-every and -day-duration must be positive")
	case d.typingShare < 0 || d.typingShare > 1 || d.slowShare < 0 || d.slowShare > 1:
		return errors.New("-day-typing-share and -day-slow-share must be between 0 and 1")
	case d.reloadPerMin < 0 || d.slowRTT < 0:
		return errors.New("-day-reload-per-min and -day-slow-rtt may not be negative")
	}
	if d.redis != "" {
		host, _, err := net.SplitHostPort(d.redis)
		if err != nil {
			return fmt.Errorf("-day-redis: %w", err)
		}
		if !isLoopbackHost(host) && !c.allowRemote {
			return fmt.Errorf("refusing -day-redis %s: not a loopback address", d.redis)
		}
	}
	if last := c.roomPrefix + "-" + strconv.Itoa(d.people*d.roomsEach); !isRoomName(last) {
		return fmt.Errorf("-room-prefix %q: %q is not a room's name", c.roomPrefix, last)
	}
	return nil
}

// dayLayout draws the room sizes from seed and puts every person in
// roomsEach rooms. Sizes are drawn until they hold people×roomsEach places
// (a remainder too small for a room of its own widens the last one); slot s
// of that row of places goes to person perm[s mod people], so a person's
// places are people slots apart and, no room being wider than people, in
// distinct rooms. It returns each room's size and each person's rooms.
func dayLayout(people, roomsEach, roomMin, roomMax int, seed uint64) (sizes []int, rooms [][]int) {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	for left := people * roomsEach; left > 0; {
		n := roomMin + rng.IntN(roomMax-roomMin+1)
		if left-n < roomMin {
			n = left
		}
		sizes = append(sizes, n)
		left -= n
	}
	perm := rng.Perm(people)
	rooms = make([][]int, people)
	s := 0
	for r, n := range sizes {
		for range n {
			p := perm[s%people]
			rooms[p] = append(rooms[p], r)
			s++
		}
	}
	return sizes, rooms
}

// dayPerson is one person: one browser, one session, a socket per room.
type dayPerson struct {
	idx      int
	name     string
	base     *url.URL
	clientIP string
	slow     bool
	client   *http.Client
	socks    []*daySock
	rng      *rand.Rand // the person's own timings; one goroutine at a time
}

// daySock is one open room page of a person: its socket and its counts.
type daySock struct {
	idx  int // over the whole run: the sender number in payloads and nonces
	p    *dayPerson
	room *dayRoom

	// mu is held while writing and across a reload, so that no message
	// goes out on a socket being replaced and a reload never closes a
	// socket with a reply still on its way.
	mu        sync.Mutex
	conn      *websocket.Conn
	reloading bool          // the reader ends without blaming the server
	readDone  chan struct{} // the current reader has returned

	sent     atomic.Int64
	accepted atomic.Int64
	refused  atomic.Int64
	received atomic.Int64 // this run's messages, live or caught up on a reload
	typed    atomic.Int64
	typists  atomic.Int64
	frames   [len(frameKinds)]atomic.Int64 // received, by frameKind
	closedBy atomic.Bool                   // the server ended the socket, or a reload failed
	// dirPushed and minePushed are when the socket last brought the
	// directory and "your rooms" (unix nanos): the page then skips its
	// own poll of each, as chat.js does.
	dirPushed  atomic.Int64
	minePushed atomic.Int64
	// A focused page (nil: in a background tab): told of each frame that
	// brought a message, it reports the newest seq it holds.
	focused chan struct{}
	newest  atomic.Int64

	// Owned by the reader, and by a reload once the reader has returned.
	last     int64
	dups     int64
	foreign  int64
	caughtUp int64
	reloads  int
	reasons  map[string]int
	why      string
}

// dayRoom is one room of the day and its pages.
type dayRoom struct {
	name  string
	socks []*daySock
}

// dayRun is one day: its people, rooms and what they measure together.
type dayRun struct {
	cfg     config
	d       dayConfig
	out     io.Writer
	run     string
	people  []*dayPerson
	rooms   []*dayRoom
	socks   []*daySock
	latency histogram // every live delivery
	fast    histogram // live deliveries between people on a short round trip

	closing    atomic.Bool
	readCtx    context.Context
	cancelRead context.CancelFunc
	readers    sync.WaitGroup
	transports []*http.Transport

	polls      atomic.Int64
	pollErrors atomic.Int64
	pollsHeld  atomic.Int64 // directory polls not sent: the socket brought it
	reads      atomic.Int64 // POST /read of focused pages
	readErrors atomic.Int64
	reloadErrs sync.Map // reason → *atomic.Int64
}

func newDay(cfg config, out io.Writer) *dayRun {
	d := cfg.day
	r := &dayRun{cfg: cfg, d: d, out: out, run: strings.ToLower(crand.Text()[:8])}
	r.readCtx, r.cancelRead = context.WithCancel(context.Background())
	sizes, rooms := dayLayout(d.people, d.roomsEach, d.roomMin, d.roomMax, d.seed)
	for k := range sizes {
		r.rooms = append(r.rooms, &dayRoom{name: cfg.roomPrefix + "-" + strconv.Itoa(k)})
	}
	for s := range cfg.sources {
		for _, slow := range []bool{false, true} {
			dl := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
			if cfg.sources > 1 {
				dl.LocalAddr = &net.TCPAddr{IP: sourceIP(s, cfg.sources)}
			}
			dial := dl.DialContext
			if slow {
				half := d.slowRTT / 2
				dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := dl.DialContext(ctx, network, addr)
					if err != nil {
						return nil, err
					}
					return &slowConn{Conn: c, delay: half}, nil
				}
			}
			r.transports = append(r.transports, &http.Transport{
				Proxy:               nil,
				DialContext:         dial,
				MaxIdleConnsPerHost: 1024,
				IdleConnTimeout:     30 * time.Second,
				DisableCompression:  true,
			})
		}
	}
	slowRng := rand.New(rand.NewPCG(d.seed, 0x510))
	focusRng := rand.New(rand.NewPCG(d.seed, 0xf0c))
	for i := range d.people {
		p := &dayPerson{
			idx:      i,
			name:     "p" + strconv.Itoa(i) + "-" + r.run,
			base:     cfg.urls[i%len(cfg.urls)],
			clientIP: fakeClientIP(i),
			slow:     slowRng.Float64() < d.slowShare,
			rng:      rand.New(rand.NewPCG(d.seed, uint64(i)+1)),
		}
		t := r.transports[2*(i%cfg.sources)]
		if p.slow {
			t = r.transports[2*(i%cfg.sources)+1]
		}
		jar, _ := cookiejar.New(nil)
		// No Timeout: a WebSocket handshake refuses a client that has one
		// (it would cut the socket); every request has a context instead.
		p.client = &http.Client{Jar: jar, Transport: t,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for _, k := range rooms[i] {
			s := &daySock{idx: len(r.socks), p: p, room: r.rooms[k], last: -1}
			p.socks = append(p.socks, s)
			r.rooms[k].socks = append(r.rooms[k].socks, s)
			r.socks = append(r.socks, s)
		}
		if len(p.socks) > 0 && focusRng.Float64() < d.focusedShare {
			p.socks[focusRng.IntN(len(p.socks))].focused = make(chan struct{}, 1)
		}
		r.people = append(r.people, p)
	}
	return r
}

// slowConn delays each write, and the return of each read, by half a round
// trip: a page far from the service. A read that gets what several frames
// sent meanwhile waits once, as a real link's latency does not add up.
type slowConn struct {
	net.Conn
	delay time.Duration
}

func (c *slowConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		time.Sleep(c.delay) // the link's latency, not a synchronisation
	}
	return n, err
}

func (c *slowConn) Write(p []byte) (int, error) {
	time.Sleep(c.delay)
	return c.Conn.Write(p)
}

func (r *dayRun) logf(format string, args ...any) {
	if !r.cfg.json {
		fmt.Fprintf(r.out, "# "+format+"\n", args...)
	}
}

// runDay runs the day cfg describes and writes its report.
func runDay(ctx context.Context, cfg config, stdout io.Writer) error {
	r := newDay(cfg, stdout)
	rep := r.execute(ctx)
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

// execute connects everyone, runs the day, drains, samples the servers and
// Redis around the day, and closes.
func (r *dayRun) execute(ctx context.Context) *dayReport {
	rep := newDayReport(r)
	var rdb *redis.Client
	if r.d.redis != "" {
		rdb = redis.NewClient(&redis.Options{Addr: r.d.redis})
		defer rdb.Close()
	}
	info := func() redisInfo {
		if rdb == nil {
			return redisInfo{}
		}
		ictx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return readRedisInfo(ictx, rdb)
	}
	sample := func() []procSample {
		var out []procSample
		for _, pid := range r.cfg.pids {
			out = append(out, sampleProc(pid))
		}
		return out
	}
	before, infoBefore := sample(), info()

	r.logf("day %s: connecting %d people with %d sockets in %d rooms to %d instance(s)", r.run, len(r.people), len(r.socks), len(r.rooms), len(r.cfg.urls))
	start := time.Now()
	failures := r.connectAll(ctx)
	rep.ConnectSeconds = time.Since(start).Seconds()
	for _, s := range r.socks {
		if s.conn != nil {
			rep.Connections++
		}
	}
	rep.ConnectFailed = len(r.socks) - rep.Connections
	rep.ConnectErrors = failures
	r.logf("connected %d sockets, failed %d, in %.1f s", rep.Connections, rep.ConnectFailed, rep.ConnectSeconds)

	connected, infoConnected := sample(), info()
	dayStart := time.Now()
	r.logf("the day: %s", r.d.duration)
	r.runDay(ctx, rep)
	rep.DaySeconds = time.Since(dayStart).Seconds()
	r.drain(ctx, rep)
	after, infoAfter := sample(), info()
	rep.MeasuredSeconds = time.Since(dayStart).Seconds()
	rep.Interrupted = ctx.Err() != nil

	r.logf("closing %d sockets", rep.Connections)
	r.closeAll()
	r.cancelRead()
	r.readers.Wait()
	for _, t := range r.transports {
		t.CloseIdleConnections()
	}
	rep.tally(r)
	rep.measure(r, before, connected, after, infoBefore, infoConnected, infoAfter)
	return rep
}

// connectAll signs everyone in and opens their pages, connect-concurrency
// people at a time, within -connect-timeout; it returns why sockets failed.
func (r *dayRun) connectAll(ctx context.Context) map[string]int {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.connectTimeout)
	defer cancel()
	var mu sync.Mutex
	failures := map[string]int{}
	jobs := make(chan *dayPerson)
	var wg sync.WaitGroup
	for range min(r.cfg.connectConcurrency, len(r.people)) {
		wg.Go(func() {
			for p := range jobs {
				errs := r.connectPerson(ctx, p)
				mu.Lock()
				for _, err := range errs {
					failures[closeErrKey(err)]++
				}
				mu.Unlock()
			}
		})
	}
feed:
	for _, p := range r.people {
		select {
		case jobs <- p:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	return failures
}

// connectPerson signs p in (once: the session is valid in every room) and
// opens each of p's pages. It returns the errors of the sockets that failed.
func (r *dayRun) connectPerson(ctx context.Context, p *dayPerson) []error {
	if err := r.signIn(ctx, p); err != nil {
		return slices.Repeat([]error{err}, len(p.socks))
	}
	var errs []error
	for _, s := range p.socks {
		conn, first, err := r.open(ctx, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.conn = conn
		r.handle(s, first, time.Now().UnixNano())
		r.startReader(s)
	}
	return errs
}

func (r *dayRun) signIn(ctx context.Context, p *dayPerson) error {
	origin := p.base.String()
	form := url.Values{"name": {p.name}, "room": {p.socks[0].room.name}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, origin+"/signin", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	req.Header.Set("X-Forwarded-For", p.clientIP)
	return do(p.client, req, "sign in", http.StatusSeeOther)
}

// open GETs s's room page and opens its socket, reading up to the history.
func (r *dayRun) open(ctx context.Context, s *daySock) (*websocket.Conn, []byte, error) {
	p := s.p
	roomURL := p.base.String() + "/rooms/" + s.room.name
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, roomURL, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("X-Forwarded-For", p.clientIP)
	if err := do(p.client, req, "room page", http.StatusOK); err != nil {
		return nil, nil, err
	}
	h := http.Header{"Origin": {p.base.String()}, "X-Forwarded-For": {p.clientIP}}
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(roomURL, "http")+"/ws", &websocket.DialOptions{HTTPClient: p.client, HTTPHeader: h})
	if err != nil {
		return nil, nil, dialError(resp, err)
	}
	conn.SetReadLimit(1 << 20)
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			conn.CloseNow()
			return nil, nil, fmt.Errorf("before history: %s", closeErrKey(err))
		}
		if typ == websocket.MessageText && bytes.Contains(data, historyTag) {
			if s.focused == nil && r.d.background {
				if err := write(conn, hiddenFrame); err != nil {
					conn.CloseNow()
					return nil, nil, fmt.Errorf("say hidden: %s", closeErrKey(err))
				}
			}
			return conn, data, nil
		}
	}
}

// startReader reads s's current socket until it closes.
func (r *dayRun) startReader(s *daySock) {
	conn, done := s.conn, make(chan struct{})
	s.readDone = done
	r.readers.Go(func() {
		defer close(done)
		for {
			typ, rd, err := conn.Reader(r.readCtx)
			if err == nil {
				buf := framePool.Get().(*bytes.Buffer)
				buf.Reset()
				_, err = buf.ReadFrom(rd)
				if err == nil && typ == websocket.MessageText {
					r.handle(s, buf.Bytes(), time.Now().UnixNano())
				}
				framePool.Put(buf)
			}
			if err != nil {
				// A reload or the end of the run closed it: not the
				// server's doing. reloading is set under mu before the
				// close, and read here after it.
				s.mu.Lock()
				ours := s.reloading
				s.mu.Unlock()
				if !ours && !r.closing.Load() {
					s.why = closeErrKey(err)
					s.closedBy.Store(true)
				}
				return
			}
		}
	})
}

// handle accounts for one frame of s received at now (unix nanos), as
// member.handle does: the first history sets where s starts, later items
// of this run above the highest seq seen are deliveries, anything else at
// or below it a duplicate. A reload's history brings what the page missed
// while it reloaded: those count as delivered (caught up), not as late.
func (r *dayRun) handle(s *daySock, data []byte, now int64) {
	s.typists.Add(int64(bytes.Count(data, typingSignal)))
	s.frames[frameKind(data)].Add(1)
	if bytes.Contains(data, directoryPushed) {
		s.dirPushed.Store(now)
	}
	if bytes.Contains(data, myRoomsPushed) {
		s.minePushed.Store(now)
	}
	if n := scanReplies(data, func(reason []byte) {
		s.refused.Add(1)
		if s.reasons == nil {
			s.reasons = map[string]int{}
		}
		s.reasons[string(reason)]++
	}); n > 0 {
		s.accepted.Add(int64(n))
	}
	first := s.last < 0
	scanFrame(data, func(it item) {
		if first && it.history {
			s.last = max(s.last, it.seq)
			return
		}
		sender, sent, ours := parsePayload(it.text, r.run)
		if !ours {
			if !it.history {
				s.foreign++
			}
			s.last = max(s.last, it.seq)
			return
		}
		if it.seq <= s.last {
			if !it.history {
				s.dups++
			}
			return
		}
		s.last = it.seq
		s.received.Add(1)
		if it.history {
			s.caughtUp++
			return
		}
		us := (now - sent) / 1000
		r.latency.record(s.idx, us)
		if !s.p.slow && sender < len(r.socks) && !r.socks[sender].p.slow {
			r.fast.record(s.idx, us)
		}
	})
	if first {
		s.last = max(s.last, 0)
	}
	if s.last > s.newest.Load() {
		s.newest.Store(s.last)
		if s.focused != nil {
			select {
			case s.focused <- struct{}{}:
			default:
			}
		}
	}
}

// runDay runs every person's writing and every page's reloads and polls
// until the day is over or ctx ends.
func (r *dayRun) runDay(ctx context.Context, rep *dayReport) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range r.people {
		if (r.d.messages || r.d.typing) && slices.ContainsFunc(p.socks, func(s *daySock) bool { return s.conn != nil }) {
			wg.Go(func() { r.writeLoop(p, stop) })
		}
		for _, s := range p.socks {
			if s.conn == nil {
				continue
			}
			if r.d.reloads && r.d.reloadPerMin > 0 {
				// Its own generator: the person's belongs to writeLoop.
				rng := rand.New(rand.NewPCG(r.d.seed, uint64(s.idx)<<20|0x7e1))
				wg.Go(func() { r.reloadLoop(s, rng, stop) })
			}
			if r.d.polls {
				rng := rand.New(rand.NewPCG(r.d.seed, uint64(s.idx)<<20|0x9011))
				wg.Go(func() { r.pollLoop(s, rng, stop) })
			}
			if s.focused != nil {
				rng := rand.New(rand.NewPCG(r.d.seed, uint64(s.idx)<<20|0xf0c))
				wg.Go(func() { r.focusLoop(s, rng, stop) })
			}
		}
	}
	sleep(ctx, r.d.duration)
	close(stop)
	wg.Wait()
}

// waitFor waits d, or until stop closes; it reports whether d passed.
func waitFor(stop <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		select {
		case <-stop:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}

// expDuration draws a gap of a Poisson process with the given mean.
func expDuration(rng *rand.Rand, mean time.Duration) time.Duration {
	return time.Duration(rng.ExpFloat64() * float64(mean))
}

// writeLoop is one person writing: gaps drawn from an exponential of mean
// -day-message-every, each message to one of their rooms at random; most
// preceded by typing signals every -day-typing-every for 2 to 6 s, taken
// from the gap so that the rate stays the same.
func (r *dayRun) writeLoop(p *dayPerson, stop <-chan struct{}) {
	n := 0
	buf := make([]byte, 0, 160)
	for {
		gap := expDuration(p.rng, r.d.messageEvery)
		s := p.socks[p.rng.IntN(len(p.socks))]
		var lead time.Duration
		if r.d.typing && p.rng.Float64() < r.d.typingShare {
			lead = min(gap, 2*time.Second+time.Duration(p.rng.Int64N(int64(4*time.Second))))
		}
		if !waitFor(stop, gap-lead) {
			return
		}
		for lead > 0 {
			r.write(s, func() []byte { return typingFrame }, &s.typed)
			step := min(lead, r.d.typingEvery)
			if !waitFor(stop, step) {
				return
			}
			lead -= step
		}
		if r.d.messages {
			// Stamped once the socket is free: a send that waited for a
			// reload would otherwise count the reload as latency.
			if r.write(s, func() []byte {
				buf = appendSendFrame(buf[:0], r.run, s.idx, n, time.Now().UnixNano())
				return buf
			}, &s.sent) {
				n++
			}
		}
	}
}

// typingFrame is what a page sends while its box holds text, and
// hiddenFrame what a page in a background tab says once it has joined.
var (
	typingFrame = []byte(`{"typing":true}`)
	hiddenFrame = []byte(`{"visible":false}`)
)

// write sends the frame that frame returns on s's socket, unless it is
// gone, and counts it.
func (r *dayRun) write(s *daySock, frame func() []byte, count *atomic.Int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil || s.closedBy.Load() {
		return false
	}
	if write(s.conn, frame()) != nil {
		return false
	}
	count.Add(1)
	return true
}

// reloadLoop reloads s's page at the times of a Poisson process of rate
// -day-reload-per-min.
func (r *dayRun) reloadLoop(s *daySock, rng *rand.Rand, stop <-chan struct{}) {
	mean := time.Duration(float64(time.Minute) / r.d.reloadPerMin)
	for waitFor(stop, expDuration(rng, mean)) {
		if !r.reload(s) {
			return
		}
	}
}

// reload closes s's socket, GETs the room page and opens the socket again,
// as a browser's reload does. It waits for the replies to s's messages
// first (a reply lost with the socket would leave a message counted as
// unanswered), and for the old socket's reader, whose place it takes. It
// reports whether the page is back.
func (r *dayRun) reload(s *daySock) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closedBy.Load() {
		return false
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.sent.Load() > s.accepted.Load()+s.refused.Load() && time.Now().Before(deadline) {
		// Replies have nothing to wait on but the reader's counts: poll
		// them, within the deadline.
		time.Sleep(5 * time.Millisecond)
	}
	s.reloading = true
	s.mu.Unlock()
	s.conn.Close(websocket.StatusNormalClosure, "")
	<-s.readDone
	s.mu.Lock()
	s.reloading = false

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, first, err := r.open(ctx, s)
	if err != nil {
		s.why = "reload: " + closeErrKey(err)
		s.closedBy.Store(true)
		v, _ := r.reloadErrs.LoadOrStore(s.why, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		return false
	}
	if r.closing.Load() {
		conn.CloseNow()
		return false
	}
	s.conn = conn
	s.reloads++
	r.handle(s, first, time.Now().UnixNano())
	r.startReader(s)
	return true
}

// pollLoop polls as s's page does: the directory every 5 s and your rooms
// every 8 s, from a random phase so that pages do not poll in step, each
// unless the socket brought it within 40 s, and the directory not at all
// from a background tab.
func (r *dayRun) pollLoop(s *daySock, rng *rand.Rand, stop <-chan struct{}) {
	p := s.p
	dir := time.NewTimer(time.Duration(rng.Int64N(int64(dayDirectoryPoll))))
	mine := time.NewTimer(time.Duration(rng.Int64N(int64(dayMyRoomsPoll))))
	defer dir.Stop()
	defer mine.Stop()
	for {
		var path string
		select {
		case <-stop:
			return
		case <-dir.C:
			dir.Reset(dayDirectoryPoll)
			// A background tab neither is sent the directory nor polls it.
			if time.Now().UnixNano()-s.dirPushed.Load() < int64(dayDirectoryHeld) || s.focused == nil && r.d.background {
				r.pollsHeld.Add(1)
				continue
			}
			path = "/rooms?current=" + s.room.name
		case <-mine.C:
			mine.Reset(dayMyRoomsPoll)
			if time.Now().UnixNano()-s.minePushed.Load() < int64(dayDirectoryHeld) {
				r.pollsHeld.Add(1)
				continue
			}
			path = "/my-rooms"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base.String()+path, nil)
		if err == nil {
			req.Header.Set("X-Forwarded-For", p.clientIP)
			req.Header.Set("HX-Request", "true")
			err = do(p.client, req, "poll", http.StatusOK)
		}
		cancel()
		r.polls.Add(1)
		if err != nil {
			r.pollErrors.Add(1)
		}
	}
}

// focusLoop reports as s's focused page does (chat.js): the newest seq
// it holds dayReadDelay after messages stop coming and at most every
// dayReadGap, with focused=1, and focused=1 alone every dayFocusBeat (from
// a random phase) unless a report went within dayFocusFresh.
func (r *dayRun) focusLoop(s *daySock, rng *rand.Rand, stop <-chan struct{}) {
	beat := time.NewTicker(dayFocusBeat)
	defer beat.Stop()
	phase := time.NewTimer(time.Duration(rng.Int64N(int64(dayFocusBeat))))
	defer phase.Stop()
	read := time.NewTimer(time.Hour)
	read.Stop()
	defer read.Stop()
	var reported int64
	var lastReport, lastFocused time.Time
	for {
		form := url.Values{"focused": {"1"}}
		select {
		case <-stop:
			return
		case <-s.focused:
			read.Reset(max(dayReadDelay, time.Until(lastReport.Add(dayReadGap))))
			continue
		case <-phase.C:
			beat.Reset(dayFocusBeat)
			if time.Since(lastFocused) < dayFocusFresh {
				continue
			}
		case <-beat.C:
			if time.Since(lastFocused) < dayFocusFresh {
				continue
			}
		case <-read.C:
			seq := s.newest.Load()
			if seq <= reported {
				continue
			}
			reported = seq
			lastReport = time.Now()
			form.Set("seq", strconv.FormatInt(seq, 10))
		}
		lastFocused = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.p.base.String()+"/rooms/"+s.room.name+"/read", strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Forwarded-For", s.p.clientIP)
			err = do(s.p.client, req, "read", http.StatusNoContent)
		}
		cancel()
		r.reads.Add(1)
		if err != nil {
			r.readErrors.Add(1)
		}
	}
}

// drain waits until every message has its reply and has reached every page
// of its room still open, or -drain passes.
func (r *dayRun) drain(ctx context.Context, rep *dayReport) {
	rep.Drained, rep.DrainSeconds = waitDrained(ctx, r.cfg.drain, r.drained)
}

func (r *dayRun) drained() bool {
	for _, rm := range r.rooms {
		var accepted int64
		for _, s := range rm.socks {
			if s.conn == nil {
				continue
			}
			a := s.accepted.Load()
			if !s.closedBy.Load() && s.sent.Load() > a+s.refused.Load() {
				return false
			}
			accepted += a
		}
		for _, s := range rm.socks {
			if s.conn != nil && !s.closedBy.Load() && s.received.Load() < accepted {
				return false
			}
		}
	}
	return true
}

// closeAll closes every socket with a normal closure, many at once.
func (r *dayRun) closeAll() {
	r.closing.Store(true)
	sem := make(chan struct{}, 512)
	var wg sync.WaitGroup
	for _, s := range r.socks {
		s.mu.Lock()
		conn := s.conn
		s.mu.Unlock()
		if conn == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			conn.Close(websocket.StatusNormalClosure, "")
		})
	}
	wg.Wait()
}

// redisInfo is what INFO says of the CPU, memory and commands of Redis.
type redisInfo struct {
	CPU      float64 // used_cpu_sys + used_cpu_user, seconds
	Memory   int64   // used_memory, bytes
	Commands map[string]redisCmd
	Err      string
}

// redisCmd is one command's INFO commandstats line.
type redisCmd struct {
	Calls int64   `json:"calls"`
	Usec  float64 `json:"usec"`
}

func readRedisInfo(ctx context.Context, rdb *redis.Client) redisInfo {
	text, err := rdb.Info(ctx, "cpu", "memory", "commandstats").Result()
	if err != nil {
		return redisInfo{Err: err.Error()}
	}
	return parseRedisInfo(text)
}

// parseRedisInfo reads INFO's "key:value" lines; commandstats lines read
// "cmdstat_get:calls=3,usec=12,usec_per_call=4.00,...".
func parseRedisInfo(text string) redisInfo {
	info := redisInfo{Commands: map[string]redisCmd{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		switch {
		case k == "used_cpu_sys" || k == "used_cpu_user":
			f, _ := strconv.ParseFloat(v, 64)
			info.CPU += f
		case k == "used_memory":
			info.Memory, _ = strconv.ParseInt(v, 10, 64)
		case strings.HasPrefix(k, "cmdstat_"):
			var c redisCmd
			for _, kv := range strings.Split(v, ",") {
				f, val, _ := strings.Cut(kv, "=")
				switch f {
				case "calls":
					c.Calls, _ = strconv.ParseInt(val, 10, 64)
				case "usec":
					c.Usec, _ = strconv.ParseFloat(val, 64)
				}
			}
			info.Commands[strings.TrimPrefix(k, "cmdstat_")] = c
		}
	}
	return info
}

// dayReport is what a day measured; -json prints it as one line.
type dayReport struct {
	Mode   string   `json:"mode"` // "day"
	RunID  string   `json:"run_id"`
	URLs   []string `json:"urls"`
	People int      `json:"people"`
	Rooms  int      `json:"rooms"`
	// The parameters, all of them: a figure is read with its load.
	RoomMin        int     `json:"room_min"`
	RoomMax        int     `json:"room_max"`
	RoomsEach      int     `json:"rooms_each"`
	Seed           uint64  `json:"seed"`
	MessageEvery   float64 `json:"message_every_s"`
	Messages       bool    `json:"messages"`
	Typing         bool    `json:"typing"`
	TypingShare    float64 `json:"typing_share"`
	TypingEvery    float64 `json:"typing_every_s"`
	Reloads        bool    `json:"reloads"`
	ReloadPerMin   float64 `json:"reload_per_min"`
	Polls          bool    `json:"polls"`
	FocusedShare   float64 `json:"focused_share"`
	Background     bool    `json:"background"`
	SlowShare      float64 `json:"slow_share"`
	SlowRTT        float64 `json:"slow_rtt_ms"`
	SlowPeople     int     `json:"slow_people"`
	Duration       float64 `json:"duration_s"`
	RoomSizeMedian int     `json:"room_size_median"`

	Connections    int            `json:"connections"`
	ConnectFailed  int            `json:"connect_failed"`
	ConnectErrors  map[string]int `json:"connect_errors"`
	ConnectSeconds float64        `json:"connect_s"`
	DaySeconds     float64        `json:"day_s"`
	DrainSeconds   float64        `json:"drain_s"`
	Drained        bool           `json:"drained"`
	// From everyone connected to the end of the drain: what the CPU and
	// Redis figures are per.
	MeasuredSeconds float64 `json:"measured_s"`

	Sent          int64          `json:"sent"`
	Accepted      int64          `json:"accepted"`
	Refused       int64          `json:"refused"`
	Unanswered    int64          `json:"unanswered"`
	RefusalReason map[string]int `json:"refusal_reasons"`
	TypingSent    int64          `json:"typing_sent"`
	TypingRecv    int64          `json:"typing_received"`
	// Frames are what the pages received, by what each brought
	// (frameKinds): the servers' writes to sockets.
	Frames       map[string]int64 `json:"frames_received"`
	Reloaded     int              `json:"reloads_done"`
	ReloadErrors map[string]int   `json:"reload_errors"`
	Polled       int64            `json:"polls_done"`
	PollErrors   int64            `json:"poll_errors"`
	// PollsHeld are polls a page did not send: its socket had brought
	// that list within the last 40 s.
	PollsHeld int64 `json:"polls_held"`
	// Reads are the focused pages' POST /read (newest seq, or focused
	// alone); ReadErrors those not answered 204.
	Reads      int64 `json:"reads_done"`
	ReadErrors int64 `json:"read_errors"`
	// Pages open throughout (a reload keeps a page, catching up from its
	// history); pages the server closed, or whose reload failed, are not
	// counted in Expected.
	Pages       int            `json:"pages"`
	Disconnects int            `json:"disconnects"`
	Disconnect  map[string]int `json:"disconnect_reasons"`
	Expected    int64          `json:"expected"`
	Received    int64          `json:"received"`
	CaughtUp    int64          `json:"caught_up"`
	Lost        int64          `json:"lost"`
	Duplicated  int64          `json:"duplicated"`
	Unexpected  int64          `json:"unexpected"`
	Foreign     int64          `json:"foreign"`

	LatencyCount uint64  `json:"latency_count"`
	LatencyP50   float64 `json:"latency_p50_ms"`
	LatencyP99   float64 `json:"latency_p99_ms"`
	LatencyMax   float64 `json:"latency_max_ms"`
	FastP50      float64 `json:"fast_latency_p50_ms"`
	FastP99      float64 `json:"fast_latency_p99_ms"`

	// The servers and Redis: before connecting, once connected, at the end.
	Servers           []serverReport `json:"servers"`
	ChatCPUSeconds    float64        `json:"chat_cpu_s"`
	ChatCPUConnectSec float64        `json:"chat_cpu_connect_s"`
	ChatRSSKB         int64          `json:"chat_rss_kb"`
	ChatRSSGrowthKB   int64          `json:"chat_rss_growth_kb"`
	Redis             string         `json:"redis,omitempty"`
	RedisError        string         `json:"redis_error,omitempty"`
	RedisCPUSeconds   float64        `json:"redis_cpu_s"`
	RedisCPUConnect   float64        `json:"redis_cpu_connect_s"`
	RedisMemory       int64          `json:"redis_used_memory"`
	RedisMemoryGrowth int64          `json:"redis_used_memory_growth"`
	// INFO commandstats over the measured span, by command.
	RedisCommands map[string]redisCmd `json:"redis_commands"`

	// Per 1,000 connected people over the measured span: % of one core,
	// and MiB.
	ChatCPUPctPer1000  float64 `json:"chat_cpu_pct_per_1000"`
	RedisCPUPctPer1000 float64 `json:"redis_cpu_pct_per_1000"`
	ChatMiBPer1000     float64 `json:"chat_mib_per_1000"`
	ChatGrowthPer1000  float64 `json:"chat_growth_mib_per_1000"`
	RedisMiBPer1000    float64 `json:"redis_mib_per_1000"`
	RedisGrowthPer1000 float64 `json:"redis_growth_mib_per_1000"`

	GeneratorCPUSeconds float64 `json:"generator_cpu_s"`
	Interrupted         bool    `json:"interrupted"`
}

func newDayReport(r *dayRun) *dayReport {
	d := r.d
	rep := &dayReport{
		Mode: "day", RunID: r.run, People: d.people, Rooms: len(r.rooms),
		RoomMin: d.roomMin, RoomMax: d.roomMax, RoomsEach: d.roomsEach, Seed: d.seed,
		MessageEvery: d.messageEvery.Seconds(), Messages: d.messages,
		Typing: d.typing, TypingShare: d.typingShare, TypingEvery: d.typingEvery.Seconds(),
		Reloads: d.reloads, ReloadPerMin: d.reloadPerMin, Polls: d.polls, FocusedShare: d.focusedShare, Background: d.background,
		SlowShare: d.slowShare, SlowRTT: float64(d.slowRTT.Milliseconds()), Duration: d.duration.Seconds(),
		ConnectErrors: map[string]int{}, RefusalReason: map[string]int{}, Frames: map[string]int64{}, ReloadErrors: map[string]int{},
		Disconnect: map[string]int{}, Servers: []serverReport{}, Redis: d.redis, RedisCommands: map[string]redisCmd{},
	}
	for _, u := range r.cfg.urls {
		rep.URLs = append(rep.URLs, u.String())
	}
	for _, p := range r.people {
		if p.slow {
			rep.SlowPeople++
		}
	}
	var sizes []int
	for _, rm := range r.rooms {
		sizes = append(sizes, len(rm.socks))
	}
	slices.Sort(sizes)
	if len(sizes) > 0 {
		rep.RoomSizeMedian = sizes[len(sizes)/2]
	}
	return rep
}

// tally counts deliveries once every reader has stopped: each page open
// throughout expects every message accepted in its room during the day.
func (rep *dayReport) tally(r *dayRun) {
	for _, rm := range r.rooms {
		var accepted int64
		for _, s := range rm.socks {
			if s.conn == nil {
				continue
			}
			sent, acc, ref := s.sent.Load(), s.accepted.Load(), s.refused.Load()
			rep.Sent += sent
			rep.Accepted += acc
			rep.Refused += ref
			rep.Unanswered += max(0, sent-acc-ref)
			accepted += acc
			addCounts(rep.RefusalReason, s.reasons)
			rep.TypingSent += s.typed.Load()
			rep.TypingRecv += s.typists.Load()
			for k := range s.frames {
				rep.Frames[frameKinds[k]] += s.frames[k].Load()
			}
			rep.Reloaded += s.reloads
		}
		for _, s := range rm.socks {
			if s.conn == nil {
				continue
			}
			if s.closedBy.Load() {
				rep.Disconnects++
				rep.Disconnect[s.why]++
				continue
			}
			rep.Pages++
			got := s.received.Load()
			rep.Expected += accepted
			rep.Received += got
			rep.CaughtUp += s.caughtUp
			rep.Lost += max(0, accepted-got)
			rep.Unexpected += max(0, got-accepted)
			rep.Duplicated += s.dups
			rep.Foreign += s.foreign
		}
	}
	r.reloadErrs.Range(func(k, v any) bool {
		rep.ReloadErrors[k.(string)] = int(v.(*atomic.Int64).Load())
		return true
	})
	rep.Polled, rep.PollErrors, rep.PollsHeld = r.polls.Load(), r.pollErrors.Load(), r.pollsHeld.Load()
	rep.Reads, rep.ReadErrors = r.reads.Load(), r.readErrors.Load()
	s := r.latency.summary()
	rep.LatencyCount = s.count
	rep.LatencyP50, rep.LatencyP99, rep.LatencyMax = s.p50/1000, s.p99/1000, s.max/1000
	f := r.fast.summary()
	rep.FastP50, rep.FastP99 = f.p50/1000, f.p99/1000
	rep.GeneratorCPUSeconds = selfCPU()
}

// measure fills in the servers' and Redis's figures and the per-1,000
// ones: CPU over the measured span (connected to drained), memory at its
// end, growth over the empty servers before connecting.
func (rep *dayReport) measure(r *dayRun, before, connected, after []procSample, ib, ic, ia redisInfo) {
	var rss, growth int64
	for i, pid := range r.cfg.pids {
		b, c, a := before[i], connected[i], after[i]
		s := serverReport{PID: pid, RSSBeforeKB: b.RSSKB, RSSConnectedKB: c.RSSKB, RSSAfterKB: a.RSSKB,
			CPUBefore: b.CPU, CPUConnected: c.CPU, CPUAfter: a.CPU}
		for _, p := range []procSample{b, c, a} {
			if p.Err != "" && s.Error == "" {
				s.Error = p.Err
			}
		}
		rep.Servers = append(rep.Servers, s)
		rep.ChatCPUSeconds += a.CPU - c.CPU
		rep.ChatCPUConnectSec += c.CPU - b.CPU
		rss += a.RSSKB
		growth += a.RSSKB - b.RSSKB
	}
	rep.ChatRSSKB, rep.ChatRSSGrowthKB = rss, growth
	if r.d.redis != "" {
		for _, e := range []string{ib.Err, ic.Err, ia.Err} {
			if e != "" && rep.RedisError == "" {
				rep.RedisError = e
			}
		}
		rep.RedisCPUSeconds = ia.CPU - ic.CPU
		rep.RedisCPUConnect = ic.CPU - ib.CPU
		rep.RedisMemory = ia.Memory
		rep.RedisMemoryGrowth = ia.Memory - ib.Memory
		for name, c := range ia.Commands {
			was := ic.Commands[name]
			if d := (redisCmd{Calls: c.Calls - was.Calls, Usec: c.Usec - was.Usec}); d.Calls > 0 {
				rep.RedisCommands[name] = d
			}
		}
	}
	k := float64(rep.People) / 1000
	if rep.MeasuredSeconds > 0 && k > 0 {
		rep.ChatCPUPctPer1000 = rep.ChatCPUSeconds / rep.MeasuredSeconds * 100 / k
		rep.RedisCPUPctPer1000 = rep.RedisCPUSeconds / rep.MeasuredSeconds * 100 / k
	}
	if k > 0 {
		rep.ChatMiBPer1000 = float64(rss) / 1024 / k
		rep.ChatGrowthPer1000 = float64(growth) / 1024 / k
		rep.RedisMiBPer1000 = float64(rep.RedisMemory) / (1 << 20) / k
		rep.RedisGrowthPer1000 = float64(rep.RedisMemoryGrowth) / (1 << 20) / k
	}
}

func (rep *dayReport) writeJSON(w io.Writer) error {
	data, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

func (rep *dayReport) writeText(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	onOff := func(on bool) string {
		if on {
			return "on"
		}
		return "off"
	}
	p("day %s: %d people on %s, %d rooms of %d–%d (median %d), %d rooms each, seed %d", rep.RunID, rep.People, strings.Join(rep.URLs, ","), rep.Rooms, rep.RoomMin, rep.RoomMax, rep.RoomSizeMedian, rep.RoomsEach, rep.Seed)
	p("load: messages %s (one per %gs per person), typing %s (%.0f%%, every %gs), reloads %s (%.1f%%/min), polls %s, focused pages %.0f%% of people (the other pages in background tabs: %s), %d slow people (%.0f%%, %g ms round trip), %gs",
		onOff(rep.Messages), rep.MessageEvery, onOff(rep.Typing), rep.TypingShare*100, rep.TypingEvery, onOff(rep.Reloads), rep.ReloadPerMin*100, onOff(rep.Polls), rep.FocusedShare*100, onOff(rep.Background), rep.SlowPeople, rep.SlowShare*100, rep.SlowRTT, rep.Duration)
	p("connections %d, failed %d %s in %.1f s; measured %.1f s (day %.1f, drain %.1f, drained %v)", rep.Connections, rep.ConnectFailed, counts(rep.ConnectErrors), rep.ConnectSeconds, rep.MeasuredSeconds, rep.DaySeconds, rep.DrainSeconds, rep.Drained)
	p("messages sent %d, accepted %d, refused %d %s, unanswered %d; typing sent %d, received %d; reloads %d %s; polls %d (%d failed, %d held: the socket brought the list); reads %d (%d failed)",
		rep.Sent, rep.Accepted, rep.Refused, counts(rep.RefusalReason), rep.Unanswered, rep.TypingSent, rep.TypingRecv, rep.Reloaded, counts(rep.ReloadErrors), rep.Polled, rep.PollErrors, rep.PollsHeld, rep.Reads, rep.ReadErrors)
	p("pages %d: expected %d, received %d (%d caught up on reload), lost %d, duplicated %d, unexpected %d, foreign %d; disconnects %d %s",
		rep.Pages, rep.Expected, rep.Received, rep.CaughtUp, rep.Lost, rep.Duplicated, rep.Unexpected, rep.Foreign, rep.Disconnects, counts(rep.Disconnect))
	p("latency: p50 %.1f ms, p99 %.1f ms, max %.1f ms over %d deliveries; between people on a short round trip p50 %.1f, p99 %.1f ms",
		rep.LatencyP50, rep.LatencyP99, rep.LatencyMax, rep.LatencyCount, rep.FastP50, rep.FastP99)
	p("chat: %.2f CPU-s (%.2f connecting), RSS %s (+%s); redis: %.2f CPU-s (%.2f connecting), used_memory %.1f MiB (+%.1f)",
		rep.ChatCPUSeconds, rep.ChatCPUConnectSec, mib(rep.ChatRSSKB), mib(rep.ChatRSSGrowthKB), rep.RedisCPUSeconds, rep.RedisCPUConnect, float64(rep.RedisMemory)/(1<<20), float64(rep.RedisMemoryGrowth)/(1<<20))
	p("per 1,000 people: chat CPU %.2f%% of a core, Redis CPU %.2f%%, chat %.1f MiB (+%.1f), Redis %.1f MiB (+%.1f)",
		rep.ChatCPUPctPer1000, rep.RedisCPUPctPer1000, rep.ChatMiBPer1000, rep.ChatGrowthPer1000, rep.RedisMiBPer1000, rep.RedisGrowthPer1000)
	if len(rep.RedisCommands) > 0 {
		names := slices.Collect(maps.Keys(rep.RedisCommands))
		slices.SortFunc(names, func(x, y string) int { return cmp.Compare(rep.RedisCommands[y].Usec, rep.RedisCommands[x].Usec) })
		var parts []string
		for _, n := range names[:min(len(names), 12)] {
			c := rep.RedisCommands[n]
			parts = append(parts, fmt.Sprintf("%s %d calls %.0f µs", n, c.Calls, c.Usec))
		}
		p("redis commands: %s", strings.Join(parts, "; "))
	}
	p("generator CPU %.1f s", rep.GeneratorCPUSeconds)
	_, err := io.WriteString(w, b.String())
	return err
}
