// Package firestoretest gives tests the real Firestore emulator on loopback.
//
// Tests that need it skip with a message when it is not installed, and fail
// instead when CHAT_TEST_REQUIRE (set by .ci/run) names "firestore". The
// emulator is the Debian package google-cloud-cli-firestore-emulator, which
// needs a Java runtime.
package firestoretest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chatrun/chat/testkit"
)

// Script is where the Debian package puts the emulator's start script.
const Script = "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator"

// Host returns the host:port of a running emulator: FIRESTORE_EMULATOR_HOST
// when set (as .ci/run sets it), else one started for the test.
func Host(t testing.TB) string {
	t.Helper()
	if h := os.Getenv("FIRESTORE_EMULATOR_HOST"); h != "" {
		return h
	}
	return Start(t).Host
}

// Project returns a project id no other test uses: the emulator keeps each
// project's data apart, so tests sharing one emulator do not meet.
func Project() string { return "test-" + strings.ToLower(rand.Text()[:12]) }

// Emulator is an emulator process of the test's own, which it may stop and
// start again on the same address (with no data: the emulator keeps it in
// memory).
type Emulator struct {
	Host string
	t    testing.TB

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start runs an emulator on a free loopback port until the test ends.
func Start(t testing.TB) *Emulator {
	t.Helper()
	if _, err := os.Stat(Script); err != nil {
		testkit.Require(t, "firestore", "the Firestore emulator is not installed (apt-get install google-cloud-cli-firestore-emulator default-jre-headless)")
	}
	if _, err := exec.LookPath("java"); err != nil {
		testkit.Require(t, "firestore", "the Firestore emulator needs java on PATH (apt-get install default-jre-headless)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	e := &Emulator{Host: "127.0.0.1:" + strconv.Itoa(port), t: t}
	e.Restart()
	t.Cleanup(e.Stop)
	return e
}

// Stop ends the emulator; what it held is gone.
func (e *Emulator) Stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cmd == nil {
		return
	}
	// The start script runs java as a child: end the whole group.
	_ = syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
	_ = e.cmd.Wait()
	e.cmd = nil
}

// Restart starts the emulator (again) on its address and waits until it
// answers.
func (e *Emulator) Restart() {
	e.t.Helper()
	e.Stop()
	host, port, _ := strings.Cut(e.Host, ":")
	cmd := exec.Command(Script, "start", "--host="+host, "--port="+port)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		e.t.Fatalf("start the Firestore emulator: %v", err)
	}
	e.mu.Lock()
	e.cmd = cmd
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := WaitReady(ctx, e.Host); err != nil {
		e.Stop()
		e.t.Fatalf("the Firestore emulator on %s: %v", e.Host, err)
	}
}

// WaitReady waits until the emulator at host answers its root with "Ok".
func WaitReady(ctx context.Context, host string) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+"/", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not answering: %w", ctx.Err())
		case <-tick.C:
		}
	}
}
