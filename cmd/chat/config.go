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
	"github.com/chatrun/chat/push"
	"github.com/chatrun/chat/realtime"
	"github.com/chatrun/chat/views"
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
	metricsAddr                         string   // where GET /metrics is served; empty: nowhere
	trustProxy                          bool     // X-Forwarded-For comes from a proxy in front
	roomDirectory                       bool     // list the rooms in use on the sign-in and room pages
	moderators                          []string // verified e-mail addresses, lower case (MODERATORS)
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
	// Web Push: the VAPID key pair and subject; all empty, no push.
	vapidPublic, vapidPrivate, vapidSubject string
	pushAllowed                             push.Allowed // PUSH_ALLOWED_HOSTS, for tests
	// Uploads: on Cloud Storage in uploadBucket (storageEmulator: the
	// host:port of an emulator, for tests), else in the folder uploadDir;
	// neither: no uploads.
	uploadBucket, storageEmulator, uploadDir string
	uploadMax, uploadPerHour                 int64 // bytes a file, bytes a session an hour
}

// defaultSocketMaxAge is SOCKET_MAX_AGE's default: with its jitter (at
// most 9 %, handlers' maxAgeJitter) every socket is closed by 59 m 57 s,
// under Cloud Run's longest request timeout (the README's --timeout=3600),
// so the server, not the platform, ends each socket. docs_test.go holds
// the two to the deploy commands.
const defaultSocketMaxAge = 55 * time.Minute

// loadConfig reads the flags in args and the environment through getenv,
// and reports every setting it refuses at once, in the order read.
func loadConfig(args []string, getenv func(string) string) (config, error) {
	listen, err := parseListenFlag(args)
	if err != nil {
		return config{}, err
	}
	var cfg config
	var errs []error
	cfg.addr = readAddr(getenv, listen, &errs)
	cfg.historySize = intEnv(getenv, "HISTORY_SIZE", 100, 1, 10000, &errs)
	cfg.firestoreProject = strings.TrimSpace(getenv("FIRESTORE_PROJECT"))
	cfg.firestoreDatabase = strings.TrimSpace(getenv("FIRESTORE_DATABASE"))
	cfg.retention = readRetention(getenv, &errs)
	cfg.roomTTL = durationEnv(getenv, "ROOM_TTL", realtime.DefaultRoomTTL, time.Minute,
		"at least a minute, such as 720h", &errs)
	cfg.socketMaxAge = durationEnv(getenv, "SOCKET_MAX_AGE", defaultSocketMaxAge, time.Second,
		"at least a second, such as 55m, below the service's --timeout", &errs)
	cfg.sendBurst = intEnv(getenv, "SEND_BURST", 10, 1, 100000, &errs)
	cfg.sendRate = readSendRate(getenv, &errs)
	cfg.secret, cfg.secretGenerated = readSessionSecret(getenv)
	cfg.metricsAddr = readMetricsAddr(getenv, &errs)
	cfg.trustProxy = readTrustProxy(getenv, &errs)
	cfg.roomDirectory = readRoomDirectory(getenv, &errs)
	readAuth(&cfg, getenv, &errs)
	readPush(&cfg, getenv, &errs)
	readUploads(&cfg, getenv, &errs)
	var redisErr error
	if cfg.redis, cfg.cluster, redisErr = redisOptions(getenv); redisErr != nil {
		errs = append(errs, redisErr)
	}
	if err := checkArchive(cfg, redisErr); err != nil {
		errs = append(errs, err)
	}
	return cfg, errors.Join(errs...)
}

// parseListenFlag parses args, whose one flag, -listen, is the address to
// listen on; empty when not given.
func parseListenFlag(args []string) (string, error) {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	listen := fs.String("listen", "", "address to listen on (default \":$PORT\")")
	if err := fs.Parse(args[1:]); err != nil {
		return "", err
	}
	return *listen, nil
}

// readAddr is the address to listen on: listen when given, else :PORT.
// PORT is checked either way.
func readAddr(getenv func(string) string, listen string, errs *[]error) string {
	port := envOr(getenv, "PORT", "8080")
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		*errs = append(*errs, fmt.Errorf("PORT=%q: not a port number", port))
	}
	if listen != "" {
		return listen
	}
	return ":" + port
}

// readRetention reads HISTORY_RETENTION, how long the archive keeps a
// message; 0, when unset, keeps messages for good.
func readRetention(getenv func(string) string, errs *[]error) time.Duration {
	v := strings.TrimSpace(getenv("HISTORY_RETENTION"))
	if v == "" {
		return 0
	}
	d, err := parseDays(v)
	if err != nil || d < time.Hour {
		*errs = append(*errs, fmt.Errorf("HISTORY_RETENTION=%q: want a duration of at least an hour, such as 90d or 720h", v))
	}
	return d
}

// durationEnv reads key as a duration of at least lo, def when unset; want
// says, in the error, what a good value is. A refused value is returned
// all the same.
func durationEnv(getenv func(string) string, key string, def, lo time.Duration, want string, errs *[]error) time.Duration {
	v := getenv(key)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo {
		*errs = append(*errs, fmt.Errorf("%s=%q: want a duration of %s", key, v, want))
	}
	return d
}

// readSendRate reads SEND_RATE, the messages a second a socket may send
// after its burst; 5 when unset.
func readSendRate(getenv func(string) string, errs *[]error) float64 {
	v := getenv("SEND_RATE")
	if v == "" {
		return 5
	}
	r, err := strconv.ParseFloat(v, 64)
	if err != nil || r <= 0 {
		*errs = append(*errs, fmt.Errorf("SEND_RATE=%q: want a positive number of messages per second", v))
	}
	return r
}

// readSessionSecret reads SESSION_SECRET, or makes up a random key
// (generated): sessions then end with the process.
func readSessionSecret(getenv func(string) string) (secret []byte, generated bool) {
	if s := getenv("SESSION_SECRET"); s != "" {
		return []byte(s), false
	}
	return []byte(rand.Text() + rand.Text()), true
}

// readMetricsAddr reads METRICS_ADDR, where GET /metrics is served; empty
// when unset.
func readMetricsAddr(getenv func(string) string, errs *[]error) string {
	a := strings.TrimSpace(getenv("METRICS_ADDR"))
	if a == "" {
		return ""
	}
	if err := checkHostPort(a); err != nil {
		*errs = append(*errs, fmt.Errorf("METRICS_ADDR=%q: want host:port, such as 127.0.0.1:9464: %w", a, err))
	}
	return a
}

// readTrustProxy reads TRUST_PROXY, whether X-Forwarded-For comes from a
// proxy in front; unset, it does on Cloud Run.
func readTrustProxy(getenv func(string) string, errs *[]error) bool {
	// Cloud Run sets K_SERVICE, and its front end adds the client's address
	// to X-Forwarded-For; without a proxy, anyone can write that header.
	switch v := getenv("TRUST_PROXY"); v {
	case "":
		return getenv("K_SERVICE") != ""
	case "1", "0":
		return v == "1"
	default:
		*errs = append(*errs, fmt.Errorf("TRUST_PROXY=%q: want 1 or 0", v))
		return false
	}
}

// readRoomDirectory reads ROOM_DIRECTORY, whether the sign-in and room
// pages list the rooms in use; on when unset.
func readRoomDirectory(getenv func(string) string, errs *[]error) bool {
	switch v := getenv("ROOM_DIRECTORY"); v {
	case "", "on":
		return true
	case "off":
		return false
	default:
		*errs = append(*errs, fmt.Errorf("ROOM_DIRECTORY=%q: want on or off", v))
		return false
	}
}

// readAuth reads AUTH into cfg, with the settings of the identity provider
// it names.
func readAuth(cfg *config, getenv func(string) string, errs *[]error) {
	switch cfg.auth = strings.TrimSpace(getenv("AUTH")); cfg.auth {
	case "", "none":
		cfg.auth = ""
	case "iap":
		cfg.iapAudience, cfg.iapKeys = readIAP(getenv, errs)
	case "oidc":
		cfg.oidc = readOIDC(getenv, errs)
	default:
		*errs = append(*errs, fmt.Errorf("AUTH=%q: want iap, oidc, or nothing", cfg.auth))
	}
	cfg.moderators = listEnv(getenv, "MODERATORS", checkEmail, errs)
	if len(cfg.moderators) > 0 && cfg.auth == "" {
		*errs = append(*errs, errors.New("MODERATORS needs AUTH=iap or AUTH=oidc: without a verified identity there is no one to trust with moderation"))
	}
	if cfg.auth != "oidc" {
		// Lists that restrict nothing must not look as if they did.
		for _, k := range []string{"OIDC_ALLOWED_DOMAINS", "OIDC_ALLOWED_EMAILS", "OIDC_ALLOW_ANY"} {
			if strings.TrimSpace(getenv(k)) != "" {
				*errs = append(*errs, fmt.Errorf("%s needs AUTH=oidc", k))
			}
		}
	}
}

// readPush reads Web Push's settings: the three VAPID ones together or
// none, and the hosts allowed besides the push services.
func readPush(cfg *config, getenv func(string) string, errs *[]error) {
	cfg.vapidPublic = strings.TrimSpace(getenv("VAPID_PUBLIC_KEY"))
	cfg.vapidPrivate = strings.TrimSpace(getenv("VAPID_PRIVATE_KEY"))
	cfg.vapidSubject = strings.TrimSpace(getenv("VAPID_SUBJECT"))
	allowed, err := push.ParseAllowed(getenv("PUSH_ALLOWED_HOSTS"))
	if err != nil {
		*errs = append(*errs, fmt.Errorf("PUSH_ALLOWED_HOSTS: %w", err))
	}
	cfg.pushAllowed = allowed
	switch set := cfg.vapidPublic != "" || cfg.vapidPrivate != "" || cfg.vapidSubject != ""; {
	case !set:
	case cfg.vapidPublic == "" || cfg.vapidPrivate == "" || cfg.vapidSubject == "":
		*errs = append(*errs, errors.New("VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT: set all three for Web Push, or none"))
	default:
		if err := push.CheckVAPID(cfg.vapidPublic, cfg.vapidPrivate, cfg.vapidSubject); err != nil {
			*errs = append(*errs, err)
		}
	}
}

// readIAP reads, for AUTH=iap, the audience of Identity-Aware Proxy's
// tokens and the address of the keys they are signed with.
func readIAP(getenv func(string) string, errs *[]error) (audience, keys string) {
	audience = strings.TrimSpace(getenv("IAP_AUDIENCE"))
	if audience == "" {
		*errs = append(*errs, errors.New("AUTH=iap needs IAP_AUDIENCE, the audience of IAP's tokens for this service (/projects/NUMBER/locations/REGION/services/NAME on Cloud Run)"))
	}
	keys = envOr(getenv, "IAP_JWKS_URL", handlers.DefaultIAPKeys)
	if u, err := url.Parse(keys); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		*errs = append(*errs, fmt.Errorf("IAP_JWKS_URL=%q: want an http(s) address", keys))
	}
	return audience, keys
}

// readOIDC reads, for AUTH=oidc, the OpenID Connect provider to sign in
// with and who may sign in.
func readOIDC(getenv func(string) string, errs *[]error) handlers.OIDCConfig {
	o := readOIDCProvider(getenv, errs)
	// Who may sign in: without a list, any account the provider has
	// (with Google, anyone's) would get in, so that takes a setting
	// of its own.
	o.AllowedDomains = listEnv(getenv, "OIDC_ALLOWED_DOMAINS", checkDomain, errs)
	o.AllowedEmails = listEnv(getenv, "OIDC_ALLOWED_EMAILS", checkEmail, errs)
	o.AllowAny = readOIDCAllowAny(getenv, errs)
	if err := checkOIDCAllowed(o); err != nil {
		*errs = append(*errs, err)
	}
	return o
}

// readOIDCProvider reads the OpenID Connect provider, this service's
// client at it, and the service's public address.
func readOIDCProvider(getenv func(string) string, errs *[]error) handlers.OIDCConfig {
	o := handlers.OIDCConfig{
		Issuer:       strings.TrimSpace(getenv("OIDC_ISSUER")),
		ClientID:     strings.TrimSpace(getenv("OIDC_CLIENT_ID")),
		ClientSecret: getenv("OIDC_CLIENT_SECRET"),
		PublicURL:    strings.TrimSuffix(strings.TrimSpace(getenv("PUBLIC_URL")), "/"),
	}
	if u, err := url.Parse(o.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		*errs = append(*errs, fmt.Errorf("AUTH=oidc needs OIDC_ISSUER, the provider's issuer address (https://accounts.google.com for Google); got %q", o.Issuer))
	}
	if o.ClientID == "" {
		*errs = append(*errs, errors.New("AUTH=oidc needs OIDC_CLIENT_ID, the client id the provider gave this service"))
	}
	if p := o.PublicURL; p != "" {
		if u, err := url.Parse(p); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" || u.RawQuery != "" {
			*errs = append(*errs, fmt.Errorf("PUBLIC_URL=%q: want the service's address, such as https://chat.example.com", p))
		}
	}
	return o
}

// readOIDCAllowAny reads OIDC_ALLOW_ANY: 1 lets in every account the
// provider signs in.
func readOIDCAllowAny(getenv func(string) string, errs *[]error) bool {
	switch v := strings.TrimSpace(getenv("OIDC_ALLOW_ANY")); v {
	case "", "0":
		return false
	case "1":
		return true
	default:
		*errs = append(*errs, fmt.Errorf("OIDC_ALLOW_ANY=%q: want 1 or 0", v))
		return false
	}
}

// checkOIDCAllowed refuses OIDC settings that say neither who may sign in
// nor that anyone may, or that say both.
func checkOIDCAllowed(o handlers.OIDCConfig) error {
	listed := len(o.AllowedDomains)+len(o.AllowedEmails) > 0
	switch {
	case !listed && !o.AllowAny:
		return errors.New("AUTH=oidc needs OIDC_ALLOWED_DOMAINS or OIDC_ALLOWED_EMAILS, the accounts let in (or OIDC_ALLOW_ANY=1 to let in every account the provider signs in, with Google anyone's)")
	case listed && o.AllowAny:
		return errors.New("OIDC_ALLOW_ANY=1 and OIDC_ALLOWED_DOMAINS or OIDC_ALLOWED_EMAILS: set the lists, or let in any account, not both")
	}
	return nil
}

// checkArchive refuses archive settings without what they need: Firestore
// needs Redis (unless Redis's own settings were refused, redisErr), and
// the archive's other settings need Firestore.
func checkArchive(cfg config, redisErr error) error {
	if cfg.firestoreProject != "" && cfg.redis == nil && cfg.cluster == nil && redisErr == nil {
		// The archive is filled from Redis's streams: without Redis, one
		// instance keeps its rooms in memory.
		return errors.New("FIRESTORE_PROJECT needs Redis (REDISHOST, REDIS_URL or REDIS_CLUSTER)")
	}
	if cfg.firestoreProject == "" && (cfg.firestoreDatabase != "" || cfg.retention > 0) {
		return errors.New("FIRESTORE_DATABASE and HISTORY_RETENTION need FIRESTORE_PROJECT")
	}
	return nil
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

// The bounds of UPLOAD_MAX: Cloud Run refuses a request body over 32 MiB
// (HTTP/1), and the script uploads one file a request.
const (
	defaultUploadMax = 10 << 20
	maxUploadMax     = 32<<20 - 64<<10
)

// readUploads reads where uploads are kept (UPLOAD_BUCKET, or
// UPLOAD_DIR; not both) and their limits.
func readUploads(cfg *config, getenv func(string) string, errs *[]error) {
	cfg.uploadBucket = strings.TrimSpace(getenv("UPLOAD_BUCKET"))
	cfg.uploadDir = strings.TrimSpace(getenv("UPLOAD_DIR"))
	cfg.storageEmulator = strings.TrimSpace(getenv("STORAGE_EMULATOR_HOST"))
	if cfg.uploadBucket != "" && cfg.uploadDir != "" {
		*errs = append(*errs, errors.New("UPLOAD_BUCKET and UPLOAD_DIR: set one, not both (the bucket for any number of instances, the folder for one)"))
	}
	if b := cfg.uploadBucket; b != "" && !validBucket(b) {
		*errs = append(*errs, fmt.Errorf("UPLOAD_BUCKET=%q: not a Cloud Storage bucket name (3 to 63 characters of a-z, 0-9, '-', '_' and '.', starting and ending with a letter or digit)", b))
	}
	if h := cfg.storageEmulator; h != "" {
		if _, port, err := net.SplitHostPort(h); err != nil || port == "" {
			*errs = append(*errs, fmt.Errorf("STORAGE_EMULATOR_HOST=%q: want host:port", h))
		}
		if cfg.uploadBucket == "" {
			*errs = append(*errs, errors.New("STORAGE_EMULATOR_HOST needs UPLOAD_BUCKET"))
		}
	}
	cfg.uploadMax = sizeEnv(getenv, "UPLOAD_MAX", defaultUploadMax, 1<<10, maxUploadMax, errs)
	cfg.uploadPerHour = sizeEnv(getenv, "UPLOAD_PER_HOUR", handlers.DefaultUploadPerHour, 1<<20, 1<<40, errs)
}

// validBucket reports whether b is a Cloud Storage bucket name without
// dots' longer form: 3 to 63 characters of a-z, 0-9, -, _ and ., starting
// and ending with a letter or digit.
func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i, c := range []byte(b) {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || i == len(b)-1 || (c != '-' && c != '_' && c != '.')) {
			return false
		}
	}
	return true
}

// sizeEnv reads a size in bytes: a whole number, or one with KB, MB or GB
// (each 1,024 of the one before; KiB, MiB and GiB too), from lo to hi.
func sizeEnv(getenv func(string) string, key string, def, lo, hi int64, errs *[]error) int64 {
	v := strings.TrimSpace(getenv(key))
	if v == "" {
		return def
	}
	n, err := parseSize(v)
	if err != nil || n < lo || n > hi {
		*errs = append(*errs, fmt.Errorf("%s=%q: want a size from %s to %s, such as 10MB", key, v, views.FileSize(lo), views.FileSize(hi)))
		return def
	}
	return n
}

// parseSize reads "10MB", "512 KB", "10MiB" or "10485760".
func parseSize(v string) (int64, error) {
	num := strings.TrimRight(v, "KMGiBkmgb ")
	unit := strings.ToUpper(strings.TrimSpace(v[len(num):]))
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("not a size: %q", v)
	}
	shift := map[string]uint{"": 0, "B": 0, "KB": 10, "KIB": 10, "K": 10, "MB": 20, "MIB": 20, "M": 20, "GB": 30, "GIB": 30, "G": 30}
	sh, ok := shift[unit]
	if !ok || n > (1<<62)>>sh {
		return 0, fmt.Errorf("not a size: %q", v)
	}
	return n << sh, nil
}
