// @-name completion in the message box (docs/SPEC.md): see issue 29.
//
// Typing "@" and a letter (at the start of the text or after a space)
// offers the room's members whose names start with what follows, up to the
// caret, as an ARIA 1.2 combobox: the box is the combobox, #mention-list
// its listbox. ↓ and ↑ move through the names, Enter or Tab writes
// "@Name " in place of what was typed, Escape closes the list; a click on
// a name chooses it too. What follows the "@" may have spaces, so that
// "@Ann L" still finds "Ann Lee". The list's keys are taken before the
// page's own (Enter sends) only while it is open.
// No inline style or script: the list is shown and hidden with `hidden`
// and styled from chat.css (the "mention.js" block at its end).
'use strict';
(() => {
  const input = document.getElementById('text');
  const form = document.getElementById('send');
  if (!input || !form || !document.getElementById('members')) return;
  const me = document.getElementById('chat')?.dataset.me ?? '';
  // The page's sentences, from chat.js (its say: the catalogs' js.* ids).
  const say = typeof window.chatSay === 'function' ? window.chatSay : (key) => key;
  const most = 8;

  const list = document.createElement('ul');
  list.id = 'mention-list';
  list.className = 'mention-list';
  list.setAttribute('role', 'listbox');
  list.setAttribute('aria-label', say('mention.list_label'));
  list.hidden = true;
  const status = document.createElement('div');
  status.id = 'mention-status';
  status.className = 'visually-hidden';
  status.setAttribute('role', 'status');
  form.classList.add('mentions');
  form.append(list, status);

  input.setAttribute('role', 'combobox');
  input.setAttribute('aria-autocomplete', 'list');
  input.setAttribute('aria-controls', list.id);
  input.setAttribute('aria-expanded', 'false');

  let names = []; // offered, in the member list's order
  let active = -1;
  let at = -1; // where the "@" being completed is in the text
  let choosing = false; // the input event of a choice does not reopen
  let taken = ''; // the key the list took, until it is up

  // The "@" being typed and what follows it, up to the caret; null if none.
  const typed = () => {
    const end = input.selectionStart;
    if (end !== input.selectionEnd) return null;
    const before = input.value.slice(0, end);
    for (let i = before.lastIndexOf('@'); i >= 0; i = before.lastIndexOf('@', i - 1)) {
      if (i > 0 && !/\s/.test(before[i - 1])) continue;
      const query = before.slice(i + 1);
      if (query === '' || /^\s|[\n\r]/.test(query)) return null;
      return { at: i, end, query };
    }
    return null;
  };

  const members = () => {
    const seen = new Set();
    for (const li of document.querySelectorAll('#members li[data-name]')) {
      const n = li.dataset.name;
      if (n && n !== me) seen.add(n);
    }
    return [...seen];
  };

  const close = () => {
    if (list.hidden && names.length === 0) return;
    names = [];
    active = -1;
    at = -1;
    list.hidden = true;
    list.replaceChildren();
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    status.textContent = '';
  };

  const activate = (i) => {
    active = i;
    list.querySelectorAll('[role="option"]').forEach((li, j) => {
      li.setAttribute('aria-selected', String(j === i));
    });
    const opt = document.getElementById(`mention-opt-${i}`);
    input.setAttribute('aria-activedescendant', opt.id);
  };

  const update = () => {
    const t = typed();
    if (!t) return close();
    const q = t.query.toLocaleLowerCase();
    const found = members().filter((n) => n.toLocaleLowerCase().startsWith(q)).slice(0, most);
    if (found.length === 0) return close();
    const same = found.length === names.length && found.every((n, i) => n === names[i]);
    const keep = same ? names[active] : null;
    at = t.at;
    if (!same) {
      names = found;
      list.replaceChildren(...found.map((n, i) => {
        const li = document.createElement('li');
        li.id = `mention-opt-${i}`;
        li.setAttribute('role', 'option');
        li.setAttribute('aria-selected', 'false');
        li.dir = 'auto';
        li.textContent = n;
        return li;
      }));
      status.textContent = say('mention.found', { Count: found.length });
    }
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
    activate(keep !== null ? names.indexOf(keep) : 0);
  };

  // Writes "@Name " in place of the "@" and what follows it up to the caret.
  const choose = (i) => {
    const t = typed();
    const name = names[i];
    close();
    if (!t || name === undefined) return;
    const space = /\s/.test(input.value[t.end] ?? '') ? '' : ' ';
    const text = `@${name}${space}`;
    if (input.maxLength > 0 && input.value.length - (t.end - t.at) + text.length > input.maxLength) {
      status.textContent = say('mention.too_long');
      return;
    }
    input.setRangeText(text, t.at, t.end, 'end');
    if (!space) input.setSelectionRange(t.at + text.length + 1, t.at + text.length + 1);
    choosing = true;
    try {
      input.dispatchEvent(new Event('input', { bubbles: true }));
    } finally {
      choosing = false;
    }
  };

  input.addEventListener('input', () => {
    if (!choosing) update();
  });
  input.addEventListener('blur', close);
  input.addEventListener('click', close); // the caret moved
  list.addEventListener('mousedown', (e) => e.preventDefault()); // focus stays in the box
  list.addEventListener('click', (e) => {
    const opt = e.target.closest('[role="option"]');
    if (opt) choose(Number(opt.id.slice('mention-opt-'.length)));
  });

  // Captured on the document, before the page's own handlers of the box
  // (Enter sends), and only while the list is open.
  document.addEventListener('keydown', (e) => {
    if (e.target !== input || list.hidden || names.length === 0 || e.isComposing) return;
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const n = names.length;
    switch (e.key) {
      case 'ArrowDown':
        activate((active + 1) % n);
        break;
      case 'ArrowUp':
        activate((active - 1 + n) % n);
        break;
      case 'Enter':
      case 'Tab':
        if (e.shiftKey) return;
        choose(active);
        break;
      case 'Escape':
        close();
        break;
      case 'ArrowLeft': case 'ArrowRight': case 'Home': case 'End': case 'PageUp': case 'PageDown':
        close(); // the caret moves away from the name; the key does its own
        return;
      default:
        return;
    }
    taken = e.key;
    e.preventDefault();
    e.stopImmediatePropagation();
  }, true);
  // Where a taken key's character still comes as an input of its own (some
  // keyboards, automation), it is dropped too.
  document.addEventListener('beforeinput', (e) => {
    if (e.target !== input || !taken) return;
    const enter = taken === 'Enter' && (e.inputType === 'insertLineBreak' || e.inputType === 'insertParagraph');
    const tab = taken === 'Tab' && e.inputType === 'insertText' && e.data === '\t';
    if (!enter && !tab) return;
    taken = '';
    e.preventDefault();
    e.stopImmediatePropagation();
  }, true);
  document.addEventListener('keyup', () => { taken = ''; }, true);
})();
