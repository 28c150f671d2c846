package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRedisConfiguration(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	t.Run("cluster seeds, password and TLS", func(t *testing.T) {
		one, cl, err := redisOptions(env("REDIS_CLUSTER", "10.0.0.5:6379, 10.0.0.6:6379", "REDIS_PASSWORD", "pw", "REDIS_TLS", "1"))
		if err != nil || one != nil || cl == nil {
			t.Fatalf("got %v, %v, %v", one, cl, err)
		}
		if !slices.Equal(cl.Addrs, []string{"10.0.0.5:6379", "10.0.0.6:6379"}) || cl.Password != "pw" {
			t.Errorf("addrs %v, password %q", cl.Addrs, cl.Password)
		}
		// Each node is checked against its own address.
		if cl.TLSConfig == nil || cl.TLSConfig.ServerName != "" {
			t.Errorf("TLS config %+v: want TLS with no fixed server name", cl.TLSConfig)
		}
	})
	t.Run("one Redis", func(t *testing.T) {
		one, cl, err := redisOptions(env("REDISHOST", "10.0.0.7", "REDIS_TLS", "1"))
		if err != nil || cl != nil || one == nil || one.Addr != "10.0.0.7:6379" || one.TLSConfig.ServerName != "10.0.0.7" {
			t.Fatalf("got %+v, %v, %v", one, cl, err)
		}
	})
	t.Run("none", func(t *testing.T) {
		if one, cl, err := redisOptions(env()); one != nil || cl != nil || err != nil {
			t.Fatalf("got %v, %v, %v", one, cl, err)
		}
	})
	for _, bad := range [][]string{
		{"REDIS_CLUSTER", "10.0.0.5:6379", "REDISHOST", "10.0.0.7"},
		{"REDIS_CLUSTER", "10.0.0.5:6379", "REDIS_URL", "redis://10.0.0.7:6379"},
		{"REDIS_CLUSTER", "10.0.0.5"},
		{"REDIS_CLUSTER", "10.0.0.5:6379,"},
	} {
		if _, _, err := redisOptions(env(bad...)); err == nil || !strings.Contains(err.Error(), "REDIS_CLUSTER") {
			t.Errorf("%q: error %v, want one naming REDIS_CLUSTER", bad, err)
		}
	}
}

func TestConfigMetricsAddrAndTrustProxy(t *testing.T) {
	load := func(kv ...string) (config, error) {
		env := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return loadConfig([]string{"chat"}, func(k string) string { return env[k] })
	}
	for _, c := range []struct {
		env         []string
		metricsAddr string
		trustProxy  bool
	}{
		{nil, "", false},
		{[]string{"METRICS_ADDR", "127.0.0.1:9464"}, "127.0.0.1:9464", false},
		{[]string{"METRICS_ADDR", ":9464"}, ":9464", false},
		{[]string{"METRICS_ADDR", "[::1]:9464"}, "[::1]:9464", false},
		// Cloud Run sets K_SERVICE: its front end is the proxy.
		{[]string{"K_SERVICE", "chat"}, "", true},
		{[]string{"K_SERVICE", "chat", "TRUST_PROXY", "0"}, "", false},
		{[]string{"TRUST_PROXY", "1"}, "", true},
		{[]string{"TRUST_PROXY", "0"}, "", false},
	} {
		cfg, err := load(c.env...)
		if err != nil || cfg.metricsAddr != c.metricsAddr || cfg.trustProxy != c.trustProxy {
			t.Errorf("%q: metrics %q, trust proxy %v, %v; want %q, %v", c.env, cfg.metricsAddr, cfg.trustProxy, err, c.metricsAddr, c.trustProxy)
		}
	}
	for _, bad := range [][]string{
		{"METRICS_ADDR", "9464"},
		{"METRICS_ADDR", "127.0.0.1"},
		{"METRICS_ADDR", "127.0.0.1:metrics"},
		{"METRICS_ADDR", "127.0.0.1:70000"},
		{"TRUST_PROXY", "yes"},
		{"TRUST_PROXY", "true"},
		{"K_SERVICE", "chat", "TRUST_PROXY", " 1"},
	} {
		key := bad[len(bad)-2]
		if _, err := load(bad...); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%q: error %v, want one naming %s", bad, err, key)
		}
	}
}

// A bad METRICS_ADDR stops the service at start, like any bad value.
func TestConfigBadMetricsAddrStopsTheService(t *testing.T) {
	var out strings.Builder
	env := map[string]string{"METRICS_ADDR": "localhost"}
	err := run(t.Context(), []string{"chat", "-listen", "127.0.0.1:0"}, func(k string) string { return env[k] }, &out)
	if err == nil {
		t.Fatal("run started with METRICS_ADDR=localhost")
	}
	if !strings.Contains(out.String(), "bad configuration") || !strings.Contains(out.String(), "METRICS_ADDR") {
		t.Errorf("log %q: want bad configuration naming METRICS_ADDR", out.String())
	}
}

// ROOM_TTL is a duration of at least a minute, 30 days when unset;
// SOCKET_MAX_AGE one of at least a second, 55 minutes when unset (under
// Cloud Run's longest request timeout, the README's --timeout=3600).
func TestConfigDurations(t *testing.T) {
	for _, c := range []struct {
		key  string
		read func(config) time.Duration
		good map[string]time.Duration
		bad  []string
	}{
		{"ROOM_TTL", func(c config) time.Duration { return c.roomTTL },
			map[string]time.Duration{"": 30 * 24 * time.Hour, "720h": 720 * time.Hour, "90m": 90 * time.Minute},
			[]string{"30", "-1h", "10s", "a month"}},
		{"SOCKET_MAX_AGE", func(c config) time.Duration { return c.socketMaxAge },
			map[string]time.Duration{"": 55 * time.Minute, "3s": 3 * time.Second, "30m": 30 * time.Minute},
			[]string{"55", "-1m", "500ms", "an hour"}},
	} {
		getenv := func(v string) func(string) string {
			return func(k string) string { return map[string]string{c.key: v}[k] }
		}
		for v, want := range c.good {
			cfg, err := loadConfig([]string{"chat"}, getenv(v))
			if err != nil || c.read(cfg) != want {
				t.Errorf("%s=%q: %v, %v; want %v", c.key, v, c.read(cfg), err, want)
			}
		}
		for _, v := range c.bad {
			if _, err := loadConfig([]string{"chat"}, getenv(v)); err == nil || !strings.Contains(err.Error(), c.key) {
				t.Errorf("%s=%q accepted (%v)", c.key, v, err)
			}
		}
	}
}

// FIRESTORE_PROJECT turns the archive on, with Redis; FIRESTORE_DATABASE and
// HISTORY_RETENTION refine it and mean nothing without it.
func TestConfigArchive(t *testing.T) {
	load := func(kv ...string) (config, error) {
		env := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return loadConfig([]string{"chat"}, func(k string) string { return env[k] })
	}
	cfg, err := load("REDISHOST", "10.0.0.7", "FIRESTORE_PROJECT", "p1", "FIRESTORE_DATABASE", "chat", "HISTORY_RETENTION", "90d")
	if err != nil || cfg.firestoreProject != "p1" || cfg.firestoreDatabase != "chat" || cfg.retention != 90*24*time.Hour {
		t.Fatalf("got %q %q %v, %v", cfg.firestoreProject, cfg.firestoreDatabase, cfg.retention, err)
	}
	if cfg, err := load("REDISHOST", "10.0.0.7", "FIRESTORE_PROJECT", "p1", "HISTORY_RETENTION", "720h"); err != nil || cfg.retention != 720*time.Hour {
		t.Errorf("HISTORY_RETENTION=720h: %v, %v", cfg.retention, err)
	}
	if cfg, err := load("REDISHOST", "10.0.0.7", "FIRESTORE_PROJECT", "p1"); err != nil || cfg.retention != 0 {
		t.Errorf("no HISTORY_RETENTION: %v, %v; want kept for good", cfg.retention, err)
	}
	if cfg, err := load(); err != nil || cfg.firestoreProject != "" {
		t.Errorf("nothing set: %q, %v; want no archive", cfg.firestoreProject, err)
	}
	for _, bad := range []struct {
		env  []string
		want string
	}{
		{[]string{"FIRESTORE_PROJECT", "p1"}, "needs Redis"},
		{[]string{"REDISHOST", "h", "FIRESTORE_DATABASE", "chat"}, "need FIRESTORE_PROJECT"},
		{[]string{"REDISHOST", "h", "HISTORY_RETENTION", "90d"}, "need FIRESTORE_PROJECT"},
		{[]string{"REDISHOST", "h", "FIRESTORE_PROJECT", "p1", "HISTORY_RETENTION", "90"}, "HISTORY_RETENTION"},
		{[]string{"REDISHOST", "h", "FIRESTORE_PROJECT", "p1", "HISTORY_RETENTION", "10m"}, "HISTORY_RETENTION"},
		{[]string{"REDISHOST", "h", "FIRESTORE_PROJECT", "p1", "HISTORY_RETENTION", "-3d"}, "HISTORY_RETENTION"},
	} {
		if _, err := load(bad.env...); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: error %v, want one saying %q", bad.env, err, bad.want)
		}
	}
}

// ROOM_DIRECTORY is on unless it says off.
func TestConfigRoomDirectory(t *testing.T) {
	for v, want := range map[string]bool{"": true, "on": true, "off": false} {
		cfg, err := loadConfig([]string{"chat"}, func(k string) string { return map[string]string{"ROOM_DIRECTORY": v}[k] })
		if err != nil || cfg.roomDirectory != want {
			t.Errorf("ROOM_DIRECTORY=%q: %v, %v; want %v", v, cfg.roomDirectory, err, want)
		}
	}
	if _, err := loadConfig([]string{"chat"}, func(k string) string { return map[string]string{"ROOM_DIRECTORY": "no"}[k] }); err == nil || !strings.Contains(err.Error(), "ROOM_DIRECTORY") {
		t.Errorf("ROOM_DIRECTORY=no accepted (%v)", err)
	}
}

// AUTH=iap needs the audience; the key set defaults to Google's; anything
// else in AUTH is refused with the setting named.
func TestConfigAuth(t *testing.T) {
	load := func(kv ...string) (config, error) {
		env := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return loadConfig([]string{"chat"}, func(k string) string { return env[k] })
	}
	if cfg, err := load(); err != nil || cfg.auth != "" {
		t.Errorf("no AUTH: %q, %v; want none", cfg.auth, err)
	}
	cfg, err := load("AUTH", "iap", "IAP_AUDIENCE", "/projects/1/locations/r/services/chat")
	if err != nil || cfg.auth != "iap" || cfg.iapKeys != "https://www.gstatic.com/iap/verify/public_key-jwk" {
		t.Errorf("AUTH=iap: %+v, %v; want iap with Google's key set", cfg, err)
	}
	cfg, err = load("AUTH", "oidc", "OIDC_ISSUER", "https://accounts.google.com", "OIDC_CLIENT_ID", "id", "OIDC_CLIENT_SECRET", "s", "PUBLIC_URL", "https://chat.example.com/", "OIDC_ALLOWED_DOMAINS", "example.com")
	if err != nil || cfg.auth != "oidc" || cfg.oidc.Issuer != "https://accounts.google.com" || cfg.oidc.PublicURL != "https://chat.example.com" {
		t.Errorf("AUTH=oidc: %+v, %v", cfg.oidc, err)
	}
	for _, bad := range [][]string{
		{"AUTH", "oidc", "OIDC_CLIENT_ID", "id"},
		{"AUTH", "oidc", "OIDC_ISSUER", "https://accounts.google.com"},
		{"AUTH", "oidc", "OIDC_ISSUER", "https://accounts.google.com", "OIDC_CLIENT_ID", "id", "PUBLIC_URL", "chat.example.com"},
		{"AUTH", "iap"},
		{"AUTH", "iap", "IAP_AUDIENCE", "a", "IAP_JWKS_URL", "ftp://keys"},
		{"AUTH", "yes"},
	} {
		if _, err := load(bad...); err == nil || !strings.Contains(err.Error(), bad[len(bad)-2]) && !strings.Contains(err.Error(), "AUTH") {
			t.Errorf("%q: error %v, want one naming the setting", bad, err)
		}
	}
}

// AUTH=oidc lets in only the accounts its lists name, unless OIDC_ALLOW_ANY=1
// says that any account will do: without either it does not start. The
// lists are read lower case; their entries are checked; they and
// OIDC_ALLOW_ANY are refused together, and without AUTH=oidc.
func TestConfigOIDCAllowLists(t *testing.T) {
	load := func(kv ...string) (config, error) {
		env := map[string]string{"AUTH": "oidc", "OIDC_ISSUER": "https://accounts.google.com", "OIDC_CLIENT_ID": "id"}
		for i := 0; i+1 < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return loadConfig([]string{"chat"}, func(k string) string { return env[k] })
	}
	if _, err := load(); err == nil || !strings.Contains(err.Error(), "OIDC_ALLOWED_DOMAINS") || !strings.Contains(err.Error(), "OIDC_ALLOW_ANY=1") {
		t.Errorf("AUTH=oidc without a list: %v, want a start-up error naming the lists and OIDC_ALLOW_ANY", err)
	}
	cfg, err := load("OIDC_ALLOWED_DOMAINS", " Example.com, corp.example.org ,", "OIDC_ALLOWED_EMAILS", "Ann@Other.example")
	if err != nil || !slices.Equal(cfg.oidc.AllowedDomains, []string{"example.com", "corp.example.org"}) ||
		!slices.Equal(cfg.oidc.AllowedEmails, []string{"ann@other.example"}) || cfg.oidc.AllowAny {
		t.Errorf("lists: %q, %q, any %v, %v", cfg.oidc.AllowedDomains, cfg.oidc.AllowedEmails, cfg.oidc.AllowAny, err)
	}
	if cfg, err := load("OIDC_ALLOWED_EMAILS", "bob@example.com"); err != nil || len(cfg.oidc.AllowedDomains) != 0 || len(cfg.oidc.AllowedEmails) != 1 {
		t.Errorf("an e-mail list alone: %+v, %v", cfg.oidc, err)
	}
	if cfg, err := load("OIDC_ALLOW_ANY", "1"); err != nil || !cfg.oidc.AllowAny {
		t.Errorf("OIDC_ALLOW_ANY=1: any %v, %v", cfg.oidc.AllowAny, err)
	}
	for _, bad := range [][]string{
		{"OIDC_ALLOW_ANY", "0"},
		{"OIDC_ALLOW_ANY", "yes"},
		{"OIDC_ALLOW_ANY", "1", "OIDC_ALLOWED_DOMAINS", "example.com"},
		{"OIDC_ALLOWED_DOMAINS", "@example.com"},
		{"OIDC_ALLOWED_DOMAINS", "*.example.com"},
		{"OIDC_ALLOWED_DOMAINS", "localhost"},
		{"OIDC_ALLOWED_EMAILS", "ann"},
		{"OIDC_ALLOWED_EMAILS", "@example.com"},
		{"OIDC_ALLOWED_DOMAINS", ",,"},
	} {
		if _, err := load(bad...); err == nil || !strings.Contains(err.Error(), "OIDC_ALLOW") {
			t.Errorf("%q: error %v, want one naming the setting", bad, err)
		}
	}
	for _, k := range []string{"OIDC_ALLOWED_DOMAINS", "OIDC_ALLOWED_EMAILS", "OIDC_ALLOW_ANY"} {
		env := map[string]string{k: "1", "AUTH": "iap", "IAP_AUDIENCE": "/projects/1/locations/r/services/chat"}
		if _, err := loadConfig([]string{"chat"}, func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), k+" needs AUTH=oidc") {
			t.Errorf("%s with AUTH=iap: %v, want a start-up error", k, err)
		}
	}
}

// Uploads: a bucket or a folder (not both), off with neither; sizes in
// bytes or with a unit, within bounds.
func TestConfigUploads(t *testing.T) {
	load := func(kv ...string) (config, error) {
		env := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return loadConfig([]string{"chat"}, func(k string) string { return env[k] })
	}
	cfg, err := load()
	if err != nil || cfg.uploadBucket != "" || cfg.uploadDir != "" || cfg.uploadMax != 10<<20 || cfg.uploadPerHour != 200<<20 {
		t.Fatalf("nothing set: %q %q %d %d, %v; want uploads off, 10 MB a file, 200 MB an hour", cfg.uploadBucket, cfg.uploadDir, cfg.uploadMax, cfg.uploadPerHour, err)
	}
	cfg, err = load("UPLOAD_BUCKET", "chat-uploads.example_1", "STORAGE_EMULATOR_HOST", "127.0.0.1:4443", "UPLOAD_MAX", "25MB", "UPLOAD_PER_HOUR", "1GiB")
	if err != nil || cfg.uploadBucket != "chat-uploads.example_1" || cfg.storageEmulator != "127.0.0.1:4443" || cfg.uploadMax != 25<<20 || cfg.uploadPerHour != 1<<30 {
		t.Fatalf("bucket: %q %q %d %d, %v", cfg.uploadBucket, cfg.storageEmulator, cfg.uploadMax, cfg.uploadPerHour, err)
	}
	if cfg, err := load("UPLOAD_DIR", "/var/chat", "UPLOAD_MAX", "524288"); err != nil || cfg.uploadDir != "/var/chat" || cfg.uploadMax != 512<<10 {
		t.Errorf("folder: %q %d, %v", cfg.uploadDir, cfg.uploadMax, err)
	}
	for _, bad := range []struct {
		env  []string
		want string
	}{
		{[]string{"UPLOAD_BUCKET", "b-1", "UPLOAD_DIR", "/tmp/x"}, "not both"},
		{[]string{"UPLOAD_BUCKET", "Uploads"}, "UPLOAD_BUCKET"},
		{[]string{"UPLOAD_BUCKET", "-b1"}, "UPLOAD_BUCKET"},
		{[]string{"UPLOAD_BUCKET", "ab"}, "UPLOAD_BUCKET"},
		{[]string{"STORAGE_EMULATOR_HOST", "127.0.0.1:4443"}, "needs UPLOAD_BUCKET"},
		{[]string{"UPLOAD_BUCKET", "b-1", "STORAGE_EMULATOR_HOST", "localhost"}, "host:port"},
		{[]string{"UPLOAD_DIR", "/tmp/x", "UPLOAD_MAX", "40MB"}, "UPLOAD_MAX"}, // over Cloud Run's 32 MiB request
		{[]string{"UPLOAD_DIR", "/tmp/x", "UPLOAD_MAX", "10 parsecs"}, "UPLOAD_MAX"},
		{[]string{"UPLOAD_DIR", "/tmp/x", "UPLOAD_MAX", "-1"}, "UPLOAD_MAX"},
		{[]string{"UPLOAD_DIR", "/tmp/x", "UPLOAD_PER_HOUR", "1KB"}, "UPLOAD_PER_HOUR"},
	} {
		if _, err := load(bad.env...); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: error %v, want one saying %q", bad.env, err, bad.want)
		}
	}
}
