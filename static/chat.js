// The room page's script: what htmx and its ws extension do not do by
// themselves. The page works without it (the form posts); with it, what a
// person types gets there once, or stays on screen saying why, and the page
// says truly whether it is connected and whether sending works.
// docs/SPEC.md describes the frames this script reads and sends.
// No inline script anywhere, so a strict CSP holds.
(() => {
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
  const baseTitle = document.title;
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

  // Stay on the newest message unless the reader has scrolled up.
  log.addEventListener('scroll', () => {
    atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  });
  const toBottom = () => { log.scrollTop = log.scrollHeight; };

  // Scrollback: "Earlier messages" loads the older page above the list in
  // place (htmx: the link's fragment prepends to #scrollback). The reader's
  // position stays: the text under their eyes does not move.
  const scrollback = document.getElementById('scrollback');
  let fromBottom = null;
  chat.addEventListener('htmx:before:request', (e) => {
    if (e.target?.id === 'earlier') fromBottom = log.scrollHeight - log.scrollTop;
  });
  new MutationObserver(() => {
    markMine();
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

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) {
      unread = 0;
      document.title = baseTitle;
      if (conn.phase === 'waiting' || conn.phase === 'offline') connectNow();
    }
  });

  // A notice line; the same line twice in a row is said once.
  const notice = (text) => {
    if (notices.lastElementChild?.textContent === text) return;
    const p = document.createElement('p');
    p.textContent = text;
    notices.append(p);
    notices.scrollTop = notices.scrollHeight;
  };

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
  outboxList.setAttribute('aria-label', 'Your messages not yet sent');
  messages.after(outboxList);

  /** @type {{nonce: string, text: string, state: string, seq?: number, why?: string, li: HTMLLIElement}[]} */
  const outbox = [];

  const newNonce = () => {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  };

  const label = {
    queued: () => (navigator.onLine ? 'Waiting for the connection…' : 'Not sent yet: you are offline. It will be sent when you are back.'),
    sending: () => 'Sending…',
    waiting: () => 'Not sent yet: the chat cannot store messages right now. It will be sent when it is back.',
    sent: () => 'Sent',
    ended: () => 'Not sent: you are signed out. Sign in again, then send it again.',
  };

  const render = (entry) => {
    const li = entry.li;
    li.dataset.state = entry.state;
    li.querySelector('.state').textContent = entry.state === 'failed' ? `Not sent: ${entry.why}` : label[entry.state]();
    li.querySelector('.actions').hidden = entry.state !== 'failed';
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
    for (const [action, name] of [['retry', 'Retry'], ['edit', 'Edit']]) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'link';
      b.dataset.action = action;
      b.textContent = name;
      actions.append(b, ' ');
    }
    li.append(from, ' ', state, text, actions);
    return li;
  };

  const remove = (entry) => {
    outbox.splice(outbox.indexOf(entry), 1);
    entry.li.remove();
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
      ws.send(JSON.stringify({ text: entry.text, nonce: entry.nonce, headers: { 'HX-Request': 'true' } }));
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

  const enqueue = (text) => {
    const entry = { nonce: newNonce(), text, state: conn.ended ? 'ended' : 'queued' };
    entry.li = makeItem(entry);
    outbox.push(entry);
    outboxList.append(entry.li);
    render(entry);
    toBottom();
    transmit(entry);
  };

  outboxList.addEventListener('click', (e) => {
    const button = e.target.closest('button[data-action]');
    if (!button) return;
    const entry = outbox.find((x) => x.li === button.closest('li'));
    if (!entry) return;
    if (button.dataset.action === 'edit') {
      if (input.value !== '') {
        showError('Send or clear what is in the box first, then edit this message.');
        input.focus();
        return;
      }
      remove(entry);
      input.value = entry.text;
      updateCount();
      input.focus();
      return;
    }
    // Retry goes to the end of the line, with a nonce of its own: the server
    // refused the first one, so it stored nothing under it.
    remove(entry);
    enqueue(entry.text);
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
      showError('You are signed out: sign in again to send. Your message is still in the box.');
      return;
    }
    if (text.trim() === '') {
      showError('Type a message first.');
      return;
    }
    showError('');
    input.value = '';
    updateCount();
    enqueue(text);
  }, true);

  // ---- Limits ----------------------------------------------------------

  const updateCount = () => {
    const n = input.value.length;
    count.textContent = `${n.toLocaleString('en')} / ${maxText.toLocaleString('en')}`;
    count.classList.toggle('full', n >= maxText);
  };
  input.addEventListener('input', updateCount);

  // The field holds at most maxText characters: text that does not fit is
  // cut off by the browser, and the page says so.
  input.addEventListener('beforeinput', (e) => {
    const incoming = e.data ?? e.dataTransfer?.getData('text/plain') ?? '';
    const room = maxText - (input.value.length - (input.selectionEnd - input.selectionStart));
    if (incoming.length > room) {
      const left = (incoming.length - Math.max(room, 0)).toLocaleString('en');
      showError(`That was too long to fit: a message holds at most ${maxText.toLocaleString('en')} characters, so the last ${left} were left out.`);
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
  };

  const statusText = {
    connecting: 'Connecting…',
    connected: 'Connected',
    unavailable: 'Sending unavailable',
    waiting: 'Reconnecting…',
    offline: 'Offline',
    ended: 'Not connected',
  };

  const setPhase = (phase) => {
    conn.phase = phase;
    status.dataset.state = phase;
    status.textContent = statusText[phase];
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

  chat.addEventListener('htmx:ws:close', (e) => {
    const { reason, code } = e.detail || {};
    if (reason !== 'closed') return;
    const wasAdmitted = conn.admitted;
    conn.admitted = false;
    // What was on its way has an unknown fate: it goes again, same nonce.
    for (const entry of outbox) {
      if (entry.state === 'sending') {
        entry.state = 'queued';
        render(entry);
      }
    }
    if (code === 1000) {
      // The page is going away (or into the back-forward cache: pageshow).
      setPhase('connecting');
      return;
    }
    if (code === 1008) {
      // Signed out, or the name is taken: the server said why, with a link.
      conn.ended = true;
      clearTimeout(conn.timer);
      for (const entry of outbox) {
        if (entry.state !== 'failed' && entry.state !== 'sent') {
          entry.state = 'ended';
          render(entry);
        }
      }
      setPhase('ended');
      return;
    }
    if (code === 1009) showError('The connection was closed because a message was too large. Reconnecting…');
    if (wasAdmitted && !conn.lost) {
      conn.lost = true;
      notice('Connection lost. Reconnecting…');
    }
    setPhase(navigator.onLine ? 'waiting' : 'offline');
    clearTimeout(conn.timer);
    conn.timer = setTimeout(connectNow, delayFor(code));
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
      conn.attempt = 0;
      conn.available = ok;
      for (const entry of [...outbox]) if (entry.state === 'sent') remove(entry);
      joinScrollback();
      if (conn.lost) {
        conn.lost = false;
        notice('Connection restored.');
      }
      if (!ok) notice(p.textContent.trim());
      setPhase(ok ? 'connected' : 'unavailable');
      flush(['queued', 'sending', 'waiting']);
      return;
    }
    if (ok === conn.available) return;
    conn.available = ok;
    notice(ok ? 'Sending works again.' : p.textContent.trim());
    setPhase(ok ? 'connected' : 'unavailable');
    if (ok) flush(['waiting']);
  };

  const signals = document.getElementById('signals');
  new MutationObserver(() => {
    for (const p of [...signals.children]) {
      p.remove();
      if (p.dataset.signal === 'reply') answered(p);
      if (p.dataset.signal === 'availability') availability(p);
    }
  }).observe(signals, { childList: true });

  new MutationObserver((records) => {
    markMine();
    settle();
    let fresh = 0;
    for (const r of records) {
      for (const n of r.addedNodes) {
        if (n.nodeType === 1 && n.id.startsWith('msg-') && n.dataset.name !== me) fresh++;
      }
    }
    if (document.hidden && fresh > 0) {
      unread += fresh;
      document.title = `(${unread}) ${baseTitle}`;
    }
    if (atBottom) toBottom();
  }).observe(messages, { childList: true });

  status.hidden = false;
  count.hidden = false;
  updateCount();
  setPhase('connecting');
  markMine();
  toBottom();
})();
