// The installable app's part of every page (docs/SPEC.md, Installable
// app): it registers the service worker (/sw.js, scope /), keeps the
// worker's offline page in the language of the pages read, and on that
// offline page brings the page asked for back by itself when the network
// is back.
(() => {
  'use strict';

  // static/sw.js's cache: keep them the same.
  const CACHE = 'chat-offline-v1';
  const offline = document.getElementById('offline');

  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.register('/sw.js', {scope: '/'}).catch((err) => {
    console.warn('chat: no service worker:', err);
  });

  // The worker kept the offline page in the language of its own request;
  // the reader may have switched since (the language cookie) or read in
  // another (Accept-Language): the page, fetched from here, asks as the
  // reader's pages do.
  async function keepOfflineInLanguage() {
    const lang = document.documentElement.lang;
    const kept = await caches.match('/offline', {cacheName: CACHE});
    if (kept && kept.headers.get('Content-Language') === lang) return;
    const cache = await caches.open(CACHE);
    await cache.add('/offline');
  }

  if (!offline) {
    navigator.serviceWorker.ready.then(keepOfflineInLanguage).catch((err) => {
      console.warn('chat: the offline page is not kept:', err);
    });
    return;
  }

  // /offline read as itself is no stand-in: nothing to come back to.
  if (location.pathname === '/offline') return;

  // The worker shows the offline page at the address asked for: "Try
  // again" and coming back load it.
  document.getElementById('offline-retry').href = location.href;

  // Ask the server whether it answers again: at once when the browser
  // says it is online, when the tab is shown, and every few seconds (a
  // network can come back without the browser noticing), less often the
  // longer it lasts.
  let delay = 2000;
  let timer = 0;
  let asking = false;
  async function check() {
    if (asking) return;
    asking = true;
    clearTimeout(timer);
    try {
      const res = await fetch('/health', {cache: 'no-store'});
      if (res.ok) {
        location.reload();
        return;
      }
    } catch {
      // still offline
    } finally {
      asking = false;
    }
    delay = Math.min(delay * 1.5, 15000);
    timer = setTimeout(check, delay);
  }
  addEventListener('online', check);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') check();
  });
  timer = setTimeout(check, delay);
})();
