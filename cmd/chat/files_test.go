package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chatrun/chat/files/filestest"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
	"github.com/chatrun/chat/testkit/redistest"
)

// upload is one file part of a multipart body.
type upload struct {
	name, typ string
	data      []byte
}

// multipartBody is a form as a browser sends it: fields, then the files
// in the part "files".
func multipartBody(t *testing.T, fields url.Values, ups ...upload) (*bytes.Buffer, string) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range fields {
		for _, v := range vs {
			if err := mw.WriteField(k, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, u := range ups {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="files"; filename=%q`, u.name))
		h.Set("Content-Type", u.typ)
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(u.data)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &body, mw.FormDataContentType()
}

// postMultipart posts a multipart form to path as the page does, with the
// instance as Origin, and returns the status and the body.
func postMultipart(t *testing.T, u *chattest.User, path string, fields url.Values, ups ...upload) (int, string) {
	t.Helper()
	body, typ := multipartBody(t, fields, ups...)
	req, err := http.NewRequest(http.MethodPost, u.Base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", typ)
	req.Header.Set("Origin", u.Base)
	resp, err := u.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var uploadID = regexp.MustCompile(`"id":"([A-Z2-7]{26})"`)

// uploadFile uploads one file as the page's script does and returns its
// id, failing the test unless it is stored (201).
func uploadFile(t *testing.T, u *chattest.User, room string, up upload) string {
	t.Helper()
	code, body := postMultipart(t, u, "/rooms/"+room+"/uploads", nil, up)
	m := uploadID.FindStringSubmatch(body)
	if code != http.StatusCreated || m == nil {
		t.Fatalf("upload %s: %d %s, want 201 and its id", up.name, code, body)
	}
	return m[1]
}

// uploadsEnv is env with uploads on a fresh fake Cloud Storage bucket; it
// returns the bucket's objects as a function.
func uploadsEnv(t *testing.T, env map[string]string) (map[string]string, func() []string) {
	host, client, bucket := filestest.FakeGCS(t)
	env["UPLOAD_BUCKET"], env["STORAGE_EMULATOR_HOST"] = bucket, host
	return env, func() []string { return filestest.Objects(t, client, bucket) }
}

// Each refusal of item 2 answers with its reason, and nothing of it is
// stored: not the file, not a part, not a marker. A JPEG with GPS data is
// kept and served without it.
func TestUploadsRefusedAndNothingStored(t *testing.T) {
	env, objects := uploadsEnv(t, sharedEnv(""))
	env["UPLOAD_MAX"] = "10MB"
	inst := startInstance(t, env)
	room := testkit.Room()
	ann := chattest.NewUser(t, inst.URL)
	ann.SignIn("Ann", room)

	for _, c := range []struct {
		what string
		up   upload
		code int
		want string
	}{
		{"11 MB", upload{"big.pdf", "application/pdf", filestest.Big(11 << 20)}, http.StatusRequestEntityTooLarge, "at most 10 MB"},
		{"an HTML page named .png", upload{"cat.png", "image/png", filestest.HTMLAsPNG()}, http.StatusUnprocessableEntity, ""},
		// Refused from its first bytes, answered once the rest is read.
		{"a 3 MB page named .png", upload{"cats.png", "image/png", append(filestest.HTMLAsPNG(), bytes.Repeat([]byte("<p>cat</p>\n"), 300_000)...)}, http.StatusUnprocessableEntity, ""},
		{"an SVG drawing with a script", upload{"logo.svg", "image/svg+xml", filestest.SVGWithScript()}, http.StatusUnprocessableEntity, "SVG"},
		{"a 30,000 × 30,000 PNG", upload{"bomb.png", "image/png", filestest.PNGBomb(30000, 30000)}, http.StatusUnprocessableEntity, "megapixels"},
		{"an empty file", upload{"empty.txt", "text/plain", nil}, http.StatusUnprocessableEntity, "empty"},
	} {
		code, body := postMultipart(t, ann, "/rooms/"+room+"/uploads", nil, c.up)
		if code != c.code || !strings.Contains(body, `"error":"`) || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want %d and a reason saying %q", c.what, code, body, c.code, c.want)
		}
		if objs := objects(); len(objs) != 0 {
			t.Fatalf("%s: the bucket holds %q after the refusal", c.what, objs)
		}
	}
	t.Logf("PNG bomb: %d bytes", len(filestest.PNGBomb(30000, 30000)))

	// A fifth file: the socket's frame is refused, the message is not
	// stored, the four uploads stay pending (the sweep takes them).
	ids := make([]string, 5)
	for i := range ids {
		ids[i] = uploadFile(t, ann, room, upload{fmt.Sprintf("p%d.png", i), "image/png", filestest.PNG(40, 30)})
	}
	ws := ann.Dial(room)
	ws.Next()
	ws.SendRaw([]byte(`{"text":"five","nonce":"n5","uploads":["` + strings.Join(ids, `","`) + `"]}`))
	if f := ws.Until("at most 4 files"); strings.Contains(f, "five") && strings.Contains(f, "<li id=\"msg-") {
		t.Fatalf("the message with five files was stored: %s", f)
	}
	if _, page := ann.Get("/rooms/" + room); strings.Contains(page, ids[0]) {
		t.Fatal("the room shows a file of the refused message")
	}

	// GPS: kept without it, for the uploader and everyone else.
	id := uploadFile(t, ann, room, upload{"whiteboard.jpg", "image/jpeg", filestest.JPEGWithGPS()})
	if !filestest.HasGPS(filestest.JPEGWithGPS()) {
		t.Fatal("the fixture has no GPS data: the test proves nothing")
	}
	ws.SendRaw([]byte(`{"text":"the board","nonce":"n6","uploads":["` + id + `"]}`))
	ws.Until("the board")
	bob := chattest.NewUser(t, inst.URL)
	bob.SignIn("Bob", room)
	resp, body := bob.Get("/files/" + id)
	if resp.StatusCode != http.StatusOK || filestest.HasGPS([]byte(body)) {
		t.Fatalf("Bob's download: %d, GPS %v; want 200 without GPS", resp.StatusCode, filestest.HasGPS([]byte(body)))
	}
	for k, want := range map[string]string{
		"Content-Type":            "image/jpeg",
		"X-Content-Type-Options":  "nosniff",
		"Content-Disposition":     "inline",
		"Content-Security-Policy": "sandbox",
	} {
		if got := resp.Header.Get(k); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q in it", k, got, want)
		}
	}
	if resp, body := bob.Get("/files/" + id + "/thumb"); resp.StatusCode != http.StatusOK || filestest.HasGPS([]byte(body)) || len(body) == 0 {
		t.Errorf("the thumbnail: %d, %d bytes", resp.StatusCode, len(body))
	}
}

// A PDF is a download under its name, whatever the uploader claimed its
// type to be; a file's name is escaped on the page.
func TestUploadsServedAsDownloads(t *testing.T) {
	env, _ := uploadsEnv(t, sharedEnv(""))
	inst := startInstance(t, env)
	room := testkit.Room()
	ann := chattest.NewUser(t, inst.URL)
	ann.SignIn("Ann", room)
	id := uploadFile(t, ann, room, upload{`agenda "<b>Q4" & notes.pdf`, "text/html", filestest.PDF()})
	ws := ann.Dial(room)
	ws.Next()
	ws.SendRaw([]byte(`{"text":"","nonce":"p1","uploads":["` + id + `"]}`))
	ws.Until(id)
	resp, body := ann.Get("/files/" + id)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pdf" || !bytes.Equal([]byte(body), filestest.PDF()) {
		t.Fatalf("the PDF: %d %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	if d := resp.Header.Get("Content-Disposition"); !strings.HasPrefix(d, "attachment") || !strings.Contains(d, "agenda") {
		t.Errorf("Content-Disposition %q, want an attachment named after the file", d)
	}
	if _, page := ann.Get("/rooms/" + room); strings.Contains(page, "<b>Q4") || !strings.Contains(page, "&lt;b&gt;Q4") {
		t.Error("the file's name is not shown escaped")
	}
}

// Behind IAP on two instances: a file of a private room is refused to
// someone not in it; once its message is deleted, its files answer 404
// and are gone from the bucket.
func TestUploadsOnlyForReadersAndGoneWithTheirMessage(t *testing.T) {
	iap := newFakeIAP(t)
	env, objects := uploadsEnv(t, iap.env(sharedEnv(redistest.Addr(t))))
	a, b := startInstance(t, env), startInstance(t, env)
	room := testkit.Room()
	tag := strings.TrimPrefix(room, "room-")[:6]
	as := func(base, subject string) *chattest.User {
		u := chattest.NewUser(t, base)
		u.SetHeader(iapHeader, iap.token(t, "accounts.google.com:"+subject+"-"+tag))
		return u
	}
	ann, carol := as(a.URL, "ann"), as(b.URL, "carol")
	if code, _ := status(t, ann, "/rooms", url.Values{"room": {room}, "visibility": {"private"}}); code != http.StatusSeeOther {
		t.Fatalf("create a private room: %d, want 303", code)
	}
	ann.SignIn("Ann "+tag, room)
	pic := uploadFile(t, ann, room, upload{"plan.png", "image/png", filestest.Screenshot()})
	doc := uploadFile(t, ann, room, upload{"plan.pdf", "application/pdf", filestest.PDF()})
	ws := ann.Dial(room)
	ws.Next()
	ws.SendRaw([]byte(`{"text":"the plan","nonce":"a1","uploads":["` + pic + `","` + doc + `"]}`))
	ws.Until("the plan")

	carol.SignIn("Carol "+tag, room)
	for _, p := range []string{"/files/" + pic, "/files/" + pic + "/thumb", "/files/" + doc} {
		if resp, body := carol.Get(p); resp.StatusCode != http.StatusForbidden || strings.Contains(body, "%PDF") {
			t.Errorf("Carol, not in the room, gets %s: %d, want 403", p, resp.StatusCode)
		}
	}
	// Without a session at all: 401.
	if resp, _ := chattest.NewUser(t, b.URL).Get("/files/" + doc); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("no session: %d, want 401", resp.StatusCode)
	}
	if resp, _ := ann.On(b.URL).Get("/files/" + doc); resp.StatusCode != http.StatusOK {
		t.Fatalf("Ann, on the other instance: %d, want 200", resp.StatusCode)
	}
	if len(objects()) == 0 {
		t.Fatal("the bucket is empty before the deletion")
	}

	ws.SendRaw([]byte(`{"delete":"1","nonce":"a2"}`))
	ws.Until(`id="msg-1"`)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	testkit.WaitFor(t, ctx, "the deleted message's files gone from the bucket", func() bool { return len(objects()) == 0 })
	for _, p := range []string{"/files/" + pic, "/files/" + pic + "/thumb", "/files/" + doc} {
		if resp, _ := ann.Get(p); resp.StatusCode != http.StatusNotFound {
			t.Errorf("after the deletion %s: %d, want 404", p, resp.StatusCode)
		}
	}
}

// Without JavaScript the send form posts its files: the message arrives
// with them; a refused file answers 422 with the room page saying why, and
// nothing of the message is stored.
func TestUploadsThroughTheFormWithoutJavaScript(t *testing.T) {
	env, objects := uploadsEnv(t, sharedEnv(""))
	inst := startInstance(t, env)
	room := testkit.Room()
	ann := chattest.NewUser(t, inst.URL)
	ann.SignIn("Ann", room)
	_, page := ann.Get("/rooms/" + room)
	for _, want := range []string{`enctype="multipart/form-data"`, `<input type="file" id="files" name="files" multiple`} {
		if !strings.Contains(page, want) {
			t.Fatalf("the room page has no %s", want)
		}
	}

	code, body := postMultipart(t, ann, "/rooms/"+room+"/messages", url.Values{"text": {"the bomb and the agenda"}, "nonce": {"f1"}},
		upload{"agenda.pdf", "application/pdf", filestest.PDF()},
		upload{"bomb.png", "image/png", filestest.PNGBomb(30000, 30000)})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "megapixels") || !strings.Contains(body, `id="send"`) || !strings.Contains(body, "the bomb and the agenda") {
		t.Fatalf("a form with a refused file: %d, want 422 with the room page, the reason and the text kept", code)
	}
	if objs := objects(); len(objs) != 0 {
		t.Fatalf("the bucket holds %q after the refused form", objs)
	}
	if _, page := ann.Get("/rooms/" + room); strings.Contains(page, `id="msg-1"`) {
		t.Fatal("the refused form's message was stored")
	}

	code, _ = postMultipart(t, ann, "/rooms/"+room+"/messages", url.Values{"text": {"the agenda"}, "nonce": {"f2"}},
		upload{"agenda.pdf", "application/pdf", filestest.PDF()},
		upload{"screen.png", "image/png", filestest.Screenshot()})
	if code != http.StatusSeeOther {
		t.Fatalf("the form with two files: %d, want 303", code)
	}
	_, page = ann.Get("/rooms/" + room)
	img := regexp.MustCompile(`<img src="/files/([A-Z2-7]{26})/thumb"[^>]* width="\d+" height="\d+"[^>]* alt="screen.png"`).FindStringSubmatch(page)
	if img == nil || !strings.Contains(page, `agenda.pdf`) || !strings.Contains(page, "the agenda") {
		t.Fatalf("the room after the form shows no thumbnail with its size, or no PDF link:\n%s", page)
	}
	if resp, _ := ann.Get("/files/" + img[1] + "/thumb"); resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") == "" {
		t.Errorf("the thumbnail: %d", resp.StatusCode)
	}
	// The same form again (a double submit): stored once.
	postMultipart(t, ann, "/rooms/"+room+"/messages", url.Values{"text": {"the agenda"}, "nonce": {"f2"}},
		upload{"agenda.pdf", "application/pdf", filestest.PDF()})
	if _, page := ann.Get("/rooms/" + room); strings.Count(page, ">the agenda<") != 1 {
		t.Error("a repeated form was stored twice")
	}
}

// A message's files outlive the Redis window: scrollback read from
// Firestore shows the thumbnail with its size and the PDF's link, and
// both still open.
func TestUploadsInScrollbackFromFirestore(t *testing.T) {
	env, _ := uploadsEnv(t, firestoreEnv(t, redistest.Start(t).Addr))
	a, b := startInstance(t, env), startInstance(t, env)
	room := testkit.Room()
	ann := chattest.NewUser(t, a.URL)
	ann.SignIn("Ann", room)
	if code, _ := postMultipart(t, ann, "/rooms/"+room+"/messages", url.Values{"text": {"the first plan"}, "nonce": {"s1"}},
		upload{"plan.png", "image/png", filestest.Screenshot()},
		upload{"plan.pdf", "application/pdf", filestest.PDF()}); code != http.StatusSeeOther {
		t.Fatalf("the post with files: %d", code)
	}
	for i := range 25 {
		post(t, ann, room, fmt.Sprint("m", i+2))
	}
	waitArchived(t, env, room, 26)
	reader := chattest.NewUser(t, b.URL)
	reader.SignIn("Cy", room)
	if _, page := reader.Get("/rooms/" + room); strings.Contains(page, "the first plan") {
		t.Fatal("message 1 is still in the room's window (HISTORY_SIZE 20): the test reads no scrollback")
	}
	_, page := reader.Get("/rooms/" + room + "?before=6")
	img := regexp.MustCompile(`<img src="/files/([A-Z2-7]{26})/thumb" width="(\d+)" height="(\d+)" alt="plan.png"`).FindStringSubmatch(page)
	pdf := regexp.MustCompile(`<a href="/files/([A-Z2-7]{26})" download="plan.pdf"`).FindStringSubmatch(page)
	if img == nil || pdf == nil || img[2] == "0" || !strings.Contains(page, "the first plan") {
		t.Fatalf("scrollback from Firestore shows no thumbnail with its size, or no PDF link:\n%s", page)
	}
	for _, p := range []string{"/files/" + img[1] + "/thumb", "/files/" + img[1], "/files/" + pdf[1]} {
		if resp, _ := reader.Get(p); resp.StatusCode != http.StatusOK {
			t.Errorf("%s from scrollback: %d", p, resp.StatusCode)
		}
	}
}

// A session's uploads are limited in bytes an hour (UPLOAD_PER_HOUR): the
// file that goes past the budget is stored, the next is refused with why.
func TestUploadsAreLimitedPerSession(t *testing.T) {
	env, _ := uploadsEnv(t, sharedEnv(""))
	env["UPLOAD_PER_HOUR"] = "1MB"
	inst := startInstance(t, env)
	room := testkit.Room()
	ann := chattest.NewUser(t, inst.URL)
	ann.SignIn("Ann", room)
	uploadFile(t, ann, room, upload{"a.bin", "application/octet-stream", filestest.Big(600 << 10)})
	uploadFile(t, ann, room, upload{"b.bin", "application/octet-stream", filestest.Big(600 << 10)})
	code, body := postMultipart(t, ann, "/rooms/"+room+"/uploads", nil, upload{"c.bin", "application/octet-stream", filestest.Big(10 << 10)})
	if code != http.StatusTooManyRequests || !strings.Contains(body, "uploaded a lot in the last hour") {
		t.Fatalf("past the hour's budget: %d %s, want 429 and why", code, body)
	}
	// Another session is not held back by Ann's uploads.
	bob := chattest.NewUser(t, inst.URL)
	bob.SignIn("Bob", room)
	uploadFile(t, bob, room, upload{"d.bin", "application/octet-stream", filestest.Big(10 << 10)})
}
