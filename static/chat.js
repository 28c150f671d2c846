// The room page's small script: what htmx and its ws extension do not do by
// themselves. The page works without it; it only makes the live page feel
// live. No inline script anywhere, so a strict CSP holds.
(() => {
  const chat = document.getElementById('chat');
  if (!chat) return;
  const log = chat.querySelector('.log');
  const messages = document.getElementById('messages');
  const notices = document.getElementById('notices');
  const status = document.getElementById('connection');
  const me = chat.dataset.me;
  const baseTitle = document.title;
  let unread = 0;
  let atBottom = true;
  let state = 'connecting';

  // Own messages stand apart. Pushed fragments are the same bytes for every
  // reader, so the page marks them.
  const markMine = () => {
    for (const li of messages.querySelectorAll('li[data-name]')) {
      li.classList.toggle('mine', li.dataset.name === me);
    }
  };

  // Stay on the newest message unless the reader has scrolled up.
  log.addEventListener('scroll', () => {
    atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  });
  const toBottom = () => { log.scrollTop = log.scrollHeight; };

  new MutationObserver((records) => {
    markMine();
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

  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) {
      unread = 0;
      document.title = baseTitle;
    }
  });

  const setStatus = (next, text) => {
    state = next;
    status.dataset.state = next;
    status.textContent = text;
  };
  const notice = (text) => {
    const p = document.createElement('p');
    p.textContent = text;
    notices.append(p);
  };

  chat.addEventListener('htmx:ws:after:connection', () => {
    if (state === 'reconnecting' || state === 'offline') notice('Connection restored.');
    setStatus('connected', 'Connected');
  });
  chat.addEventListener('htmx:ws:close', (e) => {
    const { reason, code, connection } = e.detail || {};
    if (reason !== 'closed') return;
    if (connection && connection.config.reconnectCodes.includes(code)) {
      if (state === 'connected') notice('Connection lost. Reconnecting…');
      setStatus('reconnecting', 'Reconnecting…');
    } else {
      setStatus('offline', 'Offline');
    }
  });
  window.addEventListener('offline', () => setStatus('offline', 'Offline'));
  window.addEventListener('online', () => {
    if (state === 'offline') setStatus('reconnecting', 'Reconnecting…');
  });

  const newNonce = () => {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  };

  // A send while the socket is closed is queued by hx-ws and sent when it
  // reopens; its nonce makes it count once. Show it as pending, and give the
  // form a new nonce so that the next message is not taken for this one.
  // The history that opens the next connection replaces the pending item.
  chat.addEventListener('htmx:ws:before:message:outgoing', (e) => {
    const { connection, message } = e.detail;
    if (connection.socket && connection.socket.readyState === WebSocket.OPEN) return;
    const li = document.createElement('li');
    li.className = 'pending mine';
    const from = document.createElement('span');
    from.className = 'from';
    from.textContent = me;
    const when = document.createElement('small');
    when.textContent = 'sending…';
    const text = document.createElement('p');
    text.className = 'text';
    text.textContent = message.values.text;
    li.append(from, when, text);
    messages.append(li);
    toBottom();
    const form = document.getElementById('send');
    form.elements.text.value = '';
    form.elements.nonce.value = newNonce();
  });

  status.hidden = false;
  setStatus('connecting', 'Connecting…');
  markMine();
  toBottom();
})();
