// The chat's service worker (docs/SPEC.md, Installable app), served at
// /sw.js so that its scope is the whole site. It keeps one thing: the
// offline page (/offline) and the files it needs, shown in place of a page
// the network cannot bring. Pages with data (rooms, the directory) and
// API answers are never kept: they go to the network as if no worker
// were there. WebSockets and anything but GET are left alone. It also
// shows Web Push notifications and opens the room a click asks for.
'use strict';

// The cache's name. A version that keeps other files names another, and
// activation drops the old one. static/app.js writes to it too (the
// offline page in the language of the pages read): keep them the same.
const CACHE = 'chat-offline-v1';
const OFFLINE = '/offline';
// What the offline page loads, served from the cache only when the
// network fails.
const FILES = ['/static/chat.css', '/static/app.js', '/static/favicon.svg', '/static/icons/icon-192.png'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(CACHE)
    .then((cache) => cache.addAll([OFFLINE, ...FILES]))
    .then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n)));
    // Navigations start while the worker wakes up, not after.
    if (self.registration.navigationPreload) {
      await self.registration.navigationPreload.enable();
    }
    // The page that registered the worker is served by it from now on,
    // not from its next load.
    await self.clients.claim();
  })());
});

// offlineCopy is the kept copy of path, or a network error when there is
// none (the worker was installed, then the cache cleared).
async function offlineCopy(path) {
  return (await caches.match(path, {cacheName: CACHE})) || Response.error();
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === 'navigate') {
    // Network first, always: a page is only ever the server's. An answer
    // that is an error page (503 and the like) is still the server's
    // answer; only no answer at all shows the offline page.
    event.respondWith((async () => {
      try {
        return (await event.preloadResponse) || (await fetch(req));
      } catch {
        return offlineCopy(OFFLINE);
      }
    })());
    return;
  }
  if (FILES.includes(url.pathname) && url.search === '') {
    event.respondWith(fetch(req).catch(() => offlineCopy(url.pathname)));
  }
});

// sameSite is u as an address on this site, else the site's root: a
// notification never leads elsewhere.
function sameSite(u) {
  try {
    const url = new URL(String(u), self.location.origin);
    if (url.origin === self.location.origin) return url.href;
  } catch {
    // not an address
  }
  return new URL('/', self.location.origin).href;
}

// A push is {"title", "body", "url": "/rooms/{room}#msg-{seq}", "tag":
// "{room}"}: one notification a room, the newest replacing the last.
self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = (event.data && event.data.json()) || {};
  } catch {
    data = {body: event.data ? event.data.text() : ''};
  }
  const options = {
    body: typeof data.body === 'string' ? data.body : '',
    data: {url: sameSite(data.url || '/')},
    icon: '/static/icons/icon-192.png',
    badge: '/static/icons/badge-96.png',
  };
  if (typeof data.tag === 'string' && data.tag !== '') {
    options.tag = data.tag;
    // A new message in the room alerts again, not only replaces.
    options.renotify = true;
  }
  event.waitUntil(self.registration.showNotification(typeof data.title === 'string' ? data.title : '', options));
});

// A click brings up a window of the notification's room, moved to the
// message, else opens one.
self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const target = new URL(sameSite(event.notification.data && event.notification.data.url));
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({type: 'window', includeUncontrolled: true});
    const open = windows.find((c) => new URL(c.url).pathname === target.pathname);
    if (!open) {
      await self.clients.openWindow(target.href);
      return;
    }
    // Focus first: the click's permission to raise a window is short.
    const focused = await open.focus();
    if (open.url !== target.href) {
      try {
        await (focused || open).navigate(target.href);
      } catch {
        // A window this worker does not control cannot be moved: it is
        // in front, in its room, which is what matters.
      }
    }
  })());
});
