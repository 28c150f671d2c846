// Attaching files to a message (docs/SPEC.md, "Pictures and files"): where the
// send form has data-upload-url, files come in by its file field, by
// dropping them on the form, or by pasting (a screenshot). Each shows at
// once in the tray (#attachments) and uploads at once, one request per
// file (POST data-upload-url, multipart, part "files"), with its
// progress; the server answers its id. A file over data-upload-max, or
// past data-upload-count files, is refused here before anything is sent.
//
// chat.js sends the message: on Send it takes the tray's files
// (window.chatUploads.take()) into the outbox entry, which waits in state
// "uploading" until every one of them is uploaded and then sends the
// frame with their ids, once. An upload cut by the network is tried
// again when the chat reconnects (chat.js dispatches chat:admitted on
// #chat), when the browser is back online, or on Retry.
//
// Without JavaScript none of this runs: the form posts its files itself.
// The file field is emptied once its files are taken, so that nothing of
// it goes anywhere but here. No inline style or script.
'use strict';
(() => {
  const form = document.getElementById('send');
  const url = form?.dataset.uploadUrl;
  const tray = document.getElementById('attachments');
  const picker = document.getElementById('files');
  if (!form || !url || !tray || !picker) return;
  const chat = document.getElementById('chat');
  const input = document.getElementById('text');
  const say = typeof window.chatSay === 'function' ? window.chatSay : (key) => key;
  const maxBytes = Number(form.dataset.uploadMax) || Infinity;
  const maxCount = Number(form.dataset.uploadCount) || 4;
  const lang = (() => {
    try {
      return Intl.getCanonicalLocales(document.documentElement.lang || 'en')[0] || 'en';
    } catch {
      return 'en';
    }
  })();
  const one = new Intl.NumberFormat(lang, { maximumFractionDigits: 1, minimumFractionDigits: 1 });
  const whole = new Intl.NumberFormat(lang, { maximumFractionDigits: 0 });
  const percent = new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 0 });

  // A size as the server writes it (views.FileSize): units of 1,024.
  const fileSize = (n) => {
    if (n < 1024) return `${whole.format(n)} B`;
    if (n < 1024 * 1024) return `${whole.format(Math.round(n / 1024))} KB`;
    if (n < 10 * 1024 * 1024) return `${one.format(n / (1024 * 1024))} MB`;
    return `${whole.format(Math.round(n / (1024 * 1024)))} MB`;
  };

  // What is said to screen readers: refusals, and what was removed.
  const announcer = document.createElement('div');
  announcer.id = 'attachments-status';
  announcer.className = 'visually-hidden';
  announcer.setAttribute('role', 'status');
  announcer.setAttribute('aria-live', 'polite');
  tray.after(announcer);
  const announce = (text) => {
    // The same words twice are still said twice.
    announcer.textContent = '';
    setTimeout(() => { announcer.textContent = text; }, 50);
  };

  // The hint shown while files are dragged over the form.
  const dropHint = document.createElement('p');
  dropHint.id = 'drop-hint';
  dropHint.className = 'drop-hint';
  dropHint.hidden = true;
  dropHint.textContent = say('upload.drop_hint');
  form.prepend(dropHint);

  // ---- Uploads -----------------------------------------------------------
  //
  // An upload's state: uploading (progress 0…1), done (id and info),
  // failed (the network or the server's trouble: tried again), refused
  // (here or by the server: why, for good). Whoever watches it (the tray,
  // an outbox entry) hears every change.

  const live = new Set(); // every upload not removed

  class Upload {
    constructor(file) {
      this.file = file;
      this.name = file.name;
      this.size = file.size;
      this.state = 'uploading';
      this.progress = 0;
      this.id = '';
      this.info = null;
      this.why = '';
      this.xhr = null;
      this.watchers = new Set();
      live.add(this);
    }

    watch(fn) {
      this.watchers.add(fn);
      return () => this.watchers.delete(fn);
    }

    changed() {
      for (const fn of [...this.watchers]) fn(this);
    }

    refuse(why) {
      this.state = 'refused';
      this.why = why;
      this.xhr = null;
      this.changed();
    }

    fail(why) {
      this.state = 'failed';
      this.why = why;
      this.xhr = null;
      this.changed();
    }

    start() {
      if (this.state === 'done' || this.xhr) return;
      this.state = 'uploading';
      this.progress = 0;
      this.why = '';
      const body = new FormData();
      body.append('files', this.file, this.name);
      const xhr = new XMLHttpRequest();
      this.xhr = xhr;
      xhr.open('POST', url);
      // As htmx's own requests: the server answers a script.
      xhr.setRequestHeader('HX-Request', 'true');
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.upload.addEventListener('progress', (e) => {
        if (this.xhr !== xhr || !e.lengthComputable || e.total === 0) return;
        this.progress = Math.min(e.loaded / e.total, 1);
        this.changed();
      });
      xhr.addEventListener('load', () => {
        if (this.xhr !== xhr) return;
        let answer = null;
        try {
          answer = JSON.parse(xhr.responseText);
        } catch { /* not JSON: a proxy's page */ }
        if (xhr.status === 201 && answer && typeof answer.id === 'string') {
          this.state = 'done';
          this.progress = 1;
          this.id = answer.id;
          this.info = answer;
          this.xhr = null;
          this.changed();
          return;
        }
        const why = typeof answer?.error === 'string' && answer.error !== '' ? answer.error : '';
        // The server's trouble passes: tried again like the network's.
        if (xhr.status >= 500 || xhr.status === 0) this.fail(why || say('upload.failed_server'));
        else this.refuse(why || say('upload.refused'));
      });
      xhr.addEventListener('error', () => {
        if (this.xhr === xhr) this.fail(say('upload.failed_network'));
      });
      xhr.addEventListener('timeout', () => {
        if (this.xhr === xhr) this.fail(say('upload.failed_network'));
      });
      this.changed();
      xhr.send(body);
    }

    // retry starts again an upload that failed or was refused.
    retry() {
      if (this.state === 'failed' || this.state === 'refused') this.start();
    }

    // cancel stops it for good (the tray's remove button).
    cancel() {
      const xhr = this.xhr;
      this.xhr = null;
      xhr?.abort();
      live.delete(this);
      this.watchers.clear();
    }
  }

  // Uploads cut by the network go again once the chat is back.
  const retryFailed = () => {
    for (const u of live) if (u.state === 'failed') u.start();
  };
  chat?.addEventListener('chat:admitted', retryFailed);
  window.addEventListener('online', retryFailed);

  // ---- The tray ------------------------------------------------------------

  const inTray = []; // { upload, li, unwatch }
  const counted = () => inTray.filter((x) => x.upload.state !== 'refused').length;

  const stateText = (u) => {
    switch (u.state) {
      case 'uploading': return say('upload.uploading', { Percent: percent.format(u.progress) });
      case 'done': return say('upload.done');
      default: return u.why;
    }
  };

  const show = (item) => {
    const { upload: u, li } = item;
    li.dataset.state = u.state;
    const progress = li.querySelector('progress');
    progress.hidden = u.state !== 'uploading';
    progress.value = u.progress;
    progress.setAttribute('aria-valuetext', percent.format(u.progress));
    const state = li.querySelector('.state');
    const text = stateText(u);
    if (state.textContent !== text) state.textContent = text;
    const button = li.querySelector('button.remove');
    const label = u.state === 'uploading' ? say('upload.cancel', { Name: u.name }) : say('upload.remove', { Name: u.name });
    if (button.getAttribute('aria-label') !== label) {
      button.setAttribute('aria-label', label);
      button.title = label;
    }
    if (u.state === 'done' && u.info?.thumb && !li.querySelector('img.thumb')) {
      const img = document.createElement('img');
      img.className = 'thumb';
      img.src = u.info.thumb;
      img.alt = '';
      li.prepend(img);
    }
  };

  const place = (u) => {
    const li = document.createElement('li');
    li.className = 'attachment';
    const name = document.createElement('span');
    name.className = 'name';
    name.dir = 'auto';
    name.textContent = u.name;
    const size = document.createElement('small');
    size.className = 'size';
    size.textContent = fileSize(u.size);
    const progress = document.createElement('progress');
    progress.max = 1;
    progress.value = 0;
    progress.setAttribute('aria-label', say('upload.progress', { Name: u.name }));
    const state = document.createElement('small');
    state.className = 'state';
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'remove';
    remove.textContent = '×';
    li.append(name, ' ', size, ' ', progress, ' ', state, ' ', remove);
    const item = { upload: u, li, unwatch: null };
    item.unwatch = u.watch((x) => {
      show(item);
      if (x.state === 'refused' || x.state === 'failed') announce(say('upload.file_why', { Name: x.name, Why: x.why }));
    });
    inTray.push(item);
    tray.append(li);
    tray.hidden = false;
    show(item);
    return item;
  };

  const unplace = (item) => {
    item.unwatch();
    inTray.splice(inTray.indexOf(item), 1);
    item.li.remove();
    if (inTray.length === 0) tray.hidden = true;
  };

  // add takes files into the tray: refused at once when too large or one
  // too many, else uploading.
  const add = (files) => {
    for (const file of files) {
      const u = new Upload(file);
      if (counted() >= maxCount) {
        place(u);
        u.refuse(say('upload.too_many', { Count: maxCount }));
      } else if (file.size > maxBytes) {
        place(u);
        u.refuse(say('upload.too_large', { Size: fileSize(maxBytes) }));
      } else if (file.size === 0) {
        place(u);
        u.refuse(say('upload.empty'));
      } else {
        place(u);
        u.start();
      }
    }
  };

  tray.addEventListener('click', (e) => {
    const button = e.target.closest('button.remove');
    const item = button && inTray.find((x) => x.li === button.closest('li'));
    if (!item) return;
    const at = inTray.indexOf(item);
    const cancelled = item.upload.state === 'uploading';
    item.upload.cancel();
    unplace(item);
    announce(cancelled ? say('upload.cancelled', { Name: item.upload.name }) : say('upload.removed', { Name: item.upload.name }));
    // The focus goes to the next file's button, or back to the box.
    const next = inTray[Math.min(at, inTray.length - 1)];
    (next ? next.li.querySelector('button.remove') : input || picker).focus();
  });

  picker.addEventListener('change', () => {
    const files = [...picker.files];
    // Taken: the field holds nothing more, so it never goes with the
    // message (and the same file can be chosen again).
    picker.value = '';
    add(files);
  });

  // ---- Dropping and pasting -------------------------------------------------

  const hasFiles = (dt) => !!dt && [...dt.types].includes('Files');
  let dragDepth = 0;
  const dropping = (on) => {
    form.classList.toggle('dropping', on);
    dropHint.hidden = !on;
  };
  form.addEventListener('dragenter', (e) => {
    if (!hasFiles(e.dataTransfer)) return;
    e.preventDefault();
    dragDepth++;
    dropping(true);
  });
  form.addEventListener('dragover', (e) => {
    if (!hasFiles(e.dataTransfer)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = 'copy';
    dropping(true);
  });
  form.addEventListener('dragleave', (e) => {
    if (!hasFiles(e.dataTransfer)) return;
    dragDepth = Math.max(0, dragDepth - 1);
    if (dragDepth === 0 || !form.contains(e.relatedTarget)) {
      dragDepth = 0;
      dropping(false);
    }
  });
  form.addEventListener('drop', (e) => {
    if (!hasFiles(e.dataTransfer) && !e.dataTransfer?.files?.length) return;
    e.preventDefault();
    dragDepth = 0;
    dropping(false);
    add([...e.dataTransfer.files]);
    input?.focus();
  });
  // A file dropped beside the form is not opened in place of the chat.
  for (const type of ['dragover', 'drop']) {
    document.addEventListener(type, (e) => {
      if (hasFiles(e.dataTransfer) && !form.contains(e.target)) {
        e.preventDefault();
        e.dataTransfer.dropEffect = 'none';
      }
    });
  }

  // A picture pasted without a name of its own (a screenshot is
  // "image.png", or nothing) is named for when it was pasted.
  const extensions = { 'image/png': 'png', 'image/jpeg': 'jpg', 'image/gif': 'gif', 'image/webp': 'webp' };
  const pad = (n) => String(n).padStart(2, '0');
  const named = (file) => {
    if (file.name && !/^image\.\w+$/i.test(file.name)) return file;
    const d = new Date();
    const stamp = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}-${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
    const ext = extensions[file.type] || file.name.split('.').pop() || 'png';
    return new File([file], `screenshot-${stamp}.${ext}`, { type: file.type, lastModified: file.lastModified });
  };
  form.addEventListener('paste', (e) => {
    const files = [...(e.clipboardData?.files || [])];
    if (files.length === 0) return;
    e.preventDefault();
    add(files.map((f) => (f.type.startsWith('image/') ? named(f) : f)));
  });

  // ---- What chat.js asks ---------------------------------------------------

  Object.defineProperty(window, 'chatUploads', {
    value: Object.freeze({
      // How many files the next message would carry (refused ones aside).
      count: counted,
      // Whether the tray holds anything, refused files included.
      any: () => inTray.length > 0,
      // take empties the tray into a message: its uploads (refused ones
      // are dropped), which go on uploading under chat.js's watch.
      take: () => {
        const taken = [];
        for (const item of [...inTray]) {
          unplace(item);
          if (item.upload.state === 'refused') item.upload.cancel();
          else taken.push(item.upload);
        }
        return taken;
      },
      // restore puts a message's uploads back in the tray (Edit).
      restore: (uploads) => {
        for (const u of uploads) {
          live.add(u);
          place(u);
        }
      },
      fileSize,
      percent: (u) => percent.format(u.progress),
    }),
  });
})();
