package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/handlers"
	"github.com/chatrun/chat/realtime"
)

// config is the service's configuration, read from the environment as
// docs/SPEC.md lists it.
type config struct {
	addr        string
	redis       *redis.Options        // one Redis; nil with cluster nil: the in-memory broker
	cluster     *redis.ClusterOptions // a Redis Cluster
	historySize int
	roomTTL     time.Duration
	// The archive: Firestore when firestoreProject is set.
	firestoreProject, firestoreDatabase string
	retention                           time.Duration // 0: messages are kept for good
	sendRate                            float64
	sendBurst                           int
	secret                              []byte
	secretGenerated                     bool
	metricsAddr                         string // where GET /metrics is served; empty: nowhere
	trustProxy                          bool   // X-Forwarded-For comes from a proxy in front
	roomDirectory                       bool   // list the rooms in use on the sign-in and room pages
	// socketMaxAge is how long a socket may stay open before the server
	// closes it with 1012 (within ±10 %): before Cloud Run's request
	// timeout cuts it without a word.
	socketMaxAge time.Duration
	// Who people are: "" (the name they type), "iap" (Identity-Aware
	// Proxy's token on every request, checked against iapKeys for
	// iapAudience) or "oidc" (sign-in with an OpenID Connect provider).
	auth                 string
	iapAudience, iapKeys string
	oidc                 handlers.OIDCConfig // with auth "oidc"
}

// defaultSocketMaxAge is SOCKET_MAX_AGE's default: with its jitter (at
// most 9 %, handlers' maxAgeJitter) every socket is closed by 59 m 57 s,
// under Cloud Run's longest request timeout (the README's --timeout=3600),
// so the server, not the platform, ends each socket. docs_test.go holds
// the two to the deploy commands.
const defaultSocketMaxAge = 55 * time.Minute

func loadConfig(args []string, getenv func(string) string) (config, error) {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	listen := fs.String("listen", "", "address to listen on (default \":$PORT\")")
	if err := fs.Parse(args[1:]); err != nil {
		return config{}, err
	}
	var cfg config
	var errs []error
	port := envOr(getenv, "PORT", "8080")
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		errs = append(errs, fmt.Errorf("PORT=%q: not a port number", port))
	}
	cfg.addr = ":" + port
	if *listen != "" {
		cfg.addr = *listen
	}
	cfg.historySize = intEnv(getenv, "HISTORY_SIZE", 100, 1, 10000, &errs)
	cfg.firestoreProject = strings.TrimSpace(getenv("FIRESTORE_PROJECT"))
	cfg.firestoreDatabase = strings.TrimSpace(getenv("FIRESTORE_DATABASE"))
	if v := strings.TrimSpace(getenv("HISTORY_RETENTION")); v != "" {
		d, err := parseDays(v)
		if err != nil || d < time.Hour {
			errs = append(errs, fmt.Errorf("HISTORY_RETENTION=%q: want a duration of at least an hour, such as 90d or 720h", v))
		}
		cfg.retention = d
	}
	cfg.roomTTL = realtime.DefaultRoomTTL
	if v := getenv("ROOM_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute {
			errs = append(errs, fmt.Errorf("ROOM_TTL=%q: want a duration of at least a minute, such as 720h", v))
		}
		cfg.roomTTL = d
	}
	cfg.socketMaxAge = defaultSocketMaxAge
	if v := getenv("SOCKET_MAX_AGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second {
			errs = append(errs, fmt.Errorf("SOCKET_MAX_AGE=%q: want a duration of at least a second, such as 55m, below the service's --timeout", v))
		}
		cfg.socketMaxAge = d
	}
	cfg.sendBurst = intEnv(getenv, "SEND_BURST", 10, 1, 100000, &errs)
	cfg.sendRate = 5
	if v := getenv("SEND_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 {
			errs = append(errs, fmt.Errorf("SEND_RATE=%q: want a positive number of messages per second", v))
		}
		cfg.sendRate = r
	}
	if s := getenv("SESSION_SECRET"); s != "" {
		cfg.secret = []byte(s)
	} else {
		cfg.secret = []byte(rand.Text() + rand.Text())
		cfg.secretGenerated = true
	}
	if a := strings.TrimSpace(getenv("METRICS_ADDR")); a != "" {
		if err := checkHostPort(a); err != nil {
			errs = append(errs, fmt.Errorf("METRICS_ADDR=%q: want host:port, such as 127.0.0.1:9464: %w", a, err))
		}
		cfg.metricsAddr = a
	}
	// Cloud Run sets K_SERVICE, and its front end adds the client's address
	// to X-Forwarded-For; without a proxy, anyone can write that header.
	switch v := getenv("TRUST_PROXY"); v {
	case "":
		cfg.trustProxy = getenv("K_SERVICE") != ""
	case "1", "0":
		cfg.trustProxy = v == "1"
	default:
		errs = append(errs, fmt.Errorf("TRUST_PROXY=%q: want 1 or 0", v))
	}
	switch v := getenv("ROOM_DIRECTORY"); v {
	case "", "on":
		cfg.roomDirectory = true
	case "off":
	default:
		errs = append(errs, fmt.Errorf("ROOM_DIRECTORY=%q: want on or off", v))
	}
	switch cfg.auth = strings.TrimSpace(getenv("AUTH")); cfg.auth {
	case "", "none":
		cfg.auth = ""
	case "iap":
		cfg.iapAudience = strings.TrimSpace(getenv("IAP_AUDIENCE"))
		if cfg.iapAudience == "" {
			errs = append(errs, errors.New("AUTH=iap needs IAP_AUDIENCE, the audience of IAP's tokens for this service (/projects/NUMBER/locations/REGION/services/NAME on Cloud Run)"))
		}
		cfg.iapKeys = envOr(getenv, "IAP_JWKS_URL", handlers.DefaultIAPKeys)
		if u, err := url.Parse(cfg.iapKeys); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("IAP_JWKS_URL=%q: want an http(s) address", cfg.iapKeys))
		}
	case "oidc":
		cfg.oidc = handlers.OIDCConfig{
			Issuer:       strings.TrimSpace(getenv("OIDC_ISSUER")),
			ClientID:     strings.TrimSpace(getenv("OIDC_CLIENT_ID")),
			ClientSecret: getenv("OIDC_CLIENT_SECRET"),
			PublicURL:    strings.TrimSuffix(strings.TrimSpace(getenv("PUBLIC_URL")), "/"),
		}
		if u, err := url.Parse(cfg.oidc.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("AUTH=oidc needs OIDC_ISSUER, the provider's issuer address (https://accounts.google.com for Google); got %q", cfg.oidc.Issuer))
		}
		if cfg.oidc.ClientID == "" {
			errs = append(errs, errors.New("AUTH=oidc needs OIDC_CLIENT_ID, the client id the provider gave this service"))
		}
		if p := cfg.oidc.PublicURL; p != "" {
			if u, err := url.Parse(p); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
				errs = append(errs, fmt.Errorf("PUBLIC_URL=%q: want the service's address, such as https://chat.example.com", p))
			}
		}
		// Who may sign in: without a list, any account the provider has
		// (with Google, anyone's) would get in, so that takes a setting
		// of its own.
		cfg.oidc.AllowedDomains = listEnv(getenv, "OIDC_ALLOWED_DOMAINS", checkDomain, &errs)
		cfg.oidc.AllowedEmails = listEnv(getenv, "OIDC_ALLOWED_EMAILS", checkEmail, &errs)
		switch v := strings.TrimSpace(getenv("OIDC_ALLOW_ANY")); v {
		case "", "0":
		case "1":
			cfg.oidc.AllowAny = true
		default:
			errs = append(errs, fmt.Errorf("OIDC_ALLOW_ANY=%q: want 1 or 0", v))
		}
		listed := len(cfg.oidc.AllowedDomains)+len(cfg.oidc.AllowedEmails) > 0
		switch {
		case !listed && !cfg.oidc.AllowAny:
			errs = append(errs, errors.New("AUTH=oidc needs OIDC_ALLOWED_DOMAINS or OIDC_ALLOWED_EMAILS, the accounts let in (or OIDC_ALLOW_ANY=1 to let in every account the provider signs in, with Google anyone's)"))
		case listed && cfg.oidc.AllowAny:
			errs = append(errs, errors.New("OIDC_ALLOW_ANY=1 and OIDC_ALLOWED_DOMAINS or OIDC_ALLOWED_EMAILS: set the lists, or let in any account, not both"))
		}
	default:
		errs = append(errs, fmt.Errorf("AUTH=%q: want iap, oidc, or nothing", cfg.auth))
	}
	if cfg.auth != "oidc" {
		// Lists that restrict nothing must not look as if they did.
		for _, k := range []string{"OIDC_ALLOWED_DOMAINS", "OIDC_ALLOWED_EMAILS", "OIDC_ALLOW_ANY"} {
			if strings.TrimSpace(getenv(k)) != "" {
				errs = append(errs, fmt.Errorf("%s needs AUTH=oidc", k))
			}
		}
	}
	var err error
	if cfg.redis, cfg.cluster, err = redisOptions(getenv); err != nil {
		errs = append(errs, err)
	}
	if cfg.firestoreProject != "" && cfg.redis == nil && cfg.cluster == nil && err == nil {
		// The archive is filled from Redis's streams: without Redis, one
		// instance keeps its rooms in memory.
		errs = append(errs, errors.New("FIRESTORE_PROJECT needs Redis (REDISHOST, REDIS_URL or REDIS_CLUSTER)"))
	}
	if cfg.firestoreProject == "" && (cfg.firestoreDatabase != "" || cfg.retention > 0) {
		errs = append(errs, errors.New("FIRESTORE_DATABASE and HISTORY_RETENTION need FIRESTORE_PROJECT"))
	}
	return cfg, errors.Join(errs...)
}

// redisOptions reads REDIS_CLUSTER, or REDIS_URL, or REDISHOST and
// REDISPORT as the Cloud Run tutorial sets them; both nil when none is set.
func redisOptions(getenv func(string) string) (*redis.Options, *redis.ClusterOptions, error) {
	tlsConfig, err := redisTLS(getenv)
	if err != nil {
		return nil, nil, err
	}
	pw := getenv("REDIS_PASSWORD")
	seeds, u, host := getenv("REDIS_CLUSTER"), getenv("REDIS_URL"), getenv("REDISHOST")
	if seeds != "" {
		if u != "" || host != "" {
			return nil, nil, errors.New("REDIS_CLUSTER: set it, or REDIS_URL, or REDISHOST, not several")
		}
		var addrs []string
		for a := range strings.SplitSeq(seeds, ",") {
			a = strings.TrimSpace(a)
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, nil, fmt.Errorf("REDIS_CLUSTER=%q: want host:port[,host:port...]: %w", seeds, err)
			}
			addrs = append(addrs, a)
		}
		return nil, &redis.ClusterOptions{
			Addrs:    addrs,
			Password: pw,
			// The TLS server name is each node's own address, not the seed's.
			TLSConfig: tlsConfig,
			// go-redis keeps sending a failed primary's slots to it until the
			// slot map is reloaded: every 60 s by default. The broker asks for
			// a reload on errors too; this bounds what it cannot see.
			ClusterStateReloadInterval: 5 * time.Second,
			// A failed primary's address is dialled until the map moves on:
			// fail fast (go-redis tries 5 times, 5 s each, by default).
			DialTimeout:   2 * time.Second,
			DialerRetries: 1,
		}, nil
	}
	var opts *redis.Options
	switch {
	case u != "":
		if opts, err = redis.ParseURL(u); err != nil {
			return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
		}
	case host != "":
		port := envOr(getenv, "REDISPORT", "6379")
		opts = &redis.Options{Addr: net.JoinHostPort(host, port)}
	default:
		return nil, nil, nil
	}
	if pw != "" {
		opts.Password = pw
	}
	if tlsConfig != nil {
		tlsConfig.ServerName, _, _ = net.SplitHostPort(opts.Addr)
		opts.TLSConfig = tlsConfig
	}
	return opts, nil, nil
}

// redisTLS is the TLS configuration REDIS_TLS and REDIS_CA_CERT ask for, or
// nil.
func redisTLS(getenv func(string) string) (*tls.Config, error) {
	if getenv("REDIS_TLS") != "1" {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if path := getenv("REDIS_CA_CERT"); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("REDIS_CA_CERT: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("REDIS_CA_CERT: no PEM certificate in %s", path)
		}
	}
	return tc, nil
}

// checkHostPort refuses an address that is not host:port with a port number.
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q: %w", port, err)
	}
	return nil
}

// listEnv reads key as a comma-separated list, lower case, each entry
// checked by check; nil when unset.
func listEnv(getenv func(string) string, key string, check func(string) error, errs *[]error) []string {
	var list []string
	for v := range strings.SplitSeq(getenv(key), ",") {
		if v = strings.ToLower(strings.TrimSpace(v)); v == "" {
			continue
		}
		if err := check(v); err != nil {
			*errs = append(*errs, fmt.Errorf("%s: %q: %w", key, v, err))
			continue
		}
		list = append(list, v)
	}
	return list
}

// checkDomain refuses what is not a domain name such as example.com.
func checkDomain(d string) error {
	if strings.ContainsAny(d, "@/:* ") || !strings.Contains(d, ".") || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") || strings.Contains(d, "..") {
		return errors.New("want a domain name, such as example.com")
	}
	return nil
}

// checkEmail refuses what is not an address such as ann@example.com.
func checkEmail(e string) error {
	local, domain, ok := strings.Cut(e, "@")
	if !ok || local == "" || strings.ContainsAny(local, " /") || checkDomain(domain) != nil {
		return errors.New("want an e-mail address, such as ann@example.com")
	}
	return nil
}

func envOr(getenv func(string) string, key, def string) string {
	if v := strings.TrimSpace(getenv(key)); v != "" {
		return v
	}
	return def
}

func intEnv(getenv func(string) string, key string, def, lo, hi int, errs *[]error) int {
	v := getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		*errs = append(*errs, fmt.Errorf("%s=%q: want a whole number from %d to %d", key, v, lo, hi))
		return def
	}
	return n
}

// parseDays reads a duration as Go writes one ("720h"), or as a whole number
// of days ("90d").
func parseDays(v string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(v, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}
