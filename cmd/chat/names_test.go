package main

import (
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// Twenty people sign in as "Alice" in one room at the same moment, over
// two instances: exactly one gets the name; the others are told it is
// taken, and get no cookie.
func TestSimultaneousSignInsGiveANameOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, st store) {
		env := st.shared()
		a, b := startInstance(t, env), startInstance(t, env)
		room := uniqueRoom()
		users := make([]*user, 20)
		for i := range users {
			users[i] = newUser(t, []string{a.URL, b.URL}[i%2])
		}
		var won, refused atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, u := range users {
			wg.Go(func() {
				<-start
				resp := u.postForm("/signin", url.Values{"name": {"Alice"}, "room": {room}})
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusSeeOther:
					won.Add(1)
				case http.StatusUnprocessableEntity:
					refused.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if won.Load() != 1 || refused.Load() != 19 {
			t.Fatalf("%d sign-ins got the name and %d were refused, want 1 and 19", won.Load(), refused.Load())
		}
	})
}
