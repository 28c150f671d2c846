package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/chatrun/chat/files/filestest"
	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/redistest"
)

// Attachments in the browser (static/upload.js and chat.js's outbox):
// files come in by the field, a drop or a paste, upload at once into the
// tray, and ride a message that is sent once they are all there.

// uploadEnv is one instance's environment with uploads kept in a
// directory of the test's.
func uploadEnv(t *testing.T) map[string]string {
	env := sharedEnv("")
	env["UPLOAD_DIR"] = t.TempDir()
	return env
}

// fileJS is a JavaScript expression making a File of b named name.
func fileJS(b []byte, name, typ string) string {
	n, _ := json.Marshal(name)
	ty, _ := json.Marshal(typ)
	return fmt.Sprintf(`new File([Uint8Array.from(atob(%q), c => c.charCodeAt(0))], %s, {type: %s})`,
		base64.StdEncoding.EncodeToString(b), n, ty)
}

// pasteFile pastes a file into the message box as the clipboard holds a
// screenshot: a real paste event (ClipboardEvent) with a DataTransfer
// holding it. DevTools cannot put a file on the system's clipboard.
func (p *tab) pasteFile(b []byte, name, typ string) {
	p.t.Helper()
	p.do(chromedp.Evaluate[chromedp.Void](`(() => {
		const dt = new DataTransfer();
		dt.items.add(` + fileJS(b, name, typ) + `);
		const box = document.querySelector('#text');
		box.focus();
		box.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
	})()`))
}

// dragFiles drags files over the message box, checks that the form says
// where to drop them, and drops them.
func (p *tab) dropFiles(files ...string) {
	p.t.Helper()
	p.do(chromedp.Evaluate[chromedp.Void](`(() => {
		const dt = new DataTransfer();
		for (const f of [` + strings.Join(files, ", ") + `]) dt.items.add(f);
		window.__dt = dt;
		const box = document.querySelector('#text');
		for (const type of ['dragenter', 'dragover']) box.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
	})()`))
	p.waitJS(`document.querySelector('#send').classList.contains('dropping') && !document.querySelector('#drop-hint').hidden`)
	p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#text').dispatchEvent(new DragEvent('drop', {dataTransfer: window.__dt, bubbles: true, cancelable: true}))`))
	p.waitJS(`!document.querySelector('#send').classList.contains('dropping') && document.querySelector('#drop-hint').hidden`)
}

// trayStates returns the tray's items as "name|state" in order.
func (p *tab) trayStates() []string {
	return evalJS[[]string](p, `[...document.querySelectorAll('#attachments > li.attachment')].map(li => li.querySelector('.name').textContent + '|' + li.dataset.state)`)
}

// countXHRs makes the page count the requests it starts with
// XMLHttpRequest (window.__xhrs): the uploads.
func (p *tab) countXHRs() {
	p.do(chromedp.Evaluate[chromedp.Void](`(() => {
		window.__xhrs = 0;
		const send = XMLHttpRequest.prototype.send;
		XMLHttpRequest.prototype.send = function (...a) { window.__xhrs++; return send.apply(this, a); };
	})()`))
}

// pressEnter sends the message box with a real Enter.
func (p *tab) pressEnter() {
	p.do(chromedp.Focus(chromedp.CSS("#text")), chromedp.KeyEvent(kb.Enter))
}

// Ann, on one instance, pastes a screenshot and drops a PDF, and presses
// Enter: Bob, on the other, sees the picture (its size set before it
// loads) and the PDF's link within 2 s of the frame leaving, the picture
// loads and opens, and someone who comes in later sees both.
func TestBrowserAttachmentsAcrossInstances(t *testing.T) {
	host, _, bucket := filestest.FakeGCS(t)
	env := sharedEnv(redistest.Addr(t))
	env["UPLOAD_BUCKET"] = bucket
	env["STORAGE_EMULATOR_HOST"] = host
	a, b := startInstance(t, env), startInstance(t, env)
	browser := newBrowser(t)
	room := testkit.Room()

	ann, bob := newTab(t, browser), newTab(t, browser)
	ann.signIn(a.URL, "Ann", room)
	ann.waitJS(connected)
	bob.signIn(b.URL, "Bob", room)
	bob.waitJS(connected)
	ann.waitJS(`document.querySelector('#notices').textContent.includes('Bob entered the room.')`)

	// When the frame leaves Ann's page, and when Bob's shows the message.
	ann.do(chromedp.Evaluate[chromedp.Void](`(() => {
		const send = WebSocket.prototype.send;
		WebSocket.prototype.send = function (data) {
			if (typeof data === 'string' && data.includes('"uploads"')) { window.__sentAt = Date.now(); window.__frames = (window.__frames || 0) + 1; window.__frame = data; }
			return send.call(this, data);
		};
	})()`))
	bob.do(chromedp.Evaluate[chromedp.Void](`new MutationObserver(() => {
		if (window.__shownAt) return;
		const li = [...document.querySelectorAll('#messages > li')].find(li => li.querySelector('ul.files li.image img') && li.querySelector('ul.files li.file a[download]'));
		if (li) window.__shownAt = Date.now();
	}).observe(document.querySelector('#messages'), {childList: true, subtree: true})`))

	shot, pdf := filestest.Screenshot(), filestest.PDF()
	ann.pasteFile(shot, "image.png", "image/png")
	ann.waitJS(`document.querySelectorAll('#attachments > li.attachment').length === 1 && !document.querySelector('#attachments').hidden`)
	name := evalJS[string](ann, `document.querySelector('#attachments > li .name').textContent`)
	if !regexp.MustCompile(`^screenshot-\d{4}-\d\d-\d\d-\d{6}\.png$`).MatchString(name) {
		t.Errorf("the pasted screenshot is named %q, want screenshot-YYYY-MM-DD-HHMMSS.png", name)
	}
	ann.dropFiles(fileJS(pdf, "notes for Bob.pdf", "application/pdf"))
	ann.waitJS(`document.querySelectorAll('#attachments > li.attachment').length === 2`)
	if label := evalJS[string](ann, `document.querySelector('#attachments > li:nth-child(2) button.remove').getAttribute('aria-label')`); label != "Cancel upload of notes for Bob.pdf" && label != "Remove notes for Bob.pdf" {
		t.Errorf("the PDF's button is called %q", label)
	}
	ann.waitJS(`[...document.querySelectorAll('#attachments > li')].every(li => li.dataset.state === 'done')`)
	// The file field holds nothing: its files went to the tray.
	if n := evalJS[int](ann, `document.querySelector('#files').files.length`); n != 0 {
		t.Errorf("the file field still holds %d files", n)
	}

	ann.do(chromedp.Focus(chromedp.CSS("#text")), chromedp.KeyEvent("see these"), chromedp.KeyEvent(kb.Enter))
	// The tray empties into the outbox at once.
	ann.waitJS(`document.querySelector('#attachments').hidden && document.querySelectorAll('#attachments > li').length === 0`)
	bob.waitJS(`window.__shownAt`)
	ann.waitJS(`window.__sentAt && document.querySelector('#outbox').children.length === 0`)
	took := time.Duration(evalJS[float64](bob, `window.__shownAt`)-evalJS[float64](ann, `window.__sentAt`)) * time.Millisecond
	t.Logf("from the frame leaving Ann's page to Bob's showing the files: %v", took)
	if took >= 2*time.Second {
		t.Errorf("Bob saw the files %v after Ann's frame left, want < 2 s", took)
	}
	if n := evalJS[int](ann, `window.__frames`); n != 1 {
		t.Errorf("Ann's page sent %d frames with uploads, want 1", n)
	}
	var frame struct {
		Text    string   `json:"text"`
		Nonce   string   `json:"nonce"`
		Uploads []string `json:"uploads"`
	}
	if err := json.Unmarshal([]byte(evalJS[string](ann, `window.__frame`)), &frame); err != nil || frame.Text != "see these" || frame.Nonce == "" || len(frame.Uploads) != 2 {
		t.Errorf("the frame: %+v (%v)", frame, err)
	}

	check := func(p *tab, who string) {
		t.Helper()
		p.waitJS(`(() => {
			const li = [...document.querySelectorAll('#messages > li')].find(li => li.querySelector(':scope > .text')?.textContent === 'see these');
			if (!li) return false;
			const img = li.querySelector('ul.files > li.file.image > a > img');
			const pdf = li.querySelector('ul.files > li.file:not(.image) > a[download]');
			return img && Number(img.getAttribute('width')) > 0 && Number(img.getAttribute('height')) > 0 &&
				img.getAttribute('src').endsWith('/thumb') && /^screenshot-.*\.png$/.test(img.alt) &&
				pdf && pdf.textContent === 'notes for Bob.pdf' && pdf.getAttribute('download') === 'notes for Bob.pdf' &&
				pdf.parentElement.querySelector('small.file-meta').textContent.includes('PDF');
		})()`)
		// The thumbnail loads, and the picture opens.
		p.waitJS(`(() => { const img = document.querySelector('#messages ul.files img'); return img.complete && img.naturalWidth > 0; })()`)
		got := awaitJS[string](p, `new Promise(done => {
			const a = document.querySelector('#messages ul.files li.image > a');
			fetch(a.href).then(async r => done(r.status + ' ' + r.headers.get('content-type') + ' ' + (await r.arrayBuffer()).byteLength), e => done(String(e)));
		})`)
		if want := fmt.Sprintf("200 image/png %d", len(shot)); got != want {
			t.Errorf("%s opening the picture: %s, want %s", who, got, want)
		}
	}
	for _, p := range []*tab{bob, ann} {
		check(p, evalJS[string](p, `document.querySelector('#chat').dataset.me`))
	}
	// Someone who comes in later, on either instance.
	cy := newTab(t, browser)
	cy.signIn(b.URL, "Cy", room)
	cy.waitJS(connected)
	check(cy, "Cy")
}

// Through a slow network (a 200 ms round trip, uploads at 1 MB/s), a
// larger file shows its progress; cancelling it stops the upload and
// takes it away; a cut during an upload leaves the message in the outbox,
// not sent and saying why, and once the network is back and Retry is
// pressed it arrives once, with its file.
func TestBrowserUploadProgressCancelAndCut(t *testing.T) {
	inst := startInstance(t, uploadEnv(t))
	browser := newBrowser(t)
	room := testkit.Room()
	ann := newTab(t, browser)
	proxy := phone(t, ann, inst, "Ann", room)
	if _, err := chromedp.Call(ann.ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ann.ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
		MatchedNetworkConditions: []*network.Conditions{{URLPattern: proxy.URL() + "/rooms/*/uploads", UploadThroughput: 1 << 20, DownloadThroughput: -1}},
	}); err != nil {
		t.Fatal(err)
	}
	ann.countXHRs()
	// The tray's words as they change.
	ann.do(chromedp.Evaluate[chromedp.Void](`window.__said = new Set(); new MutationObserver(() => {
		for (const s of document.querySelectorAll('#attachments .state, #outbox .file-state')) window.__said.add(s.textContent);
	}).observe(document.querySelector('#send').parentElement, {childList: true, subtree: true, characterData: true})`))

	// A file of 4 MB (or half the largest file): 4 s at 1 MB/s.
	size := min(4<<20, evalJS[int](ann, `Number(document.querySelector('#send').dataset.uploadMax)`)/2)
	bigJS := fileJS(filestest.Big(size), "big.bin", "application/octet-stream")
	ann.dropFiles(bigJS)
	ann.waitJS(`(() => { const p = document.querySelector('#attachments > li progress'); return p && !p.hidden && p.value > 0.05 && p.value < 0.9; })()`)
	label := evalJS[string](ann, `document.querySelector('#attachments > li button.remove').getAttribute('aria-label')`)
	if label != "Cancel upload of big.bin" {
		t.Errorf("during the upload the button is called %q", label)
	}
	if said := evalJS[[]string](ann, `[...window.__said]`); !containsMatch(said, `^Uploading… \d+%$`) {
		t.Errorf("the tray said %q, want its progress", said)
	}
	// Cancel: the upload stops and the file goes.
	ann.do(chromedp.Click(chromedp.CSS(`#attachments > li button.remove`)))
	ann.waitJS(`document.querySelector('#attachments').hidden && document.querySelectorAll('#attachments > li').length === 0`)
	ann.waitJS(`document.querySelector('#attachments-status').textContent === 'Upload of big.bin cancelled.' && document.activeElement.id === 'text'`)

	// A cut during an upload: the message waits in the outbox, says why.
	ann.dropFiles(bigJS)
	ann.do(chromedp.Focus(chromedp.CSS("#text")), chromedp.KeyEvent("the big one"), chromedp.KeyEvent(kb.Enter))
	ann.waitJS(`document.querySelector('#outbox > li[data-state="uploading"] .pending-files > li[data-state="uploading"]')`)
	ann.waitJS(`document.querySelector('#outbox .pending-files .file-state').textContent.match(/^Uploading… [1-9]\d*%$/)`)
	proxy.cut()
	ann.waitJS(`document.querySelector('#outbox > li[data-state="failed"]')`)
	why := evalJS[string](ann, `document.querySelector('#outbox > li .state').textContent`)
	if !strings.HasPrefix(why, "Not sent yet: big.bin was not uploaded. ") || !strings.Contains(why, "connection") {
		t.Errorf("the outbox says %q, want that the file was not uploaded for the connection", why)
	}
	if !evalJS[bool](ann, `!document.querySelector('#outbox > li .actions').hidden && !!document.querySelector('#outbox > li button[data-action="retry"]')`) {
		t.Error("the failed message offers no Retry")
	}
	if n := len(ann.messageIDs()); n != 0 {
		t.Fatalf("%d messages on the page after the cut, want none", n)
	}
	proxy.restore()
	// Back: the page reconnects by itself (and tries the upload again);
	// Retry, pressed while the page still offers it, goes at once.
	ann.waitJS(connected + ` || !document.querySelector('#retry').hidden`)
	retried := evalJS[bool](ann, `(() => { const b = document.querySelector('#outbox > li[data-state="failed"] button[data-action="retry"]'); b?.click(); return !!b; })()`)
	t.Logf("Retry pressed: %v (else the page tried the upload again by itself)", retried)
	ann.waitJS(`document.querySelectorAll('#messages > li').length === 1 && document.querySelector('#outbox').children.length === 0`)
	// A sentinel: anything sent twice would have come before it.
	ann.do(chromedp.Focus(chromedp.CSS("#text")), chromedp.KeyEvent("after"), chromedp.KeyEvent(kb.Enter))
	ann.waitIDs("msg-1", "msg-2")
	if got := evalJS[string](ann, `(() => { const li = document.querySelector('#msg-1'); return li.querySelector('.text').textContent + '|' + li.querySelectorAll('ul.files > li').length + '|' + li.querySelector('ul.files a[download]')?.textContent; })()`); got != "the big one|1|big.bin" {
		t.Errorf("the message that arrived: %s", got)
	}
	// A second page sees it once, too.
	bob := newTab(t, browser)
	bob.signIn(inst.URL, "Bob", room)
	bob.waitIDs("msg-1", "msg-2")
}

func containsMatch(ss []string, pattern string) bool {
	re := regexp.MustCompile(pattern)
	for _, s := range ss {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// A fifth file and one too large are refused in the tray at once, saying
// why, and nothing of them is uploaded; a file the server refuses (a web
// page named .png) shows the server's own sentence.
func TestBrowserUploadRefusedAtOnce(t *testing.T) {
	inst := startInstance(t, uploadEnv(t))
	browser := newBrowser(t)
	room := testkit.Room()
	ann := newTab(t, browser)
	ann.signIn(inst.URL, "Ann", room)
	ann.waitJS(connected)
	ann.countXHRs()
	max := evalJS[int64](ann, `Number(document.querySelector('#send').dataset.uploadMax)`)
	if count := evalJS[int](ann, `Number(document.querySelector('#send').dataset.uploadCount)`); count != 4 {
		t.Fatalf("data-upload-count is %d, want 4", count)
	}
	if evalJS[bool](ann, `document.querySelector('#text').required`) {
		t.Error("the message box is required although files alone make a message")
	}

	// Five files by the field: four upload, the fifth is refused.
	dir := t.TempDir()
	var paths []string
	for i := range 5 {
		path := filepath.Join(dir, fmt.Sprintf("page %d.pdf", i+1))
		if err := os.WriteFile(path, filestest.PDF(), 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	ann.do(chromedp.SetUploadFiles(chromedp.CSS("#files"), paths))
	ann.waitJS(`document.querySelectorAll('#attachments > li').length === 5`)
	ann.waitJS(`[...document.querySelectorAll('#attachments > li')].slice(0, 4).every(li => li.dataset.state === 'done')`)
	fifth := evalJS[string](ann, `(() => { const li = document.querySelector('#attachments > li:nth-child(5)'); return li.dataset.state + '|' + li.querySelector('.state').textContent; })()`)
	if fifth != "refused|Not attached: a message can carry at most 4 files." {
		t.Errorf("the fifth file: %q", fifth)
	}
	ann.waitJS(`document.querySelector('#attachments-status').textContent === 'page 5.pdf: Not attached: a message can carry at most 4 files.'`)
	if n := evalJS[int](ann, `window.__xhrs`); n != 4 {
		t.Errorf("%d uploads for 5 files, want 4", n)
	}
	if n := evalJS[int](ann, `document.querySelector('#files').files.length`); n != 0 {
		t.Errorf("the file field still holds %d files", n)
	}
	// Removing one makes room; the refused one goes with its button.
	ann.do(chromedp.Click(chromedp.CSS(`#attachments > li:nth-child(5) button.remove`)))
	ann.waitJS(`document.querySelectorAll('#attachments > li').length === 4`)
	for range 4 {
		ann.do(chromedp.Click(chromedp.CSS(`#attachments > li:first-child button.remove`)))
	}
	ann.waitJS(`document.querySelector('#attachments').hidden`)

	// Too large: refused before a byte is sent.
	ann.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
		const dt = new DataTransfer();
		dt.items.add(new File([new Uint8Array(%d)], 'huge.pdf', {type: 'application/pdf'}));
		document.querySelector('#text').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
	})()`, max+1)))
	ann.waitJS(`document.querySelector('#attachments > li[data-state="refused"]')`)
	huge := evalJS[string](ann, `document.querySelector('#attachments > li .state').textContent`)
	if !strings.HasPrefix(huge, "Not attached: files are at most ") || !strings.HasSuffix(huge, "MB.") {
		t.Errorf("the file too large: %q", huge)
	}
	if n := evalJS[int](ann, `window.__xhrs`); n != 4 {
		t.Errorf("the file too large was uploaded (%d uploads)", n)
	}
	// Send with only a refused file and no text: nothing goes.
	ann.pressEnter()
	ann.waitJS(`document.querySelector('#send-error').textContent.startsWith('Type a message or attach a file first')`)
	if n := evalJS[int](ann, `document.querySelector('#outbox').children.length`); n != 0 {
		t.Errorf("%d messages in the outbox", n)
	}
	ann.do(chromedp.Click(chromedp.CSS(`#attachments > li button.remove`)))
	ann.waitJS(`document.querySelector('#attachments').hidden`)

	// The server's refusal: its sentence, as it says it, though the page
	// is refused from its first bytes and 3 MB more are on their way.
	html := append(filestest.HTMLAsPNG(), bytes.Repeat([]byte("<p>cat</p>\n"), 300_000)...)
	ann.dropFiles(fileJS(html, "cat.png", "image/png"))
	ann.waitJS(`document.querySelector('#attachments > li[data-state="refused"]')`)
	said := evalJS[string](ann, `document.querySelector('#attachments > li .state').textContent`)
	server := awaitJS[string](ann, `new Promise(done => {
		const body = new FormData();
		body.append('files', `+fileJS(html, "cat.png", "image/png")+`);
		fetch(document.querySelector('#send').dataset.uploadUrl, {method: 'POST', body, headers: {'HX-Request': 'true'}})
			.then(r => r.json()).then(j => done(j.error), e => done(String(e)));
	})`)
	if said == "" || said != server || said == "The chat refused this file." {
		t.Errorf("the tray says %q for the web page, the server %q", said, server)
	}
}

// axe-core finds nothing serious with the tray holding files (uploaded,
// uploading, refused), a message waiting for its files in the outbox,
// and messages carrying a picture and a file, in both themes.
func TestBrowserAttachmentsAccessible(t *testing.T) {
	axe := axeSource(t)
	inst := startInstance(t, uploadEnv(t))
	browser := newBrowser(t)
	for _, scheme := range []string{"light", "dark"} {
		room := testkit.Room()
		p := newTab(t, browser)
		p.theme(scheme)
		p.signIn(inst.URL, "Ann", room)
		p.waitJS(connected)
		// Messages with files.
		p.pasteFile(filestest.Screenshot(), "", "image/png")
		p.dropFiles(fileJS(filestest.PDF(), "report.pdf", "application/pdf"))
		p.waitJS(`document.querySelectorAll('#attachments > li[data-state="done"]').length === 2`)
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("the tray with two files, %s: %q", scheme, v)
		}
		p.do(chromedp.Focus(chromedp.CSS("#text")), chromedp.KeyEvent("with files"), chromedp.KeyEvent(kb.Enter))
		p.waitIDs("msg-1")
		p.waitJS(`(() => { const img = document.querySelector('#msg-1 ul.files img'); return img && img.complete && img.naturalWidth > 0; })()`)
		// Files alone make a message too.
		p.dropFiles(fileJS(filestest.PDF(), "alone.pdf", "application/pdf"))
		p.waitJS(`document.querySelector('#attachments > li[data-state="done"]')`)
		p.pressEnter()
		p.waitIDs("msg-1", "msg-2")
		// The tray with a refused file and one uploading (held by a
		// stalled network for the uploads alone).
		if _, err := chromedp.Call(p.ctx, network.Enable, network.EnableParams{}); err != nil {
			t.Fatal(err)
		}
		if _, err := chromedp.Call(p.ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{{URLPattern: inst.URL + "/rooms/*/uploads", UploadThroughput: 1024, DownloadThroughput: -1}},
		}); err != nil {
			t.Fatal(err)
		}
		p.dropFiles(fileJS(filestest.PNG(600, 400), "slow.png", "image/png"), fmt.Sprintf(`new File([new Uint8Array(%d)], 'huge.bin')`, evalJS[int64](p, `Number(document.querySelector('#send').dataset.uploadMax)`)+1))
		p.waitJS(`document.querySelector('#attachments > li[data-state="uploading"]') && document.querySelector('#attachments > li[data-state="refused"]')`)
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("the tray uploading and refusing, %s: %q", scheme, v)
		}
		// A message waiting for its file in the outbox.
		p.do(chromedp.Focus(chromedp.CSS("#text")), chromedp.KeyEvent("slow"), chromedp.KeyEvent(kb.Enter))
		p.waitJS(`document.querySelector('#outbox > li[data-state="uploading"] .pending-files')`)
		// The drop hint shown.
		p.do(chromedp.Evaluate[chromedp.Void](`(() => { const dt = new DataTransfer(); dt.items.add(new File(['x'], 'x.txt')); document.querySelector('#text').dispatchEvent(new DragEvent('dragenter', {dataTransfer: dt, bubbles: true, cancelable: true})); })()`))
		p.waitJS(`!document.querySelector('#drop-hint').hidden`)
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("messages with files, one waiting, the drop hint, %s: %q", scheme, v)
		}
		if _, err := chromedp.Call(p.ctx, network.EmulateNetworkConditionsByRule, network.EmulateNetworkConditionsByRuleParams{
			MatchedNetworkConditions: []*network.Conditions{},
		}); err != nil {
			t.Fatal(err)
		}
	}
}
