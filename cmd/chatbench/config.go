package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chatrun/chat/realtime"
)

// config is what the flags ask for.
type config struct {
	proto              string // protoChat or protoSocketIO
	urls               []*url.URL
	rooms              int
	members            int
	senders            int
	rate               float64
	duration           time.Duration
	drain              time.Duration
	connectTimeout     time.Duration
	connectConcurrency int
	sources            int
	pids               []int
	page               bool
	json               bool
	idle               time.Duration
	roomPrefix         string
	allowRemote        bool

	// Storm mode: every member starts on the first URL, and a socket the
	// server closes with 1012 or 1013 reconnects to the next one.
	stormAfter time.Duration
	typing     time.Duration // every member says it is typing this often while sending; 0: never
	stormPID   int
	// stormStop is what stops the first instance at stormAfter: a SIGTERM
	// to stormPID, or nil when something outside the bench does it. Tests
	// set their own to stop an in-process instance.
	stormStop func() error

	// A realistic day (-day, day.go) instead of the fixed load above.
	day dayConfig
}

// The protocols -proto names: the chat's own (docs/SPEC.md), or Socket.IO 4
// as the tutorial's Node.js service speaks it (socketio.go).
const (
	protoChat     = "chat"
	protoSocketIO = "socketio"
)

// socketIO reports whether the run speaks Socket.IO rather than the chat's
// protocol.
func (c *config) socketIO() bool { return c.proto == protoSocketIO }

// storm reports whether the run is a reconnect storm.
func (c *config) storm() bool { return c.stormAfter > 0 }

// parseConfig reads args (without the program name). On -h it writes the
// usage to usage and returns flag.ErrHelp.
func parseConfig(args []string, usage io.Writer) (config, error) {
	var c config
	var urls, pids string
	fs := flag.NewFlagSet("chatbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are returned; usage only on -h
	fs.StringVar(&c.proto, "proto", protoChat, "protocol of the service: chat (docs/SPEC.md) or socketio (Socket.IO 4 at /socket.io/, as the tutorial's Node.js service; no sign-in form, room page or cookie)")
	fs.StringVar(&urls, "urls", "http://127.0.0.1:8080", "comma-separated base URLs of the instances; connections are spread round-robin over them")
	fs.IntVar(&c.rooms, "rooms", 10, "number of rooms")
	fs.IntVar(&c.members, "members", 10, "connections (members) per room")
	fs.IntVar(&c.senders, "senders", 1, "members per room that send (the first ones of each room)")
	fs.Float64Var(&c.rate, "rate", 1, "messages per second per sender")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "length of the sending phase")
	fs.DurationVar(&c.drain, "drain", 5*time.Second, "longest wait after sending for deliveries still in flight")
	fs.DurationVar(&c.connectTimeout, "connect-timeout", 60*time.Second, "deadline of the whole connect phase")
	fs.IntVar(&c.connectConcurrency, "connect-concurrency", 200, "connections being set up at once")
	fs.IntVar(&c.sources, "sources", 1, "loopback source addresses to spread client sockets over (127.0.0.1 .. 127.0.0.N); loopback targets only")
	fs.StringVar(&pids, "pids", "", "comma-separated server PIDs whose RSS and CPU are sampled from /proc")
	fs.BoolVar(&c.page, "page", true, "GET the room page before opening the socket, as a browser does (-proto chat only)")
	fs.BoolVar(&c.json, "json", false, "print one JSON line instead of the text report")
	fs.DurationVar(&c.idle, "idle", 0, "connect everything, then hold the connections idle this long without sending (memory per connection)")
	fs.StringVar(&c.roomPrefix, "room-prefix", "bench", "rooms are named <prefix>-<k>")
	fs.BoolVar(&c.allowRemote, "allow-remote", false, "allow targets that are not loopback addresses")
	fs.DurationVar(&c.stormAfter, "storm-after", 0, "reconnect storm: every member connects to the first URL, and this long into the sending phase -storm-pid gets SIGTERM (without it, stop or redeploy that instance yourself); a socket the server closes with 1012 or 1013 reconnects at once, with the same session, to the next URL (the same one when only one is given, as behind a load balancer)")
	fs.DurationVar(&c.typing, "typing", 0, "during the sending phase every member sends {\"typing\":true} this often (a page sends one every 2 s while its box has text; the server passes one a second per session and room, and a name's signal at most every 1.5 s); the drain waits for the signals too; 0: none")
	fs.IntVar(&c.stormPID, "storm-pid", 0, "with -storm-after: the PID of the instance at the first URL, sent SIGTERM at -storm-after")
	addDayFlags(fs, &c.day)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(usage, "Usage: chatbench [flags]\n\nLoad generator for the chat service (docs/SPEC.md protocol) or, with -proto socketio,\nfor the tutorial's Socket.IO service.\n\nFlags:")
			fs.SetOutput(usage)
			fs.PrintDefaults()
		}
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	var err error
	if c.urls, err = parseURLs(urls); err != nil {
		return c, err
	}
	if c.pids, err = parsePIDs(pids); err != nil {
		return c, err
	}
	if c.stormPID > 0 {
		pid := c.stormPID
		c.stormStop = func() error {
			p, err := os.FindProcess(pid)
			if err != nil {
				return err
			}
			return p.Signal(syscall.SIGTERM)
		}
	}
	return c, c.validate()
}

func (c *config) validate() error {
	if err := c.day.validate(c); err != nil {
		return err
	}
	switch {
	case c.proto != protoChat && c.proto != protoSocketIO:
		return fmt.Errorf("-proto %q: want %s or %s", c.proto, protoChat, protoSocketIO)
	// A Socket.IO client rejoins with no session and resends nothing: the
	// storm's accounting (1012, nonces, history catch-up) has no meaning
	// there, and the tutorial's service has no typing signal.
	case c.socketIO() && c.storm():
		return errors.New("-storm-after works only with -proto chat")
	case c.socketIO() && c.typing > 0:
		return errors.New("-typing works only with -proto chat")
	case c.rooms < 1:
		return errors.New("-rooms must be at least 1")
	case c.members < 1:
		return errors.New("-members must be at least 1")
	case c.senders < 0 || c.senders > c.members:
		return fmt.Errorf("-senders must be between 0 and -members (%d)", c.members)
	case c.idle == 0 && c.senders > 0 && !(c.rate > 0 && c.rate <= 1e6):
		return errors.New("-rate must be above 0 and at most 1e6")
	case c.idle == 0 && c.duration <= 0:
		return errors.New("-duration must be positive")
	case c.idle < 0 || c.drain < 0:
		return errors.New("-idle and -drain may not be negative")
	case c.connectTimeout <= 0:
		return errors.New("-connect-timeout must be positive")
	case c.connectConcurrency < 1:
		return errors.New("-connect-concurrency must be at least 1")
	case c.sources < 1 || c.sources > 254:
		return errors.New("-sources must be between 1 and 254")
	case c.stormAfter < 0 || c.stormPID < 0:
		return errors.New("-storm-after and -storm-pid may not be negative")
	case c.stormPID > 0 && c.stormAfter == 0:
		return errors.New("-storm-pid needs -storm-after")
	case c.storm() && c.idle > 0:
		return errors.New("-storm-after needs a sending phase, not -idle")
	case c.storm() && c.stormAfter >= c.duration:
		return errors.New("-storm-after must be shorter than -duration: the storm happens while sending")
	}
	// The rooms' names must be the chat's own: ParseRoom returns them as
	// they are.
	if last := c.roomPrefix + "-" + strconv.Itoa(c.rooms-1); !isRoomName(last) {
		return fmt.Errorf("-room-prefix %q: %q is not a room's name (letters a to z, digits, - and _, at most %d)", c.roomPrefix, last, realtime.MaxRoom)
	}
	for _, u := range c.urls {
		loop := isLoopbackHost(u.Hostname())
		if !loop && !c.allowRemote {
			return fmt.Errorf("refusing %s: not a loopback address (pass -allow-remote to load a remote service)", u)
		}
		// Binding 127.0.0.N only reaches a target on loopback.
		if c.sources > 1 && !loop {
			return fmt.Errorf("-sources %d needs loopback targets; %s is not", c.sources, u)
		}
	}
	return nil
}

// isRoomName reports whether name is a room's name as the chat parses it.
func isRoomName(name string) bool {
	room, err := realtime.ParseRoom(name)
	return err == nil && room == name
}

func parseURLs(s string) ([]*url.URL, error) {
	var out []*url.URL
	for _, raw := range strings.Split(s, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("-urls: %w", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("-urls: %q: scheme must be http or https", raw)
		}
		if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("-urls: %q: want a base URL such as http://127.0.0.1:8080", raw)
		}
		out = append(out, &url.URL{Scheme: u.Scheme, Host: u.Host})
	}
	if len(out) == 0 {
		return nil, errors.New("-urls: no URL given")
	}
	return out, nil
}

func parsePIDs(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("-pids: %q is not a process id", f)
		}
		out = append(out, pid)
	}
	return out, nil
}

// isLoopbackHost reports whether host is a loopback IP or localhost. Other
// names are not resolved: a name can point anywhere by the time it is dialled.
func isLoopbackHost(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// fakeClientIP is the X-Forwarded-For address of connection i, from the
// benchmarking range 198.18.0.0/15 (RFC 2544): the server caps sockets per
// client address, and each connection stands in for its own browser.
func fakeClientIP(i int) string {
	n := uint32(i%(1<<17-2)) + 1 // skip .0.0 and the broadcast address
	return net.IPv4(198, 18+byte(n>>16), byte(n>>8), byte(n)).String()
}

// sourceIP is the local address connection i binds to when -sources > 1:
// each source address has its own range of ephemeral ports.
func sourceIP(i, sources int) net.IP {
	return net.IPv4(127, 0, 0, byte(1+i%sources))
}
