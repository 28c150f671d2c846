// The room page's script: what htmx and its ws extension do not do by
// themselves. The page works without it (the form posts); with it, what a
// person types gets there once, or stays on screen saying why, and the page
// says truly whether it is connected and whether sending works.
// docs/SPEC.md describes the frames this script reads and sends.
// No inline script anywhere, so a strict CSP holds.
(() => {
  // ---- The page's language -----------------------------------------------
  //
  // Every sentence the script shows comes from the page (#chat-strings,
  // the catalogs' js.* messages, in <html lang>'s language): say(key,
  // {Field: value}) returns message js.<key> with its {{.Field}}s filled
  // (numbers in the page's language), its plural form chosen by data.Count;
  // a missing message comes back as its key. A Node among the values makes
  // it a DocumentFragment holding that node in place. Always call it with
  // the key written out: a test checks each one is in the catalogs.
  // mention.js gets it as window.chatSay.
  const lang = (() => {
    try {
      return Intl.getCanonicalLocales(document.documentElement.lang || 'en')[0] || 'en';
    } catch {
      return 'en';
    }
  })();
  let strings = null;
  const plural = new Intl.PluralRules(lang);
  const number = new Intl.NumberFormat(lang);
  const say = (key, data = {}) => {
    if (strings === null) {
      try {
        strings = JSON.parse(document.getElementById('chat-strings')?.textContent || '{}') || {};
      } catch {
        strings = {};
      }
    }
    let s = strings[key];
    if (s && typeof s === 'object') s = s[typeof data.Count === 'number' ? plural.select(data.Count) : 'other'] ?? s.other;
    if (typeof s !== 'string') return key;
    // Odd parts are the names of fields.
    const parts = s.split(/\{\{\s*\.(\w+)\s*\}\}/).map((x, i) => {
      if (i % 2 === 0) return x;
      const v = data[x];
      if (v === undefined || v === null) return `{{.${x}}}`;
      return typeof v === 'number' ? number.format(v) : v;
    });
    if (!parts.some((x) => x instanceof Node)) return parts.join('');
    const frag = document.createDocumentFragment();
    for (const x of parts) if (x !== '') frag.append(x);
    return frag;
  };
  Object.defineProperty(window, 'chatSay', { value: say });

  // ---- Your rooms (#my-rooms): the tab's title counts across rooms -------
  //
  // The list, refreshed by htmx, says how many messages each room the
  // reader has been in has after where they stopped (data-unread) and how
  // many of those mention them (data-mentions). The title adds the other
  // rooms' counts to this room's own (what arrived while its tab was
  // hidden), as "(3) …" or "(3, 1 @) …".
  const pageTitle = document.title;
  const hereRoom = document.getElementById('chat') ? decodeURIComponent(location.pathname.split('/')[2] || '') : '';
  const here = { unread: 0, mentions: 0 }; // set by the room's script below
  const titled = () => {
    let count = here.unread;
    let marked = here.mentions;
    for (const li of document.querySelectorAll('#my-rooms li[data-room]')) {
      if (li.dataset.room === hereRoom) continue;
      count += Number(li.dataset.unread) || 0;
      marked += Number(li.dataset.mentions) || 0;
    }
    if (count === 0) document.title = pageTitle;
    else if (marked > 0) document.title = say('reading.title_mentions', { Count: count, Mentions: marked, Title: pageTitle });
    else document.title = say('reading.title', { Count: count, Title: pageTitle });
  };
  // ---- The lists (#rooms, #my-rooms): they come over the socket ----------
  //
  // A room page's socket brings the directory and "Your rooms" when they
  // change and at least every 30 s (ul[data-pushed], in place of the
  // page's): while they come, the list's own poll is not sent. When none
  // came for 40 s (the socket is down, or this reader's directory has
  // private rooms of their own, which the socket does not bring), the poll
  // goes again. A hidden page is not sent the directory (below, "Shown or
  // hidden"), and does not poll it either: it is seen again within 5 s of
  // being shown.
  const pushed = {};
  for (const id of ['rooms', 'my-rooms']) {
    const list = document.getElementById(id);
    if (!list?.parentElement) continue;
    pushed[id] = 0;
    new MutationObserver(() => {
      if (document.querySelector(`#${id}[data-pushed]`)) pushed[id] = Date.now();
    }).observe(list.parentElement, { childList: true });
  }
  document.addEventListener('htmx:before:request', (e) => {
    const id = e.target?.id;
    if (id in pushed && Date.now() - pushed[id] < 40000) e.preventDefault();
    else if (id === 'rooms' && 'rooms' in pushed && document.hidden) e.preventDefault();
  });

  const myRooms = document.getElementById('my-rooms');
  if (myRooms?.parentElement) {
    // The list is replaced whole (outerHTML): watch its parent.
    new MutationObserver(titled).observe(myRooms.parentElement, { childList: true, subtree: true, attributes: true, attributeFilter: ['data-unread', 'data-mentions'] });
    titled();
  }

  const chat = document.getElementById('chat');
  if (!chat) return;
  const log = chat.querySelector('.log');
  const messages = document.getElementById('messages');
  const notices = document.getElementById('notices');
  const status = document.getElementById('connection');
  const retryNow = document.getElementById('retry');
  const form = document.getElementById('send');
  const input = document.getElementById('text');
  const count = document.getElementById('text-count');
  const me = chat.dataset.me;
  const maxText = input.maxLength > 0 ? input.maxLength : 2000;
  const maxLines = 40;
  let unread = 0;
  let atBottom = true;

  // ---- What the page shows -------------------------------------------

  // Own messages stand apart. Pushed fragments are the same bytes for every
  // reader, so the page marks them.
  const markMine = () => {
    for (const li of log.querySelectorAll('li[data-name]')) {
      li.classList.toggle('mine', li.dataset.name === me);
    }
  };

  // Stay on the newest message unless the reader has scrolled up; then new
  // arrivals show "New messages" instead of moving the view.
  const newMessages = document.getElementById('new-messages');
  log.classList.remove('at-end'); // the page's own scrolling from here on
  log.addEventListener('scroll', () => {
    atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    if (atBottom) newMessages.hidden = true;
  });
  const toBottom = () => {
    log.scrollTop = log.scrollHeight;
    newMessages.hidden = true;
  };
  newMessages.addEventListener('click', () => {
    toBottom();
    input.focus();
  });

  // ---- Reading: times, days, groups, mentions ----------------------------
  //
  // The server renders times in UTC, marked so; here they are the reader's
  // own. The first message of each day says which day; a message from the
  // sender of the one before it, within five minutes, sits under that one's
  // name. docs/SPEC.md describes the markup.

  // The page's language for the words, the reader's own clock (12 or 24
  // hours, from the browser's locale) for the hours.
  const hourCycle = new Intl.DateTimeFormat(undefined, { hour: 'numeric' }).resolvedOptions().hourCycle;
  const shortTime = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit', hourCycle });
  const fullTime = new Intl.DateTimeFormat(lang, { dateStyle: 'full', timeStyle: 'long', hourCycle });
  const dayName = new Intl.DateTimeFormat(lang, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
  // "Today", "Yesterday" (今天, 昨天) as the page's language says them.
  const relativeDay = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
  const dayWord = (n) => {
    const w = relativeDay.format(n, 'day');
    return w.charAt(0).toLocaleUpperCase(lang) + w.slice(1);
  };
  const dayKey = (d) => `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
  const dayLabel = (d) => {
    const today = new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (dayKey(d) === dayKey(today)) return dayWord(0);
    if (dayKey(d) === dayKey(yesterday)) return dayWord(-1);
    return dayName.format(d);
  };
  const groupGap = 5 * 60 * 1000;

  const localize = (li) => {
    // "edited": the edit's time, in the reader's zone, on hover or focus.
    const e = li.querySelector(':scope > .edited > time');
    if (e && !e.dataset.local) {
      const d = new Date(e.getAttribute('datetime'));
      if (!Number.isNaN(d.getTime())) {
        e.dataset.full = fullTime.format(d);
        e.title = say('time.edited', { Time: e.dataset.full });
        e.dataset.local = '1';
      }
    }
    const t = li.querySelector(':scope > time');
    if (!t || t.dataset.local) return;
    const d = new Date(t.getAttribute('datetime'));
    if (Number.isNaN(d.getTime())) return;
    t.textContent = shortTime.format(d);
    t.dataset.full = fullTime.format(d);
    t.dataset.local = '1';
  };

  // "@name" of the reader, as a whole word, in the text (not in links).
  const mentionRe = new RegExp(`@${me.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\p{L}\\p{N}_])`, 'giu');
  const highlight = (li) => {
    if (li.dataset.mentionsChecked) return li.classList.contains('mentions-me');
    li.dataset.mentionsChecked = '1';
    const text = li.querySelector(':scope > .text');
    if (!text || li.dataset.name === me) return false;
    let found = false;
    for (const node of [...text.childNodes]) {
      if (node.nodeType !== Node.TEXT_NODE) continue;
      const s = node.nodeValue;
      mentionRe.lastIndex = 0;
      if (!mentionRe.test(s)) continue;
      found = true;
      mentionRe.lastIndex = 0;
      const frag = document.createDocumentFragment();
      let last = 0;
      for (const m of s.matchAll(mentionRe)) {
        frag.append(s.slice(last, m.index));
        const mark = document.createElement('mark');
        mark.className = 'mention';
        mark.textContent = m[0];
        frag.append(mark);
        last = m.index + m[0].length;
      }
      frag.append(s.slice(last));
      node.replaceWith(frag);
    }
    li.classList.toggle('mentions-me', found);
    return found;
  };

  // layout sets every message's day, group and local time, in order from
  // the oldest loaded to the newest.
  const layout = () => {
    let prev = null;
    for (const li of log.querySelectorAll('#scrollback > li[id^="msg-"], #messages > li[id^="msg-"]')) {
      localize(li);
      highlight(li);
      controls(li);
      pressedOf(li);
      if (!li.hasAttribute('tabindex')) li.setAttribute('tabindex', '-1');
      const d = new Date(li.querySelector(':scope > time')?.getAttribute('datetime'));
      const newDay = !prev || dayKey(prev.d) !== dayKey(d);
      if (newDay) {
        const day = dayLabel(d);
        if (li.dataset.day !== day) li.dataset.day = day;
      } else if ('day' in li.dataset) delete li.dataset.day;
      li.classList.toggle('cont', !newDay && prev.name === li.dataset.name && d - prev.d <= groupGap && d >= prev.d);
      prev = { d, name: li.dataset.name };
    }
  };

  // The log is one tab stop; the arrow keys then move through the
  // messages, and a focused message shows its full date and time.
  log.addEventListener('keydown', (e) => {
    if (!['ArrowUp', 'ArrowDown', 'Home', 'End'].includes(e.key)) return;
    if (e.target.closest('.edit-box')) return; // the keys are the box's
    const items = [...log.querySelectorAll('#scrollback > li[id^="msg-"], #messages > li[id^="msg-"]')];
    if (items.length === 0) return;
    const at = items.indexOf(document.activeElement?.closest('li'));
    let next;
    if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = items.length - 1;
    else if (at < 0) next = items.length - 1;
    else next = Math.max(0, Math.min(items.length - 1, at + (e.key === 'ArrowUp' ? -1 : 1)));
    e.preventDefault();
    items[next].focus();
  });

  // Scrollback: "Earlier messages" loads the older page above the list in
  // place (htmx: the link's fragment prepends to #scrollback). The reader's
  // position stays: the text under their eyes does not move.
  const scrollback = document.getElementById('scrollback');
  let fromBottom = null;
  chat.addEventListener('htmx:before:request', (e) => {
    if (e.target?.id === 'earlier') fromBottom = log.scrollHeight - log.scrollTop;
  });
  // A load that fails (the network is down) says so by the link, which
  // stays to try again; the next load that works takes the words away.
  chat.addEventListener('htmx:error', (e) => {
    if (e.target?.id !== 'earlier') return;
    fromBottom = null;
    const wrap = document.getElementById('earlier-wrap');
    let said = wrap.querySelector('.earlier-error');
    if (!said) {
      said = document.createElement('span');
      said.className = 'earlier-error';
      said.setAttribute('role', 'alert');
      wrap.prepend(said, ' ');
    }
    said.textContent = say('earlier.failed');
  });
  new MutationObserver(() => {
    markMine();
    layout();
    if (fromBottom !== null) {
      log.scrollTop = log.scrollHeight - fromBottom;
      fromBottom = null;
    }
  }).observe(scrollback, { childList: true });

  // After a reconnect the list is the room's newest messages again; when
  // they no longer follow on from the older ones loaded above, those go
  // (the link to earlier messages leads back to them), so the page never
  // shows a gap as if nothing had been said.
  const joinScrollback = () => {
    const older = scrollback.lastElementChild;
    const newest = messages.firstElementChild;
    if (!older || !newest) return;
    const a = Number(older.id.slice(4));
    const b = Number(newest.id.slice(4));
    if (b > a + 1) {
      scrollback.replaceChildren();
      const link = document.getElementById('earlier');
      if (link) {
        const href = link.getAttribute('href').replace(/before=\d+/, `before=${b}`);
        link.setAttribute('href', href);
        link.setAttribute('hx-get', href);
      }
    }
  };

  // Coming back to the tab shows where the unread messages start: a line
  // above the first one that arrived while it was hidden.
  let seenUpTo = 0; // the newest message shown when the tab was hidden
  let mentions = 0;
  const newestSeq = () => Number(messages.lastElementChild?.id?.slice(4)) || 0;
  const showTitle = () => {
    here.unread = unread;
    here.mentions = mentions;
    titled();
  };
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      seenUpTo = newestSeq();
      return;
    }
    if (unread > 0) {
      for (const li of messages.querySelectorAll('li.first-unread')) li.classList.remove('first-unread');
      const first = [...messages.children].find((li) => Number(li.id.slice(4)) > seenUpTo && li.dataset.name !== me);
      if (first) {
        first.classList.add('first-unread');
        if (first.offsetTop < log.scrollTop || first.offsetTop > log.scrollTop + log.clientHeight) {
          log.scrollTop = first.offsetTop - log.clientHeight / 3;
        }
      }
    }
    unread = 0;
    mentions = 0;
    showTitle();
    layout(); // "Today" may be yesterday by now
    if (conn.phase === 'waiting' || conn.phase === 'offline') connectNow();
  });

  // Notifications of mentions, only once the reader asks for them.
  const notifyButton = document.getElementById('notify');
  const notifyKey = 'chat:notify-mentions';
  const notifying = () => 'Notification' in window && Notification.permission === 'granted' && localStorage.getItem(notifyKey) === '1';
  if (notifyButton && 'Notification' in window && Notification.permission !== 'denied' && !notifying()) {
    notifyButton.hidden = false;
    notifyButton.addEventListener('click', async () => {
      const answer = await Notification.requestPermission();
      if (answer === 'granted') {
        localStorage.setItem(notifyKey, '1');
        notifyButton.hidden = true;
        notice(say('notify.on'));
      } else {
        notifyButton.hidden = true;
        notice(say('notify.blocked'));
      }
    });
  }
  const notifyMention = (li) => {
    if (!notifying()) return;
    try {
      new Notification(say('notify.mention', { Name: li.dataset.name, Room: roomName }), {
        body: li.querySelector(':scope > .text')?.textContent ?? '',
        tag: li.id,
      });
    } catch { /* some browsers only notify from a service worker */ }
  };

  // The empty room's hint: the room's link, with a copy button.
  const hint = document.getElementById('empty-hint');
  const copyButton = document.getElementById('copy-link');
  if (copyButton) {
    copyButton.hidden = false;
    copyButton.addEventListener('click', async () => {
      const field = document.getElementById('room-link');
      const said = document.getElementById('copy-status');
      try {
        await navigator.clipboard.writeText(field.value);
        said.textContent = say('link.copied');
      } catch {
        field.select();
        said.textContent = say('link.copy_by_hand');
      }
    });
  }

  // A notice line; the same line twice in a row is said once.
  const notice = (text) => {
    if (notices.lastElementChild?.textContent === text) return;
    const p = document.createElement('p');
    p.textContent = text;
    notices.append(p);
    notices.scrollTop = notices.scrollHeight;
  };

  // The newest notice is always in view, whoever added it (the server adds
  // some itself).
  new MutationObserver(() => { notices.scrollTop = notices.scrollHeight; }).observe(notices, { childList: true });

  const showError = (text) => {
    const p = document.getElementById('send-error');
    if (p) p.textContent = text;
  };

  // ---- The outbox ------------------------------------------------------
  //
  // Every message typed gets a nonce of its own and waits here, on screen,
  // until the server says it is stored (then it gives way to the message
  // itself) or refused (then it says why and offers to retry). The server
  // stores one message per session and nonce, so sending an entry again
  // after a reconnect, when its fate is unknown, never stores it twice.

  const outboxList = document.createElement('ol');
  outboxList.id = 'outbox';
  outboxList.className = 'outbox';
  outboxList.setAttribute('aria-label', say('outbox.label'));
  messages.after(outboxList);

  // An entry with files (upload.js's uploads) waits in state "uploading"
  // until every one of them is uploaded, and is sent then, once; one that
  // fails makes it "failed" (upFailed) until it uploads again.
  /** @type {{nonce: string, text: string, state: string, seq?: number, why?: string, li: HTMLLIElement, uploads: object[], upFailed?: object}[]} */
  const outbox = [];

  const newNonce = () => {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  };

  const label = {
    queued: () => (navigator.onLine ? say('outbox.waiting_connection') : say('outbox.offline')),
    sending: () => say('outbox.sending'),
    waiting: () => say('outbox.unavailable'),
    sent: () => say('outbox.sent'),
    ended: () => say('outbox.signed_out'),
    uploading: () => say('outbox.uploading'),
  };

  const fileText = (u) => {
    switch (u.state) {
      case 'uploading': return say('upload.uploading', { Percent: window.chatUploads?.percent(u) ?? '' });
      case 'done': return say('upload.done');
      default: return say('upload.not_uploaded');
    }
  };

  const render = (entry) => {
    const li = entry.li;
    li.dataset.state = entry.state;
    let text;
    if (entry.state === 'failed' && entry.upFailed) text = say('outbox.file_failed', { Name: entry.upFailed.name, Why: entry.upFailed.why });
    else if (entry.state === 'failed') text = say('outbox.refused', { Why: entry.why });
    else text = label[entry.state]();
    li.querySelector('.state').textContent = text;
    li.querySelector('.actions').hidden = entry.state !== 'failed';
    for (const [i, u] of entry.uploads.entries()) {
      const f = li.querySelectorAll('.pending-files > li')[i];
      if (!f) continue;
      f.dataset.state = u.state;
      const said = fileText(u);
      const small = f.querySelector('.file-state');
      if (small.textContent !== said) small.textContent = said;
    }
  };

  const makeItem = (entry) => {
    const li = document.createElement('li');
    li.className = 'pending mine';
    li.dataset.nonce = entry.nonce;
    const from = document.createElement('span');
    from.className = 'from';
    from.textContent = me;
    const state = document.createElement('small');
    state.className = 'state';
    const text = document.createElement('p');
    text.className = 'text';
    text.textContent = entry.text;
    const actions = document.createElement('span');
    actions.className = 'actions';
    for (const [action, name] of [['retry', say('outbox.retry')], ['edit', say('outbox.edit')]]) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'link';
      b.dataset.action = action;
      b.textContent = name;
      actions.append(b, ' ');
    }
    li.append(from, ' ', state, text, actions);
    if (entry.uploads.length > 0) {
      // The files it carries, each with how far it is.
      const list = document.createElement('ul');
      list.className = 'pending-files';
      list.setAttribute('aria-label', say('outbox.files_label'));
      for (const u of entry.uploads) {
        const f = document.createElement('li');
        f.className = 'pending-file';
        const name = document.createElement('span');
        name.className = 'name';
        name.dir = 'auto';
        name.textContent = u.name;
        const small = document.createElement('small');
        small.className = 'file-state';
        f.append(name, ' ', small);
        list.append(f);
      }
      text.after(list);
    }
    if (entry.quote) {
      // What it answers, as the message will show it once stored.
      const q = document.createElement('blockquote');
      q.className = 'reply';
      q.textContent = entry.quote;
      text.before(q);
    }
    return li;
  };

  const remove = (entry) => {
    outbox.splice(outbox.indexOf(entry), 1);
    entry.li.remove();
    for (const stop of entry.unwatch || []) stop();
    entry.unwatch = [];
  };

  // An entry the server stored gives way once its message is on the page.
  const settle = () => {
    for (const entry of [...outbox]) {
      if (entry.state === 'sent' && document.getElementById(`msg-${entry.seq}`)) remove(entry);
    }
  };

  const socket = () => chat._htmx?.ws?.connection?.socket;

  const transmit = (entry) => {
    const ws = socket();
    if (!conn.admitted || !ws || ws.readyState !== WebSocket.OPEN) return;
    try {
      const frame = { text: entry.text, nonce: entry.nonce };
      if (entry.replyTo) frame.reply_to = entry.replyTo;
      if (entry.uploads.length > 0) frame.uploads = entry.uploads.map((u) => u.id);
      ws.send(JSON.stringify({ ...frame, headers: { 'HX-Request': 'true' } }));
      entry.state = 'sending';
    } catch {
      entry.state = 'queued';
    }
    render(entry);
  };

  // flush sends, in order, every entry whose fate is open.
  const flush = (states) => {
    for (const entry of outbox) {
      if (states.includes(entry.state)) transmit(entry);
    }
  };

  // uploadsChanged follows an entry's files while it waits for them: one
  // that fails fails the entry (saying which and why; it goes on once
  // that file uploads again), and once all are uploaded it is sent.
  const uploadsChanged = (entry) => {
    if (entry.state !== 'uploading' && !(entry.state === 'failed' && entry.upFailed)) {
      render(entry);
      return;
    }
    const bad = entry.uploads.find((u) => u.state === 'failed' || u.state === 'refused');
    if (bad) {
      entry.state = 'failed';
      entry.upFailed = { name: bad.name, why: bad.why };
    } else if (entry.uploads.every((u) => u.state === 'done')) {
      entry.upFailed = null;
      entry.state = conn.ended ? 'ended' : 'queued';
      render(entry);
      if (entry.state === 'queued') transmit(entry);
      return;
    } else {
      entry.upFailed = null;
      entry.state = 'uploading';
    }
    render(entry);
  };

  const enqueue = (text, replyTo, quote, uploads = []) => {
    const entry = { nonce: newNonce(), text, replyTo, quote, uploads, state: conn.ended ? 'ended' : 'queued' };
    if (uploads.length > 0 && !conn.ended) entry.state = 'uploading';
    entry.li = makeItem(entry);
    entry.unwatch = uploads.map((u) => u.watch(() => uploadsChanged(entry)));
    outbox.push(entry);
    outboxList.append(entry.li);
    render(entry);
    toBottom();
    if (entry.state === 'uploading') uploadsChanged(entry);
    else transmit(entry);
  };

  outboxList.addEventListener('click', (e) => {
    const button = e.target.closest('button[data-action]');
    if (!button) return;
    const entry = outbox.find((x) => x.li === button.closest('li'));
    if (!entry) return;
    if (button.dataset.action === 'edit') {
      if (input.value !== '' || (entry.uploads.length > 0 && window.chatUploads?.any())) {
        showError(say('compose.edit_box_busy'));
        input.focus();
        return;
      }
      remove(entry);
      input.value = entry.text;
      // Its files go back to the tray, as they were.
      if (entry.uploads.length > 0) window.chatUploads?.restore(entry.uploads);
      updateCount();
      input.focus();
      return;
    }
    // Retry goes to the end of the line, with a nonce of its own: the server
    // refused the first one, so it stored nothing under it. Files that did
    // not upload go again; those that did are not sent twice.
    remove(entry);
    for (const u of entry.uploads) u.retry();
    enqueue(entry.text, entry.replyTo, entry.quote, entry.uploads);
    input.focus();
  });

  // Sending: the page's script takes the form's submit before hx-ws does
  // (hx-ws would drop a message sent while the socket is closed). The box
  // is emptied at once, so what is typed next is never touched.
  chat.addEventListener('submit', (e) => {
    if (e.target !== form) return;
    e.preventDefault();
    e.stopPropagation();
    const text = input.value;
    if (conn.ended) {
      showError(say('compose.signed_out'));
      return;
    }
    // Files alone make a message (upload.js's tray).
    const files = window.chatUploads;
    const attached = files ? files.count() : 0;
    if (text.trim() === '' && attached === 0) {
      showError(files?.any() ? say('compose.empty_files') : say('compose.empty'));
      return;
    }
    if (text.trim().split('\n').length > maxLines) {
      showError(say('compose.max_lines', { Count: maxLines }));
      return;
    }
    showError('');
    input.value = '';
    updateCount();
    // The tray empties into the message (refused files are let go).
    const uploads = files ? files.take() : [];
    enqueue(text, replyField?.value || '', replyField?.value ? replyingText.textContent : '', uploads);
    cancelReply();
  }, true);

  // Enter sends; Shift+Enter starts a new line (so does Enter while an
  // input method is composing).
  const sendHint = document.getElementById('send-hint');
  if (sendHint) {
    sendHint.hidden = false;
    input.setAttribute('aria-describedby', 'send-error send-hint');
  }
  let sentByEnter = false; // the line break of the Enter that sent is not typed
  input.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || e.shiftKey || e.altKey || e.ctrlKey || e.metaKey || e.isComposing) return;
    e.preventDefault();
    sentByEnter = true;
    form.requestSubmit();
  });
  input.addEventListener('keyup', () => { sentByEnter = false; });
  // Where the key's line break still comes as its own input event (some
  // keyboards, automation), it is dropped too.
  input.addEventListener('beforeinput', (e) => {
    if (sentByEnter && (e.inputType === 'insertLineBreak' || e.inputType === 'insertParagraph')) {
      e.preventDefault();
      sentByEnter = false;
    }
  });


  // ---- Editing and deleting one's own messages -------------------------
  //
  // The server marks each message with its author's handle (data-author)
  // and the page with the reader's (data-me on #messages): Edit and Delete
  // go on the reader's own messages (on every message, Delete, for a
  // moderator: data-moderator). They are links to the no-JS pages; here a
  // click turns the message into a box instead (Enter saves, Escape
  // cancels), and ↑ in an empty message box edits the last one. A change
  // goes over the socket with a nonce of its own and waits, like a
  // message, until the server answers: sent again after every reconnect
  // with the same nonce, so it is applied once. Every page then gets the
  // message as it is now (docs/SPEC.md).

  const myHandle = messages.dataset.me || '';
  const moderator = 'moderator' in messages.dataset;
  const roomName = decodeURIComponent(location.pathname.split('/')[2] || '');
  const isDeleted = (li) => li.classList.contains('deleted');
  const canEdit = (li) => myHandle !== '' && li.dataset.author === myHandle && !isDeleted(li);
  const canDelete = (li) => !isDeleted(li) && (moderator || canEdit(li));

  /** @type {{nonce: string, seq: number, del: boolean, text: string, state: string}[]} */
  const changes = [];
  const changeLabel = {
    queued: (c) => (c.del ? say('change.deleting_later') : say('change.saving_later')),
    sending: (c) => (c.del ? say('change.deleting') : say('change.saving')),
    waiting: (c) => (c.del ? say('change.not_deleted') : say('change.not_saved')),
  };

  // controls puts Edit and Delete on a message that may have them (pushed
  // messages come without), and the state of a change on its way.
  const controls = (li) => {
    const seq = Number(li.id.slice(4));
    const pending = changes.find((c) => c.seq === seq);
    let state = li.querySelector(':scope > .change-state');
    if (pending) {
      if (!state) {
        state = document.createElement('small');
        state.className = 'change-state';
        li.append(state);
      }
      const text = changeLabel[pending.state](pending);
      if (state.textContent !== text) state.textContent = text;
    } else if (state) state.remove();
    if (li.classList.contains('editing') || li.querySelector(':scope > .confirm')) return;
    let actions = li.querySelector(':scope > .actions');
    if (isDeleted(li)) {
      actions?.remove();
      return;
    }
    const base = `/rooms/${encodeURIComponent(roomName)}/messages/${seq}`;
    const want = [
      ['reply-link', say('actions.reply'), `/rooms/${encodeURIComponent(roomName)}?reply_to=${seq}#text`],
      ['react-link', say('actions.react'), `${base}/reactions`],
      canEdit(li) && ['edit', say('actions.edit'), `${base}/edit`],
      canDelete(li) && ['delete', say('actions.delete'), `${base}/delete`],
    ].filter(Boolean);
    const have = actions ? [...actions.querySelectorAll(':scope > a')].map((a) => a.className).join(' ') : null;
    if (have === want.map((w) => w[0]).join(' ')) return;
    actions?.remove();
    actions = document.createElement('span');
    actions.className = 'actions';
    for (const [cls, text, href] of want) {
      const a = document.createElement('a');
      a.className = cls;
      a.href = href;
      a.textContent = text;
      actions.append(a, ' ');
    }
    li.insertBefore(actions, state);
  };

  const transmitChange = (c) => {
    const ws = socket();
    if (!conn.admitted || !ws || ws.readyState !== WebSocket.OPEN) return;
    const frame = c.del ? { delete: String(c.seq), nonce: c.nonce } : { edit: String(c.seq), text: c.text, nonce: c.nonce };
    try {
      ws.send(JSON.stringify({ ...frame, headers: { 'HX-Request': 'true' } }));
      c.state = 'sending';
    } catch {
      c.state = 'queued';
    }
    showChange(c);
  };

  const showChange = (c) => {
    const li = document.getElementById(`msg-${c.seq}`);
    if (li) controls(li);
  };

  const queueChange = (seq, del, text) => {
    if (conn.ended) {
      showError(say('change.signed_out'));
      return;
    }
    const c = { nonce: newNonce(), seq, del, text, state: 'queued' };
    changes.push(c);
    showChange(c);
    transmitChange(c);
  };

  const settleChange = (c) => {
    changes.splice(changes.indexOf(c), 1);
    showChange(c);
  };

  // A reply to a change: done (the message itself comes to every page),
  // refused (why, in #send-error), or to be sent again once the chat is back.
  const changeAnswered = (p) => {
    const c = changes.find((x) => x.nonce === p.dataset.nonce);
    if (!c) return false;
    switch (p.dataset.outcome) {
      case 'sent':
        settleChange(c);
        break;
      case 'unavailable':
        c.state = 'waiting';
        showChange(c);
        break;
      default:
        showError(p.textContent);
        settleChange(c);
    }
    return true;
  };

  const flushChanges = (states) => {
    for (const c of changes) if (states.includes(c.state)) transmitChange(c);
  };

  // The box a message turns into. Focus goes back where it came from on
  // Escape, and to the message box once saved.
  let editing = null; // { li, box, area, back }
  const closeEditor = (focusTo) => {
    if (!editing) return;
    const { li, box } = editing;
    editing = null;
    box.remove();
    li.classList.remove('editing');
    for (const el of li.querySelectorAll(':scope > [data-hidden-by-edit]')) {
      el.hidden = false;
      delete el.dataset.hiddenByEdit;
    }
    controls(li);
    // Once the key that closed it is up: its line break is not the box's.
    afterKeys(() => (focusTo?.isConnected ? focusTo : input).focus());
  };

  const openEditor = (li, back) => {
    if (!canEdit(li)) return;
    if (editing) closeEditor(null);
    cancelConfirm();
    const seq = Number(li.id.slice(4));
    const original = li.querySelector(':scope > .text')?.textContent ?? '';
    const box = document.createElement('div');
    box.className = 'edit-box';
    const label = document.createElement('label');
    label.className = 'visually-hidden';
    label.htmlFor = `edit-${seq}`;
    label.textContent = say('change.edit_label');
    const area = document.createElement('textarea');
    area.id = `edit-${seq}`;
    area.rows = 1;
    area.maxLength = maxText;
    area.value = original;
    area.setAttribute('aria-describedby', `edit-hint-${seq} send-error`);
    const hintText = document.createElement('small');
    hintText.id = `edit-hint-${seq}`;
    hintText.className = 'hint';
    hintText.textContent = say('change.edit_hint');
    const save = document.createElement('button');
    save.type = 'button';
    save.dataset.act = 'save';
    save.textContent = say('change.save');
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.className = 'link';
    cancel.dataset.act = 'cancel';
    cancel.textContent = say('change.cancel');
    box.append(label, area, save, ' ', cancel, hintText);
    for (const el of li.querySelectorAll(':scope > .text, :scope > .edited, :scope > .actions')) {
      el.hidden = true;
      el.dataset.hiddenByEdit = '1';
    }
    li.classList.add('editing');
    li.querySelector(':scope > .text').after(box);
    editing = { li, box, area, back, original };
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  };

  const saveEdit = () => {
    if (!editing) return;
    const { li, area, original } = editing;
    const text = area.value;
    if (text.trim() === '') {
      showError(say('change.empty'));
      return;
    }
    if (text.trim().split('\n').length > maxLines) {
      showError(say('compose.max_lines', { Count: maxLines }));
      return;
    }
    showError('');
    closeEditor(input);
    if (text.trim() !== original.trim()) queueChange(Number(li.id.slice(4)), false, text);
  };

  // Delete asks once more, in place: Delete again, or Cancel (Escape).
  let confirming = null; // { li, group, back }
  const cancelConfirm = (focusBack) => {
    if (!confirming) return;
    const { li, group, back } = confirming;
    confirming = null;
    group.remove();
    controls(li);
    if (focusBack) (back?.isConnected ? back : li.querySelector(':scope > .actions > .delete') || input).focus();
  };
  const askDelete = (li, back) => {
    if (!canDelete(li)) return;
    if (editing) closeEditor(null);
    cancelConfirm();
    li.querySelector(':scope > .actions')?.remove();
    const group = document.createElement('span');
    group.className = 'confirm';
    group.setAttribute('role', 'group');
    group.setAttribute('aria-label', say('change.confirm_delete'));
    const q = document.createElement('span');
    q.textContent = `${say('change.confirm_delete')} `;
    const yes = document.createElement('button');
    yes.type = 'button';
    yes.dataset.act = 'confirm-delete';
    yes.textContent = say('change.delete');
    const no = document.createElement('button');
    no.type = 'button';
    no.className = 'link';
    no.dataset.act = 'cancel-delete';
    no.textContent = say('change.cancel');
    group.append(q, yes, ' ', no);
    li.insertBefore(group, li.querySelector(':scope > .change-state'));
    confirming = { li, group, back };
    yes.focus();
  };

  const keysDown = new Set();
  document.addEventListener('keydown', (e) => keysDown.add(e.code), true);
  document.addEventListener('keyup', (e) => keysDown.delete(e.code), true);
  window.addEventListener('blur', () => keysDown.clear());
  const afterKeys = (f) => {
    if (keysDown.size === 0) {
      f();
      return;
    }
    let timer = 0;
    const go = () => {
      if (keysDown.size > 0 && timer) return;
      document.removeEventListener('keyup', go, true);
      clearTimeout(timer);
      timer = 0;
      f();
    };
    document.addEventListener('keyup', go, true);
    timer = setTimeout(() => { timer = 0; go(); }, 1000); // a key up lost
  };

  log.addEventListener('click', (e) => {
    const el = e.target.closest('a.edit, a.delete, button[data-act]');
    const li = el?.closest('li[id^="msg-"]');
    if (!li) return;
    // A link taken with Enter is followed on the key's way down, and the
    // rest of the key press goes where the focus is then: the box opens
    // (or the question is asked) once that key is up.
    if (el.matches('a.edit')) {
      e.preventDefault();
      afterKeys(() => openEditor(li, el));
    } else if (el.matches('a.delete')) {
      e.preventDefault();
      afterKeys(() => askDelete(li, el));
    } else if (el.dataset.act === 'save') saveEdit();
    else if (el.dataset.act === 'cancel') closeEditor(editing?.back);
    else if (el.dataset.act === 'confirm-delete') {
      const seq = Number(li.id.slice(4));
      confirming = null;
      el.closest('.confirm').remove();
      afterKeys(() => input.focus());
      queueChange(seq, true, '');
    } else if (el.dataset.act === 'cancel-delete') cancelConfirm(true);
  });

  log.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && confirming && e.target.closest('.confirm')) {
      e.preventDefault();
      cancelConfirm(true);
      return;
    }
    if (!editing || e.target !== editing.area || e.isComposing) return;
    if (e.key === 'Escape') {
      e.preventDefault();
      closeEditor(editing.back);
    } else if (e.key === 'Enter' && !e.shiftKey && !e.altKey && !e.ctrlKey && !e.metaKey) {
      e.preventDefault();
      saveEdit();
    }
  });

  // ---- Reactions and replies ---------------------------------------------
  //
  // A reaction button toggles the reader's emoji under a message over the
  // socket ({"react": seq, "emoji", "nonce"}); pushed messages are the same
  // bytes for everyone, so the page presses the reader's own (data-by holds
  // the reactors' author handles). React opens the quick reactions and a
  // box for any one emoji; Reply (or r on a focused message) puts
  // "Replying to …" above the box, and the next message answers it. A
  // reply's quote leads to its message, loading earlier pages until it is
  // shown. docs/SPEC.md has the frames and the markup.

  const pressedOf = (li) => {
    for (const b of li.querySelectorAll(':scope > .reactions button.reaction, :scope > .react-form button.reaction')) {
      const mine = myHandle !== '' && (b.dataset.by || '').split(' ').includes(myHandle);
      const want = mine ? 'true' : 'false';
      if (b.getAttribute('aria-pressed') !== want) b.setAttribute('aria-pressed', want);
    }
  };

  const reacting = new Map(); // nonce → { seq, emoji }
  let refocus = null; // what had the focus when a reaction went: { seq, emoji }
  const sendReaction = (seq, emoji) => {
    const ws = socket();
    if (conn.ended) {
      showError(say('reaction.signed_out'));
      return;
    }
    if (!conn.admitted || !ws || ws.readyState !== WebSocket.OPEN) {
      showError(say('reaction.not_connected'));
      return;
    }
    const nonce = newNonce();
    reacting.set(nonce, { seq, emoji });
    try {
      ws.send(JSON.stringify({ react: String(seq), emoji, nonce, headers: { 'HX-Request': 'true' } }));
      showError('');
    } catch {
      reacting.delete(nonce);
      showError(say('reaction.not_connected'));
    }
  };
  const reactionAnswered = (p) => {
    const r = reacting.get(p.dataset.nonce);
    if (!r) return false;
    reacting.delete(p.dataset.nonce);
    if (p.dataset.outcome === 'unavailable') showError(say('reaction.not_saved'));
    else if (p.dataset.outcome !== 'sent') showError(p.textContent);
    return true;
  };
  // A message morphed with its new reactions may lose the focus of the
  // button that was pressed: it goes back to that button, or to React,
  // for the few seconds the reaction takes to come back.
  let refocusTimer = 0;
  const keepFocusOn = (seq, emoji) => {
    refocus = { seq, emoji };
    clearTimeout(refocusTimer);
    refocusTimer = setTimeout(() => { refocus = null; }, 3000);
  };
  const keepFocus = () => {
    if (!refocus) return;
    const li = document.getElementById(`msg-${refocus.seq}`);
    const active = document.activeElement;
    if (li && (!active || active === document.body)) {
      const b = [...li.querySelectorAll('button.reaction')].find((x) => x.dataset.emoji === refocus.emoji);
      (b || li.querySelector(':scope > .actions > .react-link') || li).focus();
    }
  };

  // The picker: the quick reactions and a box for any one emoji.
  const quick = ['👍', '❤️', '😂', '🎉', '😮', '🙏'];
  let picker = null; // { li, group, back }
  const closePicker = (focusBack) => {
    if (!picker) return;
    const { group, back } = picker;
    picker = null;
    group.remove();
    if (focusBack && back?.isConnected) back.focus();
  };
  const openPicker = (li, back) => {
    closePicker(false);
    const seq = Number(li.id.slice(4));
    const group = document.createElement('span');
    group.className = 'picker';
    group.setAttribute('role', 'group');
    group.setAttribute('aria-label', say('reaction.picker_label', { Name: li.dataset.name }));
    for (const e of quick) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'quick';
      b.dataset.pick = e;
      b.setAttribute('aria-label', say('reaction.with', { Emoji: e }));
      b.textContent = e;
      group.append(b);
    }
    const label = document.createElement('label');
    label.className = 'visually-hidden';
    label.htmlFor = `pick-${seq}`;
    label.textContent = say('reaction.any_label');
    const box = document.createElement('input');
    box.id = `pick-${seq}`;
    box.type = 'text';
    box.maxLength = 32;
    box.autocomplete = 'off';
    box.placeholder = say('reaction.any_placeholder');
    const add = document.createElement('button');
    add.type = 'button';
    add.dataset.act = 'pick-any';
    add.textContent = say('reaction.add');
    const close = document.createElement('button');
    close.type = 'button';
    close.className = 'link';
    close.dataset.act = 'close-picker';
    close.textContent = say('reaction.close');
    group.append(label, box, add, close);
    li.insertBefore(group, li.querySelector(':scope > .change-state'));
    picker = { li, group, back, seq };
    group.querySelector('button').focus();
  };
  const pick = (emoji) => {
    if (!picker || emoji.trim() === '') return;
    const { seq, back } = picker;
    keepFocusOn(seq, emoji.trim());
    closePicker(false);
    if (back?.isConnected) back.focus();
    sendReaction(seq, emoji.trim());
  };

  // Replying.
  const replying = document.getElementById('replying');
  const replyingText = document.getElementById('replying-text');
  const replyField = document.getElementById('reply-to');
  const replyCancel = document.getElementById('reply-cancel');
  const describedBy = input.getAttribute('aria-describedby') || '';
  const showReplying = (name, text) => {
    const who = document.createElement('strong');
    who.dir = 'auto';
    who.textContent = name;
    const what = document.createElement('span');
    what.dir = 'auto';
    what.textContent = text;
    replyingText.replaceChildren(say('reply.replying', { Name: who, Text: what }));
  };
  const quoteWords = (text) => {
    const chars = [...text];
    return chars.length > 140 ? chars.slice(0, 140).join('') + '…' : text;
  };
  const startReply = (li) => {
    if (!replying || isDeleted(li)) return;
    replyField.value = li.id.slice(4);
    showReplying(li.dataset.name, quoteWords(li.querySelector(':scope > .text')?.textContent ?? ''));
    replying.hidden = false;
    if (!describedBy.includes('replying-text')) input.setAttribute('aria-describedby', `${describedBy} replying-text`.trim());
    afterKeys(() => input.focus());
  };
  const cancelReply = () => {
    if (!replying) return;
    replyField.value = '';
    replyingText.replaceChildren();
    replying.hidden = true;
    input.setAttribute('aria-describedby', describedBy.replace(/\s*replying-text/, ''));
  };
  replyCancel?.addEventListener('click', (e) => {
    e.preventDefault();
    cancelReply();
    input.focus();
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && replying && !replying.hidden && !e.isComposing) {
      e.preventDefault();
      cancelReply();
    }
  });

  // An original edited or deleted: every quote of it says so now, and so
  // does "Replying to" when the box answers it.
  const requote = (p) => {
    const fresh = p.querySelector('blockquote.reply');
    if (!fresh) return;
    for (const q of log.querySelectorAll(`blockquote.reply[data-seq="${p.dataset.seq}"]`)) q.replaceWith(fresh.cloneNode(true));
    if (replying && !replying.hidden && replyField.value === p.dataset.seq) {
      showReplying(fresh.querySelector('.reply-name')?.textContent ?? '', fresh.querySelector('.reply-text')?.textContent ?? '');
    }
  };

  // A quote leads to its message: earlier pages load until it is shown
  // (or the room's start), then it is scrolled to, focused and lit.
  // The link is used once htmx has taken it in (a new one comes with each
  // page): clicked before, it would open the page of its own.
  const nextFrame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
  const earlierLink = async () => {
    for (let i = 0; i < 120; i++) {
      const link = document.getElementById('earlier');
      if (!link || link._htmx) return link;
      await nextFrame();
    }
    return null;
  };
  const loadEarlier = async () => {
    const link = await earlierLink();
    if (!link) return false;
    const wrap = document.getElementById('earlier-wrap');
    return new Promise((resolve) => {
      const done = (ok) => {
        clearTimeout(timer);
        watch.disconnect();
        chat.removeEventListener('htmx:error', failed);
        resolve(ok);
      };
      const failed = () => done(false);
      // The page has come once the link it followed is replaced.
      const watch = new MutationObserver(() => {
        if (document.getElementById('earlier-wrap') !== wrap) done(true);
      });
      watch.observe(log, { childList: true, subtree: true });
      chat.addEventListener('htmx:error', failed);
      const timer = setTimeout(() => done(false), 10000);
      link.click();
    });
  };
  const oldestShown = () => Number((scrollback.firstElementChild || messages.firstElementChild)?.id?.slice(4)) || 0;
  const goTo = async (seq) => {
    let li = document.getElementById(`msg-${seq}`);
    for (let pages = 0; !li && pages < 50; pages++) {
      const oldest = oldestShown();
      if (oldest !== 0 && oldest <= seq) break;
      if (!(await loadEarlier())) break;
      li = document.getElementById(`msg-${seq}`);
    }
    if (!li) {
      notice(say('reply.gone'));
      return;
    }
    li.scrollIntoView({ block: 'center' });
    li.focus({ preventScroll: true });
    li.classList.add('highlight');
    setTimeout(() => li.classList.remove('highlight'), 2000);
  };

  log.addEventListener('click', (e) => {
    const el = e.target.closest('button.reaction, a.react-link, a.reply-link, blockquote.reply a, .picker button');
    const li = el?.closest('li[id^="msg-"]');
    if (!el || !li) return;
    e.preventDefault();
    if (el.matches('button.reaction')) {
      keepFocusOn(Number(li.id.slice(4)), el.dataset.emoji);
      sendReaction(Number(li.id.slice(4)), el.dataset.emoji);
    } else if (el.matches('a.react-link')) afterKeys(() => openPicker(li, el));
    else if (el.matches('a.reply-link')) startReply(li);
    else if (el.matches('blockquote.reply a')) goTo(Number(el.closest('blockquote').dataset.seq));
    else if (el.dataset.pick) pick(el.dataset.pick);
    else if (el.dataset.act === 'pick-any') pick(el.parentNode.querySelector('input').value);
    else if (el.dataset.act === 'close-picker') closePicker(true);
  });
  log.addEventListener('keydown', (e) => {
    if (picker && e.target.closest('.picker')) {
      if (e.key === 'Escape') {
        e.preventDefault();
        closePicker(true);
      } else if (e.key === 'Enter' && e.target.matches('input')) {
        e.preventDefault();
        pick(e.target.value);
      }
      return;
    }
    // r on a focused message replies to it.
    if (e.key === 'r' && !e.ctrlKey && !e.metaKey && !e.altKey && e.target.matches('li[id^="msg-"]')) {
      e.preventDefault();
      startReply(e.target);
    }
  });

  // ↑ in the empty message box edits the reader's last message.
  input.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowUp' || input.value !== '' || e.shiftKey || e.altKey || e.ctrlKey || e.metaKey || e.isComposing) return;
    const mine = [...messages.querySelectorAll(':scope > li[id^="msg-"]')].filter(canEdit);
    if (mine.length === 0) return;
    e.preventDefault();
    openEditor(mine[mine.length - 1], input);
  });

  // A history or a change that morphs the message being edited takes the
  // box away: the focus goes back to the message box.
  new MutationObserver(() => {
    if (editing && !editing.box.isConnected) {
      const { li } = editing;
      editing = null;
      li.classList.remove('editing');
      controls(li);
      if (!document.activeElement || document.activeElement === document.body) input.focus();
    }
    if (confirming && !confirming.group.isConnected) confirming = null;
  }).observe(log, { childList: true, subtree: true });

  // ---- Limits ----------------------------------------------------------

  const updateCount = () => {
    const n = input.value.length;
    count.textContent = `${n.toLocaleString(lang)} / ${maxText.toLocaleString(lang)}`;
    count.classList.toggle('full', n >= maxText);
  };
  input.addEventListener('input', updateCount);

  // The field holds at most maxText characters: text that does not fit is
  // cut off by the browser, and the page says so.
  input.addEventListener('beforeinput', (e) => {
    const incoming = e.data ?? e.dataTransfer?.getData('text/plain') ?? '';
    const room = maxText - (input.value.length - (input.selectionEnd - input.selectionStart));
    if (incoming.length > room) {
      const left = incoming.length - Math.max(room, 0);
      showError(say('compose.too_long', { Max: maxText, Left: left }));
    }
  });

  // ---- Connection ------------------------------------------------------
  //
  // hx-ws opens the socket (hx-trigger "load, chat:connect" on #chat) and
  // applies what the server pushes; this script decides when to connect
  // again (hx-ws's own reconnect is off: it cannot be hurried), and says
  // what is going on. A socket counts as connected only once the server
  // has let it into the room: its first #availability comes right after
  // the history.

  const conn = {
    phase: 'connecting', // connecting, connected, unavailable, waiting, offline, ended
    admitted: false,
    available: true,
    everAdmitted: false,
    lost: false, // the page said the connection was lost, and not yet that it is back
    attempt: 0,
    timer: 0,
    ended: false,
    opened: false, // the current socket's handshake went through
    restarting: false, // closed with 1012 and not yet back in the room
  };

  const statusText = {
    connecting: () => say('status.connecting'),
    connected: () => say('status.connected'),
    unavailable: () => say('status.unavailable'),
    waiting: () => say('status.reconnecting'),
    offline: () => say('status.offline'),
    ended: () => say('status.ended'),
  };

  const setPhase = (phase) => {
    conn.phase = phase;
    status.dataset.state = phase;
    status.textContent = statusText[phase]();
    showRetry(phase === 'waiting' || phase === 'offline');
  };

  // Retry now shows while the page waits to reconnect. When it goes away
  // under the keyboard's focus, the focus goes back to the message box.
  const showRetry = (show) => {
    const hadFocus = document.activeElement === retryNow;
    retryNow.hidden = !show;
    if (hadFocus && !show) input.focus();
  };

  const connectNow = () => {
    if (conn.ended) return;
    clearTimeout(conn.timer);
    conn.timer = 0;
    if (chat._htmx?.ws?.connection) return; // a socket is open or opening
    setPhase(conn.everAdmitted ? 'waiting' : 'connecting');
    showRetry(false);
    chat.dispatchEvent(new CustomEvent('chat:connect'));
  };
  retryNow.addEventListener('click', connectNow);

  // Back-off between attempts: 0.5 s doubling to 8 s, ±30 %. A restart of
  // the server (1012) is retried at once: another instance takes over.
  const delayFor = (code) => {
    if (code === 1012) return 100 + Math.random() * 400;
    conn.attempt++;
    const base = Math.min(500 * 2 ** (conn.attempt - 1), 8000);
    return base * (0.7 + Math.random() * 0.6);
  };

  chat.addEventListener('htmx:ws:after:connection', () => { conn.opened = true; });

  // The session has ended: say so once, with the way back through sign-in,
  // and stop. What was typed stays: the box, and the outbox marked unsent.
  const endSession = () => {
    conn.ended = true;
    clearTimeout(conn.timer);
    for (const entry of outbox) {
      if (entry.state !== 'failed' && entry.state !== 'sent') {
        entry.state = 'ended';
        render(entry);
      }
    }
    setPhase('ended');
  };

  // A handshake refused at the front door (Identity-Aware Proxy's 401, or
  // its redirect to sign in, which a WebSocket cannot follow) reaches the
  // page as 1006, like a network cut: ask over plain HTTP whether the
  // session still holds. A redirect (anywhere), 401 or 403 means it does
  // not; anything else, or no answer, and the page keeps trying.
  const sessionEnded = async () => {
    try {
      const res = await fetch('/session', {
        redirect: 'manual', cache: 'no-store', credentials: 'same-origin',
        signal: AbortSignal.timeout(10000),
      });
      return res.type === 'opaqueredirect' || res.status === 401 || res.status === 403;
    } catch {
      return false;
    }
  };

  const room = decodeURIComponent(location.pathname.split('/')[2] || '');
  const sayEnded = () => {
    const p = document.createElement('p');
    const a = document.createElement('a');
    a.href = `/?room=${encodeURIComponent(room)}`;
    a.textContent = say('connection.sign_in_again');
    p.append(say('connection.session_ended', { Link: a }));
    notices.append(p);
  };

  chat.addEventListener('htmx:ws:close', (e) => {
    const { reason, code } = e.detail || {};
    if (reason !== 'closed') return;
    const wasAdmitted = conn.admitted;
    const opened = conn.opened;
    conn.admitted = false;
    conn.opened = false;
    // What was on its way has an unknown fate: it goes again, same nonce.
    for (const entry of outbox) {
      if (entry.state === 'sending') {
        entry.state = 'queued';
        render(entry);
      }
    }
    for (const c of changes) {
      if (c.state === 'sending') {
        c.state = 'queued';
        showChange(c);
      }
    }
    if (code === 1000) {
      // The page is going away (or into the back-forward cache: pageshow).
      setPhase('connecting');
      return;
    }
    if (code === 1008) {
      // Signed out, or the name is taken: the server said why, with a link.
      endSession();
      return;
    }
    if (code === 1009) showError(say('connection.too_large'));
    // 1012 is the server's planned close (its socket's age, or a restart):
    // the page is back in a moment, and the status says "Reconnecting…"
    // meanwhile. Only if that reconnect fails is the connection lost.
    if (code === 1012) conn.restarting = true;
    setPhase(navigator.onLine ? 'waiting' : 'offline');
    clearTimeout(conn.timer);
    const retry = () => {
      if (code !== 1012 && (wasAdmitted || conn.restarting) && !conn.lost) {
        conn.lost = true;
        notice(say('connection.lost'));
      }
      clearTimeout(conn.timer);
      conn.timer = setTimeout(connectNow, delayFor(code));
    };
    if (opened || code !== 1006) {
      retry();
      return;
    }
    sessionEnded().then((ended) => {
      // Meanwhile the page may have connected again (Retry now, online).
      if (conn.ended || conn.admitted || chat._htmx?.ws?.connection) return;
      if (!ended) {
        retry();
        return;
      }
      sayEnded();
      endSession();
    });
  });

  // A page restored from the back-forward cache had its socket closed on
  // the way out (1000); it connects again.
  window.addEventListener('pageshow', (e) => {
    if (e.persisted) connectNow();
  });
  window.addEventListener('offline', () => {
    if (!conn.ended) setPhase('offline');
  });
  window.addEventListener('online', () => {
    if (conn.ended) return;
    const ws = socket();
    if (conn.admitted && ws && ws.readyState === WebSocket.OPEN) {
      setPhase(conn.available ? 'connected' : 'unavailable');
      for (const entry of outbox) if (entry.state === 'queued') render(entry);
      return;
    }
    conn.attempt = 0;
    connectNow();
  });

  // The server's signals (docs/SPEC.md): a reply answers a message, by its
  // nonce; an availability says whether sending works.
  const answered = (p) => {
    if (changeAnswered(p) || reactionAnswered(p)) return;
    const entry = outbox.find((x) => x.nonce === p.dataset.nonce);
    if (p.dataset.outcome !== 'sent') showError(p.textContent);
    if (!entry) return;
    switch (p.dataset.outcome) {
      case 'sent':
        entry.state = 'sent';
        entry.seq = Number(p.dataset.seq);
        render(entry);
        settle();
        break;
      case 'unavailable':
        entry.state = 'waiting';
        render(entry);
        break;
      case 'refused':
        entry.state = 'failed';
        entry.why = p.textContent;
        render(entry);
        break;
    }
  };

  const availability = (p) => {
    const ok = p.dataset.state === 'ok';
    if (!conn.admitted) {
      // Into the room: the history came first, the page shows what is
      // stored. What it had given way to a stored message is settled.
      conn.admitted = true;
      conn.everAdmitted = true;
      conn.restarting = false;
      conn.attempt = 0;
      conn.available = ok;
      for (const entry of [...outbox]) if (entry.state === 'sent') remove(entry);
      joinScrollback();
      if (conn.lost) {
        conn.lost = false;
        notice(say('connection.restored'));
      }
      if (!ok) notice(p.textContent.trim());
      setPhase(ok ? 'connected' : 'unavailable');
      // upload.js tries again the uploads the network cut.
      chat.dispatchEvent(new CustomEvent('chat:admitted'));
      flush(['queued', 'sending', 'waiting']);
      flushChanges(['queued', 'sending', 'waiting']);
      return;
    }
    if (ok === conn.available) return;
    conn.available = ok;
    notice(ok ? say('connection.sending_again') : p.textContent.trim());
    setPhase(ok ? 'connected' : 'unavailable');
    if (ok) {
      flush(['waiting']);
      flushChanges(['waiting']);
    }
  };

  // ---- Typing ------------------------------------------------------------
  //
  // While the box has text, the page says so at most every 2 s; others'
  // pages show who is typing until 5 s after the last word of it, or until
  // that person's message arrives. Nothing of it is stored.

  const typingLine = document.getElementById('typing');
  const typists = new Map(); // name -> timer
  const showTypists = () => {
    const names = [...typists.keys()];
    let text = '';
    if (names.length === 1) text = say('typing.name', { Name: names[0] });
    else if (names.length === 2) text = say('typing.names', { Name: names[0], Other: names[1] });
    else if (names.length > 2) text = say('typing.others', { Name: names[0], Count: names.length - 1 });
    if (typingLine && typingLine.textContent !== text) typingLine.textContent = text;
  };
  const stoppedTyping = (name) => {
    clearTimeout(typists.get(name));
    if (typists.delete(name)) showTypists();
  };
  const startedTyping = (name) => {
    if (!name || name === me) return;
    clearTimeout(typists.get(name));
    typists.set(name, setTimeout(() => stoppedTyping(name), 5000));
    showTypists();
  };
  let typingSent = 0;
  input.addEventListener('input', () => {
    const ws = socket();
    if (input.value.trim() === '' || !conn.admitted || !ws || ws.readyState !== WebSocket.OPEN) return;
    const now = Date.now();
    if (now - typingSent < 2000) return;
    typingSent = now;
    try { ws.send(JSON.stringify({ typing: true })); } catch { /* the next keystroke tries again */ }
  });

  // ---- Shown or hidden ---------------------------------------------------
  //
  // A hidden page (a background tab, a locked phone) is not sent who is
  // typing nor the directory: nobody sees them there. The page says so
  // ({"visible": false}) when it joins hidden (a socket starts shown) and
  // each time that changes; messages, the members and "Your rooms" (the
  // tab's title counts its unread) keep coming.
  const sayShown = () => {
    const ws = socket();
    if (!conn.admitted || !ws || ws.readyState !== WebSocket.OPEN) return;
    try { ws.send(JSON.stringify({ visible: !document.hidden })); } catch { /* said again at the next change or join */ }
  };
  document.addEventListener('visibilitychange', sayShown);
  chat.addEventListener('chat:admitted', () => { if (document.hidden) sayShown(); });

  // A private room's invitation link, once made, has a Copy button.
  const inviteLink = document.getElementById('invite-link');
  const copyInvite = document.getElementById('copy-invite');
  if (inviteLink && copyInvite && navigator.clipboard) {
    copyInvite.hidden = false;
    copyInvite.addEventListener('click', () => {
      navigator.clipboard.writeText(inviteLink.value).then(
        () => { copyInvite.textContent = say('link.invite_copied'); },
        () => { inviteLink.select(); },
      );
    });
  }

  // A verified person's page (it has #dm-form) puts Message by every other
  // name in the member list, and a moderator's (#remove-form) Remove, as
  // the server renders them: pushed lists are the same bytes for every
  // reader and carry none.
  const members = document.getElementById('members');
  const tools = [
    { form: 'dm-form', cls: 'dm', label: say('members.message'), more: (n) => say('members.message_who', { Name: n }) },
    { form: 'remove-form', cls: 'remove', label: say('members.remove'), more: (n) => say('members.remove_who', { Name: n }) },
  ].filter((t) => document.getElementById(t.form));
  if (members && tools.length > 0) {
    const memberTools = () => {
      for (const li of members.children) {
        const name = li.firstChild && li.firstChild.nodeType === 3 ? li.firstChild.data.trim() : '';
        if (name === '' || name === me) continue;
        for (const t of tools) {
          if (li.querySelector('button.' + t.cls)) continue;
          const b = document.createElement('button');
          b.className = 'link ' + t.cls;
          b.type = 'submit';
          b.setAttribute('form', t.form);
          b.name = 'name';
          b.value = name;
          b.textContent = t.label;
          const more = document.createElement('span');
          more.className = 'visually-hidden';
          more.textContent = t.more(name);
          b.append(more);
          li.append(' ', b);
        }
      }
    };
    new MutationObserver(memberTools).observe(members, { childList: true });
    memberTools();
  }

  const signals = document.getElementById('signals');
  new MutationObserver(() => {
    for (const p of [...signals.children]) {
      p.remove();
      if (p.dataset.signal === 'reply') answered(p);
      if (p.dataset.signal === 'availability') availability(p);
      if (p.dataset.signal === 'typing') startedTyping(p.dataset.name);
      if (p.dataset.signal === 'quote') requote(p);
    }
  }).observe(signals, { childList: true });

  new MutationObserver((records) => {
    markMine();
    settle();
    layout();
    if (hint) hint.hidden = messages.childElementCount > 0;
    let fresh = 0;
    let mentioned = 0;
    for (const r of records) {
      if (r.target !== messages) continue; // a change inside a message
      for (const n of r.addedNodes) {
        if (n.nodeType !== 1 || !n.id.startsWith('msg-') || n.dataset.name === me) continue;
        fresh++;
        stoppedTyping(n.dataset.name);
        if (n.classList.contains('mentions-me')) {
          mentioned++;
          if (document.hidden) notifyMention(n);
        }
      }
    }
    if (document.hidden && fresh > 0) {
      unread += fresh;
      mentions += mentioned;
      showTitle();
    }
    keepFocus();
    if (atBottom) toBottom();
    else if (fresh > 0) newMessages.hidden = false;
    // Inside messages too: a history that morphs a message back to the
    // server's markup is laid out again.
  }).observe(messages, { childList: true, subtree: true, characterData: true });

  // ---- Reading: where the reader stopped, for all their devices ---------
  //
  // While the page is visible and focused, the newest message in view is
  // reported read (POST /rooms/{room}/read): 300 ms after messages stop
  // coming, and at most once every 3 s while they keep coming (a report
  // is a write to the store shared by every instance), and again when the
  // page gets the focus back. What was in view while focused is reported
  // even if the focus went meanwhile. A heartbeat every 15 s (focused=1)
  // says the page is focused, so that no push is sent for this room
  // meanwhile (the server keeps it 30 s); a report that said so within
  // the last 10 s stands in for it.
  {
    const readURL = `/rooms/${encodeURIComponent(roomName)}/read`;
    const focused = () => !document.hidden && document.hasFocus();
    const post = (fields) => fetch(readURL, { method: 'POST', body: new URLSearchParams(fields), credentials: 'same-origin' }).catch(() => {});
    const readGap = 3000;
    let reported = 0;
    let seen = 0; // the newest message in view while focused
    let lastReport = 0; // when a report last went
    let lastFocused = 0; // when a post last said focused=1
    let readTimer = 0;
    const newestInView = () => {
      const view = log.getBoundingClientRect();
      for (let li = messages.lastElementChild; li; li = li.previousElementSibling) {
        if (!li.id.startsWith('msg-')) continue;
        const r = li.getBoundingClientRect();
        if (r.top < view.bottom && r.bottom > view.top) return Number(li.id.slice(4)) || 0;
      }
      return 0;
    };
    const reportRead = () => {
      if (focused()) seen = Math.max(seen, newestInView());
      clearTimeout(readTimer);
      readTimer = setTimeout(() => {
        if (focused()) seen = Math.max(seen, newestInView());
        if (seen <= reported) return;
        reported = seen;
        lastReport = Date.now();
        const fields = { seq: String(seen) };
        if (focused()) {
          fields.focused = '1';
          lastFocused = lastReport;
        }
        post(fields);
      }, Math.max(300, lastReport + readGap - Date.now()));
    };
    const heartbeat = () => {
      if (!focused() || Date.now() - lastFocused < 10000) return;
      lastFocused = Date.now();
      post({ focused: '1' });
    };
    setInterval(heartbeat, 15000);
    window.addEventListener('focus', () => {
      heartbeat();
      reportRead();
    });
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) return;
      heartbeat();
      reportRead();
    });
    log.addEventListener('scroll', reportRead, { passive: true });
    new MutationObserver(reportRead).observe(messages, { childList: true });
    reportRead();
  }

  status.hidden = false;
  count.hidden = false;
  updateCount();
  setPhase('connecting');
  markMine();
  layout();
  toBottom();
})();
