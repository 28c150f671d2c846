// Command chatbench is a load generator for the chat service. It speaks the
// public protocol of docs/SPEC.md as browsers do (sign in, GET the room page, open
// the room's WebSocket, send htmx's JSON frames) and counts every delivery
// exactly: each receiver must see every accepted message of its room once.
//
//	chatbench -urls http://127.0.0.1:8081,http://127.0.0.1:8082 \
//	    -rooms 50 -members 100 -senders 2 -rate 5 -duration 30s -pids 1234,1235
//
// With -proto socketio it drives the Cloud Run WebSocket tutorial's Node.js
// service instead, as a Socket.IO 4 client (socketio.go), counting the
// same way, so that both services are measured by one generator:
//
//	chatbench -proto socketio -urls http://127.0.0.1:8091,http://127.0.0.1:8092 \
//	    -rooms 20 -members 10 -senders 1 -rate 5 -duration 10s -pids 2345,2346
//
// With -day it runs a realistic day instead (day.go): thousands of people,
// each signed in once with a socket per room, mostly reading, writing now
// and then, typing, reloading and polling as pages do, and it reads what the
// instances and Redis spent per 1,000 of them (docs/perf/day.sh):
//
//	chatbench -day -day-people 2000 -day-duration 5m -day-redis 127.0.0.1:6391 \
//	    -urls http://127.0.0.1:8081,http://127.0.0.1:8082 -pids 1234,1235
//
// It refuses targets that are not on loopback unless -allow-remote is given.
// Run with -h for every flag.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := dispatch(ctx, os.Args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chatbench:", err)
		os.Exit(1)
	}
}

// dispatch runs a day when the flags ask for one (-day) and hands everything
// else to run, which reports bad flags and prints -h's usage itself.
func dispatch(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 1 && args[1] != "chart" {
		if cfg, err := parseConfig(args[1:], io.Discard); err == nil && cfg.day.on {
			return runDay(ctx, cfg, stdout)
		}
	}
	return run(ctx, args, stdout)
}
