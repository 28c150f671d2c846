package handlers

import (
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/coder/websocket"

	"github.com/chatrun/chat/static"
)

// The close codes the server uses mean what htmx's ws extension, as
// vendored, does with them: reconnect, or stop for good.
func TestCloseCodesMatchHxWs(t *testing.T) {
	src, err := fs.ReadFile(static.FS, "hx-ws.js")
	if err != nil {
		t.Fatal(err)
	}
	list := regexp.MustCompile(`reconnectCodes:\s*\[([^\]]*)\]`).FindSubmatch(src)
	if list == nil {
		t.Fatal("no reconnectCodes list in hx-ws.js: re-read it after an update")
	}
	var reconnects []websocket.StatusCode
	for _, m := range regexp.MustCompile(`\b(1\d{3})\b`).FindAllSubmatch(list[1], -1) {
		n, _ := strconv.Atoi(string(m[1]))
		reconnects = append(reconnects, websocket.StatusCode(n))
	}
	for _, c := range []websocket.StatusCode{
		websocket.StatusServiceRestart, // draining: go to another instance
		websocket.StatusTryAgainLater,  // too slow, or the broker is down
	} {
		if !slices.Contains(reconnects, c) {
			t.Errorf("hx-ws does not reconnect after %v, which the server sends to mean 'come back'", c)
		}
	}
	for _, c := range []websocket.StatusCode{
		websocket.StatusPolicyViolation, // no session: sign in again
		websocket.StatusMessageTooBig,   // over the frame limit
	} {
		if slices.Contains(reconnects, c) {
			t.Errorf("hx-ws reconnects after %v, which the server sends to mean 'stop'", c)
		}
	}
}
