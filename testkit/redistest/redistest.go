// Package redistest gives tests a real redis-server on loopback.
//
// Tests that need Redis skip with a message when none is available, and fail
// instead when CHAT_TEST_REQUIRE (set by .ci/run) names "redis".
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/chatrun/chat/testkit"
)

// Addr returns a Redis server's address: CHAT_TEST_REDIS_ADDR when set (as
// .ci/run sets it), else a redis-server started for this test.
func Addr(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv("CHAT_TEST_REDIS_ADDR"); addr != "" {
		return addr
	}
	return Start(t).Addr
}

// Server is a redis-server process of the test's own, which it may stop and
// start again on the same port.
type Server struct {
	Addr   string
	t      testing.TB
	args   []string
	dir    string
	cmd    *exec.Cmd
	exited chan error
	client *redis.Options // how to reach it, when not plain TCP without a password
}

// Start runs a private redis-server on a free loopback port until the test
// ends. It keeps nothing on disk: Restart starts it empty.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, "--save", "", "--appendonly", "no")
}

// StartPersistent is Start with every write on disk first, so that the data
// outlives Stop and Restart, as Memorystore's does a restart.
func StartPersistent(t testing.TB) *Server {
	t.Helper()
	return start(t, "--save", "", "--appendonly", "yes", "--appendfsync", "always")
}

func start(t testing.TB, args ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		testkit.Require(t, "redis", "redis-server is not on PATH (apt-get install redis-server)")
	}
	s := &Server{t: t, args: args, dir: t.TempDir()}
	var err error
	for range 5 {
		s.Addr, err = freeAddr()
		if err != nil {
			continue
		}
		if err = s.start(); err == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("start redis-server: %v", err)
	return nil
}

// Stop kills the server; its data is gone.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Freeze stops the server's process (SIGSTOP): connections stay open and
// nothing answers, as with a Redis that hangs. Stop or Restart end it.
func (s *Server) Freeze() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("freeze redis-server: %v", err)
	}
}

// Restart starts the server again on the same address.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		s.t.Fatalf("restart redis-server: %v", err)
	}
}

func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	args := append([]string{"--port", port, "--bind", "127.0.0.1",
		"--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log")}, s.args...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run redis-server: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	opts := &redis.Options{Addr: s.Addr}
	if s.client != nil {
		opts.Password, opts.TLSConfig = s.client.Password, s.client.TLSConfig
	}
	opts.MaxRetries = -1
	c := redis.NewClient(opts)
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			s.cmd, s.exited = cmd, exited
			return nil
		}
		select {
		case werr := <-exited:
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			return fmt.Errorf("redis-server exited (%v): %s", werr, log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return fmt.Errorf("redis-server on %s did not answer: %w", s.Addr, err)
		}
	}
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}
