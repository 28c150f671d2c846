package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/chatrun/chat/testkit"
	"github.com/chatrun/chat/testkit/chattest"
)

// mentionRoom signs "Bob Stone" and "Bea" in to a fresh room over sockets
// and Ann in a browser tab, and returns Ann's tab once her member list
// shows all three and her message box has the focus.
func mentionRoom(t *testing.T) *tab {
	t.Helper()
	inst := startInstance(t, sharedEnv(""))
	browser := newBrowser(t)
	room := testkit.Room()
	chattest.JoinAs(t, inst.URL, "Bob Stone", room)
	chattest.JoinAs(t, inst.URL, "Bea", room)
	p := newTab(t, browser)
	p.signIn(inst.URL, "Ann", room)
	p.waitJS(socketOpen)
	p.waitJS(`['Ann', 'Bob Stone', 'Bea'].every(n => document.querySelector('#members li[data-name="' + n + '"]'))`)
	p.do(chromedp.Focus(chromedp.CSS("#text")))
	p.waitJS(`document.activeElement.id === 'text' && document.querySelector('#text').getAttribute('aria-expanded') === 'false'`)
	return p
}

// mentionState is what the combobox shows: the names offered, the active
// option, the box's ARIA state and text.
type mentionState struct {
	Options  []string `json:"options"`
	Selected []string `json:"selected"`
	Expanded string   `json:"expanded"`
	Active   string   `json:"active"` // the active option's name, by aria-activedescendant
	Hidden   bool     `json:"hidden"`
	Value    string   `json:"value"`
	Focus    string   `json:"focus"`
	Status   string   `json:"status"`
}

func (p *tab) mention() mentionState {
	p.t.Helper()
	return evalJS[mentionState](p, `(() => {
		const box = document.querySelector('#text'), list = document.querySelector('#mention-list');
		const opts = [...list.querySelectorAll('li[role="option"]')];
		const id = box.getAttribute('aria-activedescendant');
		return {
			options: opts.map(o => o.textContent),
			selected: opts.filter(o => o.getAttribute('aria-selected') === 'true').map(o => o.textContent),
			expanded: box.getAttribute('aria-expanded'),
			active: id ? (document.getElementById(id)?.textContent ?? '#' + id + ' missing') : '',
			hidden: list.hidden || list.getBoundingClientRect().height === 0,
			value: box.value,
			focus: document.activeElement.id,
			status: document.querySelector('#mention-status').textContent,
		};
	})()`)
}

// waitMentionOpen waits until the list offers exactly names (in any
// order) and returns its state.
func (p *tab) waitMentionOpen(names ...string) mentionState {
	p.t.Helper()
	want := slices.Sorted(slices.Values(names))
	js := fmt.Sprintf(`JSON.stringify([...document.querySelectorAll('#mention-list li[role="option"]')].map(o => o.textContent).sort()) === %q
		&& !document.querySelector('#mention-list').hidden
		&& document.querySelector('#text').getAttribute('aria-expanded') === 'true'`, jsonOf(want))
	p.waitJS(js)
	s := p.mention()
	if s.Hidden || s.Active == "" || len(s.Selected) != 1 || s.Selected[0] != s.Active || s.Focus != "text" {
		p.t.Fatalf("open list: %+v", s)
	}
	if s.Status == "" {
		p.t.Fatalf("open list announces nothing: %+v", s)
	}
	return s
}

// waitMentionClosed waits until the list is closed and the box holds value.
func (p *tab) waitMentionClosed(value string) {
	p.t.Helper()
	defer func() {
		if p.t.Failed() {
			p.t.Logf("state: %+v", p.mention())
		}
	}()
	p.waitJS(fmt.Sprintf(`document.querySelector('#mention-list').hidden
		&& document.querySelector('#text').getAttribute('aria-expanded') === 'false'
		&& !document.querySelector('#text').hasAttribute('aria-activedescendant')
		&& document.querySelector('#text').value === %q`, value))
	if s := p.mention(); s.Focus != "text" || s.Status != "" || len(s.Options) != 0 {
		p.t.Fatalf("closed list: %+v", s)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The @ combobox with the keyboard alone: "@b" offers both B names (not
// the reader's own), arrows move the active option and wrap, Enter and Tab
// write "@Name " without sending or leaving the box, Escape closes and
// leaves the text, and Enter sends again once the list is closed.
func TestMentionComboboxByKeyboard(t *testing.T) {
	p := mentionRoom(t)

	// The reader is not offered: "@a" opens nothing. Then "@b" (after
	// "@a", so the closed state was seen) opens the list.
	p.do(chromedp.KeyEvent("@a"))
	p.waitJS(`document.querySelector('#text').value === '@a'`)
	if s := p.mention(); s.Expanded != "false" || !s.Hidden {
		t.Fatalf(`"@a" with only Ann's name starting with A: %+v`, s)
	}
	p.do(chromedp.KeyEvent(kb.Backspace), chromedp.KeyEvent(kb.Backspace))
	p.waitJS(`document.querySelector('#text').value === ''`)
	p.do(chromedp.KeyEvent("@b"))
	s := p.waitMentionOpen("Bob Stone", "Bea")
	first := s.Options[0]
	if s.Active != first {
		t.Fatalf("the first option is not active on opening: %+v", s)
	}
	second := s.Options[1]

	// ↓ moves, ↓ wraps to the first, ↑ wraps to the last.
	p.do(chromedp.KeyEvent(kb.ArrowDown))
	p.waitJS(`document.querySelector('#text').getAttribute('aria-activedescendant') === 'mention-opt-1'`)
	if s := p.mention(); s.Active != second || len(s.Selected) != 1 || s.Selected[0] != second {
		t.Fatalf("after ↓: %+v", s)
	}
	p.do(chromedp.KeyEvent(kb.ArrowDown))
	p.waitJS(`document.querySelector('#text').getAttribute('aria-activedescendant') === 'mention-opt-0'`)
	p.do(chromedp.KeyEvent(kb.ArrowUp))
	p.waitJS(`document.querySelector('#text').getAttribute('aria-activedescendant') === 'mention-opt-1'`)
	if s := p.mention(); s.Active != second || s.Selected[0] != second || s.Value != "@b" {
		t.Fatalf("after ↓ ↓ ↑: %+v", s)
	}

	// Enter chooses: no message, no line break.
	p.do(chromedp.KeyEvent(kb.Enter))
	text := "@" + second + " "
	p.waitMentionClosed(text)

	// A name with a space, by its first word and a letter; Tab chooses
	// and the focus stays in the box.
	p.do(chromedp.KeyEvent("@Bob S"))
	p.waitMentionOpen("Bob Stone")
	p.do(chromedp.KeyEvent(kb.Tab))
	text += "@Bob Stone "
	p.waitMentionClosed(text)

	// Escape closes the list and leaves what was typed.
	p.do(chromedp.KeyEvent("@be"))
	p.waitMentionOpen("Bea")
	p.do(chromedp.KeyEvent(kb.Escape))
	text += "@be"
	p.waitMentionClosed(text)

	// Closed, Enter sends: the one message is the whole text, so no Enter
	// before it sent anything.
	p.do(chromedp.KeyEvent(kb.Enter))
	p.waitIDs("msg-1")
	p.waitJS(`document.querySelector('#text').value === ''`)
	if got := evalJS[string](p, `document.querySelector('#msg-1 .text').textContent`); got != text {
		t.Fatalf("sent %q, want %q", got, text)
	}
	if s := p.mention(); s.Expanded != "false" || !s.Hidden {
		t.Fatalf("after sending: %+v", s)
	}
}

// axe-core finds nothing serious or critical on the room page with the @
// combobox open, in both themes.
func TestMentionComboboxAxe(t *testing.T) {
	axe := axeSource(t)
	p := mentionRoom(t)
	for _, scheme := range []string{"light", "dark"} {
		p.theme(scheme)
		p.do(chromedp.KeyEvent("@b"))
		p.waitMentionOpen("Bob Stone", "Bea")
		p.do(chromedp.KeyEvent(kb.ArrowDown))
		p.waitJS(`document.querySelector('#text').getAttribute('aria-activedescendant') === 'mention-opt-1'`)
		if v := p.axeViolations(axe); len(v) > 0 {
			t.Errorf("combobox open, %s: %q", scheme, v)
		}
		p.do(chromedp.KeyEvent(kb.Escape), chromedp.KeyEvent(kb.Backspace), chromedp.KeyEvent(kb.Backspace))
		p.waitMentionClosed("")
	}
}
