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
// It refuses targets that are not on loopback unless -allow-remote is given.
// Run with -h for every flag.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chatbench:", err)
		os.Exit(1)
	}
}
