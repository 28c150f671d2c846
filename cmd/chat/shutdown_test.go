package main

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// With Redis frozen (it holds its connections and answers nothing), a
// SIGTERM still closes every socket with 1012 and the process exits within
// 8 s, inside Cloud Run's 10: no call to Redis, and no wait for one, holds
// the drain.
func TestShutdownIsBoundedWithRedisFrozen(t *testing.T) {
	srv := redistest.Start(t)
	base, proc := startProcess(t, buildChat(t), sharedEnv(srv.Addr))
	rooms := []string{testkit.Room(), testkit.Room(), testkit.Room(), testkit.Room()}
	var sockets []*chattest.Socket
	for i := range 20 {
		_, ws := chattest.JoinAs(t, base, fmt.Sprint("user ", i), rooms[i%len(rooms)])
		sockets = append(sockets, ws)
	}
	srv.Freeze()
	// Sends that wait on the frozen Redis, and sockets that join and leave
	// meanwhile, are under way when the signal comes.
	for i, ws := range sockets[:5] {
		ws.Send("into the freeze", fmt.Sprint("f", i))
	}
	start := time.Now()
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i, ws := range sockets {
		if code := ws.CloseStatus(); code != websocket.StatusServiceRestart {
			t.Errorf("socket %d closed with %v, want 1012", i, code)
		}
	}
	exited := make(chan error, 1)
	go func() {
		_, err := proc.Wait()
		exited <- err
	}()
	exitWithin(t, exited, 15*time.Second, "the process, after SIGTERM")
	if took := time.Since(start); took > 8*time.Second {
		t.Fatalf("the process exited %v after SIGTERM, want within 8 s", took.Round(time.Millisecond))
	} else {
		t.Logf("exited %v after SIGTERM", took.Round(time.Millisecond))
	}
}
