package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// config is the service's configuration, read from the environment as
// SPEC.md lists it.
type config struct {
	addr            string
	redis           *redis.Options // nil: the in-memory broker
	historySize     int
	sendRate        float64
	sendBurst       int
	secret          []byte
	secretGenerated bool
}

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
	opts, err := redisOptions(getenv)
	if err != nil {
		errs = append(errs, err)
	}
	cfg.redis = opts
	return cfg, errors.Join(errs...)
}

// redisOptions reads REDIS_URL, or REDISHOST and REDISPORT as the Cloud Run
// tutorial sets them; nil when neither is set.
func redisOptions(getenv func(string) string) (*redis.Options, error) {
	if getenv("REDIS_CLUSTER") != "" {
		return nil, errors.New("REDIS_CLUSTER: Redis Cluster support is not built yet; use REDISHOST or REDIS_URL")
	}
	var opts *redis.Options
	switch u, host := getenv("REDIS_URL"), getenv("REDISHOST"); {
	case u != "":
		var err error
		if opts, err = redis.ParseURL(u); err != nil {
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
	case host != "":
		port := envOr(getenv, "REDISPORT", "6379")
		opts = &redis.Options{Addr: net.JoinHostPort(host, port)}
	default:
		return nil, nil
	}
	if pw := getenv("REDIS_PASSWORD"); pw != "" {
		opts.Password = pw
	}
	if getenv("REDIS_TLS") == "1" {
		host, _, _ := net.SplitHostPort(opts.Addr)
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
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
		opts.TLSConfig = tc
	}
	return opts, nil
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
