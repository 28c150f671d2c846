package handlers

import (
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"testing"

	"github.com/chatrun/chat/files"
	"github.com/chatrun/chat/files/diskstore"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
)

// BenchmarkUploadOverHTTP is what one 10 MiB file costs the chat end to
// end: the page's POST /rooms/{room}/uploads (multipart, streamed from a
// pipe as a browser sends it), the handler, the service's sniffing and
// stripping, and a folder store. B/op counts both ends, client included:
// it stays far below the file's size because nothing holds the file whole.
func BenchmarkUploadOverHTTP(b *testing.B) {
	store, err := diskstore.New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	svc := files.NewService(store, files.Limits{MaxBytes: 10 << 20}, slog.New(slog.DiscardHandler))
	_, ts := newTestServer(b, Config{Files: svc, UploadPerHour: 1 << 40})
	room := testkit.Room()
	u := chattest.NewUser(b, ts.URL)
	u.SignIn("Ann", room)
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = byte(i*7 + i>>8)
	}
	const size = 10<<20 - 1<<10
	b.SetBytes(size)
	b.ReportAllocs()
	for i := range b.N {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			w, err := mw.CreateFormFile("files", fmt.Sprintf("data-%d.bin", i))
			for left := size; left > 0 && err == nil; left -= len(chunk) {
				_, err = w.Write(chunk[:min(left, len(chunk))])
			}
			if err == nil {
				err = mw.Close()
			}
			pw.CloseWithError(err)
		}()
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/rooms/"+room+"/uploads", pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Origin", ts.URL)
		resp, err := u.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("upload: %d", resp.StatusCode)
		}
	}
}
