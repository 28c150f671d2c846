// The room page's "Notify me" (docs/SPEC.md, Web Push): where the server
// sends Web Push (it renders #notify-push with its VAPID public key) and
// the browser can subscribe, a click subscribes the browser through the
// service worker (/sw.js, registered elsewhere) and sends the subscription
// to POST /push/subscriptions; a second click ("Stop notifications") takes
// it back. Where the browser has no PushManager, the same button turns on
// the page's own notifications of mentions (chat.js, while the tab is
// hidden), as #notify does without push. One control either way.
// Without push configured there is no #notify-push, and chat.js's #notify
// is the control.
'use strict';
(() => {
  // Signing out on a shared computer: this browser's subscription goes
  // (the browser drops it, and the form tells the server which endpoint
  // to delete), so it gets no more notifications of the person who left.
  const signOut = document.getElementById('signout');
  if (signOut && 'serviceWorker' in navigator) {
    let done = false;
    signOut.addEventListener('submit', async (e) => {
      if (done) return;
      e.preventDefault();
      done = true;
      try {
        const reg = await navigator.serviceWorker.getRegistration();
        const sub = await reg?.pushManager?.getSubscription();
        if (sub) {
          const field = document.createElement('input');
          field.type = 'hidden';
          field.name = 'push_endpoint';
          field.value = sub.endpoint;
          signOut.append(field);
          await Promise.race([sub.unsubscribe(), new Promise((resolve) => setTimeout(resolve, 2000))]);
        }
      } catch { /* sign out all the same */ }
      signOut.requestSubmit();
    });
  }

  const button = document.getElementById('notify-push');
  if (!button) return;
  const say = typeof window.chatSay === 'function' ? window.chatSay : (key) => key;
  const notices = document.getElementById('notices');
  const tell = (text) => {
    if (!notices || notices.lastElementChild?.textContent === text) return;
    const p = document.createElement('p');
    p.textContent = text;
    notices.append(p);
  };
  // chat.js's key for its own notifications of mentions.
  const inPageKey = 'chat:notify-mentions';
  const canPush = 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;

  if (!canPush) {
    // The fallback: the page's own notifications, as chat.js's #notify.
    const on = () => 'Notification' in window && Notification.permission === 'granted' && localStorage.getItem(inPageKey) === '1';
    if (!('Notification' in window) || Notification.permission === 'denied' || on()) return;
    button.hidden = false;
    button.addEventListener('click', async () => {
      const answer = await Notification.requestPermission();
      button.hidden = true;
      if (answer === 'granted') {
        localStorage.setItem(inPageKey, '1');
        tell(say('notify.on'));
      } else {
        tell(say('notify.blocked'));
      }
    });
    return;
  }

  const key = button.dataset.vapidKey;
  // applicationServerKey wants the key's bytes.
  const keyBytes = () => {
    const b64 = key.replace(/-/g, '+').replace(/_/g, '/');
    const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  };
  // The service worker may never come (no /sw.js): a click does not wait
  // for it for ever.
  const registration = () => Promise.race([
    navigator.serviceWorker.ready,
    new Promise((_, reject) => setTimeout(() => reject(new Error('no service worker')), 10000)),
  ]);
  const post = (path, body) => fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    credentials: 'same-origin',
    body: JSON.stringify(body),
  });
  let subscribed = false;
  const show = () => {
    button.textContent = say(subscribed ? 'push.turn_off' : 'push.turn_on');
    button.hidden = Notification.permission === 'denied';
  };

  const subscribe = async () => {
    const answer = await Notification.requestPermission();
    if (answer !== 'granted') {
      button.hidden = true;
      tell(say('push.blocked'));
      return;
    }
    try {
      const reg = await registration();
      const sub = (await reg.pushManager.getSubscription())
        ?? await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes() });
      const res = await post('/push/subscriptions', sub.toJSON());
      if (res.status !== 201) throw new Error(`status ${res.status}`);
      // Push tells of mentions now: the page's own notifications would
      // say each one twice.
      localStorage.removeItem(inPageKey);
      subscribed = true;
      tell(say('push.on'));
    } catch {
      tell(say('push.failed'));
    }
    show();
  };

  const unsubscribe = async () => {
    try {
      const reg = await registration();
      const sub = await reg.pushManager.getSubscription();
      if (sub) {
        await post('/push/subscriptions/delete', { endpoint: sub.endpoint });
        await sub.unsubscribe();
      }
    } catch { /* it is off here whatever the server kept: it expires there */ }
    subscribed = false;
    tell(say('push.off'));
    show();
  };

  button.addEventListener('click', () => (subscribed ? unsubscribe() : subscribe()));
  show();

  // A browser subscribed before: the control says so, and the server gets
  // the subscription again (its store may have forgotten it, and the page's
  // language may have changed).
  if (Notification.permission === 'granted') {
    navigator.serviceWorker.getRegistration().then(async (reg) => {
      const sub = await reg?.pushManager.getSubscription();
      if (!sub) return;
      const res = await post('/push/subscriptions', sub.toJSON());
      subscribed = res.status === 201;
      show();
    }).catch(() => {});
  }
})();
