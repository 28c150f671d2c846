package redistest

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Calls is how many commands rdb's server has run so far (INFO
// commandstats; a script's own commands count too): of names, or of every
// command but INFO when none is named. Tests that count give themselves a
// server of their own (Start).
func Calls(t testing.TB, rdb *redis.Client, names ...string) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":calls=")
		if !ok || name == "info" || len(names) > 0 && !contains(names, name) {
			continue
		}
		v, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
		n += v
	}
	return n
}

func contains(names []string, name string) bool {
	for _, n := range names {
		if n == name {
			return true
		}
	}
	return false
}
