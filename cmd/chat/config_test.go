package main

import (
	"slices"
	"strings"
	"testing"
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
