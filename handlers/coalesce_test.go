package handlers

import (
	"bytes"
	"testing"
)

func TestCoalesce(t *testing.T) {
	first := []byte("<a/>")
	out := make(chan []byte, 8)
	if got := coalesce(first, out); &got[0] != &first[0] {
		t.Error("a lone frame was copied")
	}
	out <- []byte("<b/>")
	out <- []byte("<c/>")
	if got := coalesce(first, out); string(got) != "<a/><b/><c/>" {
		t.Errorf("waiting frames joined as %q", got)
	}
	if string(first) != "<a/>" {
		t.Error("the shared first frame was modified")
	}
	// A closed queue ends the batch with what was taken.
	out <- []byte("<d/>")
	close(out)
	if got := coalesce(first, out); string(got) != "<a/><d/>" {
		t.Errorf("with the queue closed: %q", got)
	}
	// A batch stops growing past maxCoalesced.
	big := bytes.Repeat([]byte("x"), maxCoalesced/2)
	out = make(chan []byte, 8)
	for range 4 {
		out <- big
	}
	got := coalesce(big, out)
	if len(got) > maxCoalesced+len(big) || len(out) == 0 {
		t.Errorf("batch of %d bytes, %d frames left; want it bounded near %d", len(got), len(out), maxCoalesced)
	}
	huge := bytes.Repeat([]byte("y"), 2*maxCoalesced)
	if got := coalesce(huge, out); len(got) != len(huge) {
		t.Errorf("a frame over the bound alone came back as %d bytes", len(got))
	}
}
