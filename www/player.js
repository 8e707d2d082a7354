// Tunesheap's web player: browse artists -> albums -> songs, search as you
// type, play a song's stream_url with the browser's <audio> (it seeks with
// Range requests), a queue of the album's songs.  Plain JavaScript, no
// framework, nothing fetched from anywhere but this server.
//
// Pages are URL fragments: #/artists, #/artists/4, #/albums/11, each with
// the API's paging arguments (?after=, ?before=, ?offset=).  ?limit=N in
// the page's own URL sets the page size (default 20).

'use strict';

(function () {
  const API = '/api/v1';
  const pageSize = Math.min(100, Math.max(1,
    parseInt(new URLSearchParams(location.search).get('limit'), 10) || 20));

  const $ = (id) => document.getElementById(id);
  const el = {
    q: $('q'), results: $('results'),
    error: $('error'), errorText: $('error-text'),
    errorRetry: $('error-retry'), errorClose: $('error-close'),
    main: $('main'), crumbs: $('crumbs'), title: $('title'),
    subtitle: $('subtitle'), list: $('list'),
    prevPage: $('prev-page'), nextPage: $('next-page'), pageInfo: $('page-info'),
    audio: $('audio'), play: $('play'), prev: $('prev'), next: $('next'),
    nowTitle: $('now-title'), nowSub: $('now-sub'),
    queue: $('queue'), queueCount: $('queue-count'),
  };

  // -------------------------------------------------------------------------
  // The API, and what the user is told when it fails
  // -------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, status) {
      super(message);
      this.status = status;
    }
  }

  async function api(path, options) {
    let res;
    try {
      res = await fetch(API + path, {
        headers: { Accept: 'application/json' },
        ...(options || {}),
      });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError('Cannot reach the Tunesheap server: check your ' +
        'connection, then retry.', 0);
    }
    let body = null;
    try {
      body = await res.json();
    } catch (e) {
      body = null;
    }
    if (!res.ok) {
      const msg = body && body.error && body.error.message;
      throw new ApiError(`The server answered ${res.status}` +
        (msg ? `: ${msg}` : ` ${res.statusText}`) + '.', res.status);
    }
    if (body === null) {
      throw new ApiError('The server sent an answer that is not JSON.', res.status);
    }
    return body;
  }

  let retryAction = null;

  function showError(err, retry) {
    if (err && err.name === 'AbortError') return;
    el.errorText.textContent = err instanceof ApiError ? err.message
      : `Something went wrong: ${err && err.message ? err.message : err}`;
    retryAction = retry || null;
    el.errorRetry.hidden = !retry;
    el.error.hidden = false;
  }

  function clearError() {
    el.error.hidden = true;
    retryAction = null;
  }

  el.errorRetry.addEventListener('click', () => {
    const r = retryAction;
    clearError();
    if (r) r();
  });
  el.errorClose.addEventListener('click', clearError);

  // -------------------------------------------------------------------------
  // Pages
  // -------------------------------------------------------------------------

  const fmtTime = (ms) => {
    if (ms === null || ms === undefined || !isFinite(ms)) return '';
    const s = Math.round(ms / 1000);
    const mmss = `${String(Math.floor(s / 60) % 60).padStart(2, '0')}:` +
      String(s % 60).padStart(2, '0');
    return s >= 3600 ? `${Math.floor(s / 3600)}:${mmss}` : mmss.replace(/^0/, '');
  };
  const year = (d) => (d ? d.slice(0, 4) : '');

  function node(tag, attrs, ...children) {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') n.className = v;
      else if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) n.setAttribute(k, v);
    }
    for (const c of children) {
      if (c !== null && c !== undefined) {
        n.append(c instanceof Node ? c : document.createTextNode(String(c)));
      }
    }
    return n;
  }

  // the page's hash -> [path, query]
  function parseHash() {
    const h = location.hash.replace(/^#/, '') || '/artists';
    const [p, q] = h.split('?');
    const args = new URLSearchParams(q || '');
    args.delete('limit');
    return [p, args];
  }

  // a meta.next / meta.previous link of `list` -> the page's hash
  function linkToHash(link, list, page) {
    if (!link) return null;
    const q = new URLSearchParams(link.split('?')[1] || '');
    const keep = new URLSearchParams();
    for (const k of ['offset', 'after', 'before']) {
      if (q.has(k)) keep.set(k, q.get(k));
    }
    return `#${page}?${keep}`;
  }

  let pageSeq = 0;

  async function render() {
    const seq = ++pageSeq;
    const [p, args] = parseHash();
    args.set('limit', pageSize);
    const m = p.match(/^\/(artists|albums)(?:\/(\d+))?$/);
    if (!m) {
      location.replace('#/artists');
      return;
    }
    const [, kind, id] = m;
    el.list.setAttribute('aria-busy', 'true');
    try {
      let view;
      if (!id) {
        view = await artistsPage(args);
      } else if (kind === 'artists') {
        view = await artistPage(id, args);
      } else {
        view = await albumPage(id, args);
      }
      if (seq !== pageSeq) return;
      clearError();
      show(view, p);
    } catch (e) {
      if (seq !== pageSeq) return;
      showError(e, render);
      // the server said no: this page shows nothing (an unreachable
      // server leaves the page that was there)
      if (e instanceof ApiError && e.status >= 400) {
        el.crumbs.replaceChildren(node('a', { href: '#/artists' }, 'Artists'));
        el.title.textContent = e.status === 404 ? 'Not found'
          : 'This page could not be loaded';
        el.subtitle.textContent = '';
        el.list.replaceChildren();
        el.prevPage.disabled = true;
        el.nextPage.disabled = true;
        el.pageInfo.textContent = '';
      }
    } finally {
      el.list.removeAttribute('aria-busy');
    }
  }

  async function artistsPage(args) {
    const data = await api(`/artists?${args}`);
    return {
      crumbs: [],
      title: 'Artists',
      subtitle: `${data.meta.total} artists`,
      meta: data.meta, list: 'artists',
      rows: data.artists.map((a) => ({
        href: `#/artists/${a.id}`, name: a.name,
        meta: [a.country].filter(Boolean).join(' · '),
        data: { artist: a.id },
      })),
      empty: 'No artists.',
    };
  }

  async function artistPage(id, args) {
    const [{ artist }, data] = await Promise.all([
      api(`/artists/${id}`), api(`/artists/${id}/albums?${args}`)]);
    return {
      crumbs: [['Artists', '#/artists']],
      title: artist.name,
      subtitle: [artist.country, `${data.meta.total} albums`]
        .filter(Boolean).join(' · '),
      meta: data.meta,
      rows: data.albums.map((a) => ({
        href: `#/albums/${a.id}`, name: a.title,
        meta: [year(a.release_date), a.genre].filter(Boolean).join(' · '),
        data: { album: a.id },
      })),
      empty: 'No albums.',
    };
  }

  let albumView = null;     // the album shown: { album, artist, songs }

  async function albumPage(id, args) {
    const { album } = await api(`/albums/${id}`);
    const [{ artist }, data] = await Promise.all([
      api(`/artists/${album.artist_id}`), api(`/albums/${id}/songs?${args}`)]);
    albumView = { album, artist };
    return {
      crumbs: [['Artists', '#/artists'], [artist.name, `#/artists/${artist.id}`]],
      title: album.title,
      subtitle: [artist.name, year(album.release_date), album.genre,
                 `${data.meta.total} songs`].filter(Boolean).join(' · '),
      meta: data.meta,
      rows: data.songs.map((s) => ({
        num: s.track_number === null ? '–' : s.track_number,
        name: s.title,
        meta: s.stream_url ? fmtTime(s.duration_ms) : 'no audio',
        disabled: !s.stream_url,
        onclick: () => playFromAlbum(album, artist, s.id),
        data: { song: s.id },
      })),
      empty: 'No songs.',
    };
  }

  function show(view, page) {
    el.crumbs.replaceChildren(...view.crumbs.flatMap(([t, h], i) => [
      i ? ' / ' : null, node('a', { href: h }, t)].filter(Boolean)));
    el.title.textContent = view.title;
    el.subtitle.textContent = view.subtitle;
    document.title = `${view.title} · Tunesheap`;
    el.list.replaceChildren(...(view.rows.length ? view.rows.map((r) => {
      const inner = [
        node('span', { class: 'num' }, r.num !== undefined ? r.num : ''),
        node('span', { class: 'name' }, r.name),
        node('span', { class: 'meta' }, r.meta)];
      const row = r.href
        ? node('a', { class: 'row', href: r.href }, ...inner)
        : node('button', { class: 'row', type: 'button', disabled: r.disabled,
                           onclick: r.onclick }, ...inner);
      const li = node('li', {}, row);
      for (const [k, v] of Object.entries(r.data || {})) li.dataset[k] = v;
      return li;
    }) : [node('li', { class: 'empty' }, view.empty)]));

    const prev = linkToHash(view.meta.previous, view.list, page);
    const next = linkToHash(view.meta.next, view.list, page);
    el.prevPage.disabled = !prev;
    el.nextPage.disabled = !next;
    el.prevPage.onclick = () => { location.hash = prev; };
    el.nextPage.onclick = () => { location.hash = next; };
    const shown = view.rows.length;
    el.pageInfo.textContent = view.meta.offset !== null && shown
      ? `${view.meta.offset + 1}–${view.meta.offset + shown} of ${view.meta.total}`
      : `${shown} of ${view.meta.total}`;
    markPlaying();
  }

  window.addEventListener('hashchange', () => {
    render();
    el.main.focus({ preventScroll: true });
  });

  // -------------------------------------------------------------------------
  // Search as you type (the API's prefix search)
  // -------------------------------------------------------------------------

  let searchSeq = 0;
  let searchAbort = null;
  let searchTimer = 0;

  function closeResults() {
    el.results.hidden = true;
    el.results.replaceChildren();
  }

  async function search(q) {
    const seq = ++searchSeq;
    if (searchAbort) searchAbort.abort();
    if (!q.trim()) {
      closeResults();
      return;
    }
    searchAbort = new AbortController();
    let data;
    try {
      data = await api(`/search?q=${encodeURIComponent(q)}&limit=5`,
                       { signal: searchAbort.signal });
    } catch (e) {
      if (seq === searchSeq) showError(e, () => search(el.q.value));
      return;
    }
    if (seq !== searchSeq) return;
    clearError();
    const items = [];
    const group = (label, list, fn) => {
      if (!list || !list.length) return;
      items.push(node('li', { class: 'group', role: 'presentation' }, label));
      for (const x of list) {
        items.push(node('li', { role: 'option' },
          node('button', { type: 'button', onclick: () => { closeResults(); fn(x); } },
               ...fnLabel(label, x))));
      }
    };
    const fnLabel = (label, x) => (label === 'Artists' ? [x.name]
      : label === 'Albums' ? [x.title, node('span', { class: 'meta' },
                                             ` ${year(x.release_date)}`)]
      : [x.title, node('span', { class: 'meta' }, x.stream_url ? '' : ' (no audio)')]);
    group('Artists', data.artists, (a) => { location.hash = `#/artists/${a.id}`; });
    group('Albums', data.albums, (a) => { location.hash = `#/albums/${a.id}`; });
    group('Songs', data.songs, (s) => playSong(s));
    if (!items.length) {
      items.push(node('li', { class: 'none' }, `Nothing matches “${q}”.`));
    }
    el.results.replaceChildren(...items);
    el.results.hidden = false;
  }

  el.q.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => search(el.q.value), 120);
  });

  el.q.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      el.q.value = '';
      closeResults();
    } else if (e.key === 'ArrowDown') {
      const first = el.results.querySelector('button');
      if (first) {
        e.preventDefault();
        first.focus();
      }
    }
  });

  el.results.addEventListener('keydown', (e) => {
    const buttons = [...el.results.querySelectorAll('button')];
    const i = buttons.indexOf(document.activeElement);
    if (e.key === 'ArrowDown' && i < buttons.length - 1) {
      e.preventDefault();
      buttons[i + 1].focus();
    } else if (e.key === 'ArrowUp') {
      e.preventDefault();
      (i > 0 ? buttons[i - 1] : el.q).focus();
    } else if (e.key === 'Escape') {
      closeResults();
      el.q.focus();
    }
  });

  document.addEventListener('click', (e) => {
    if (!e.target.closest('.search')) closeResults();
  });

  // -------------------------------------------------------------------------
  // Playing: a queue of the album's songs
  // -------------------------------------------------------------------------

  const player = { queue: [], index: -1, album: null, artist: null, retried: false };

  async function albumSongs(albumId) {
    const songs = [];
    let link = `/albums/${albumId}/songs?limit=100`;
    for (let i = 0; link && i < 20; i++) {
      const data = await api(link);
      songs.push(...data.songs);
      link = data.meta.next ? data.meta.next.slice(API.length) : null;
    }
    return songs;
  }

  async function playFromAlbum(album, artist, songId) {
    try {
      const songs = (await albumSongs(album.id)).filter((s) => s.stream_url);
      player.queue = songs;
      player.album = album;
      player.artist = artist;
      const i = songs.findIndex((s) => s.id === songId);
      play(i < 0 ? 0 : i);
    } catch (e) {
      showError(e, () => playFromAlbum(album, artist, songId));
    }
  }

  async function playSong(song) {
    try {
      const { album } = await api(`/albums/${song.album_id}`);
      const { artist } = await api(`/artists/${song.artist_id}`);
      if (!song.stream_url) {
        showError(new ApiError(`“${song.title}” has no audio yet.`, 0));
        location.hash = `#/albums/${album.id}`;
        return;
      }
      await playFromAlbum(album, artist, song.id);
    } catch (e) {
      showError(e, () => playSong(song));
    }
  }

  function play(i) {
    if (i < 0 || i >= player.queue.length) return;
    player.index = i;
    player.retried = false;
    const s = player.queue[i];
    el.audio.src = s.stream_url;
    el.audio.currentTime = 0;
    el.audio.play().catch((e) => {
      // autoplay refused: the user presses play
      if (e.name !== 'NotAllowedError' && e.name !== 'AbortError') showError(e);
    });
    el.nowTitle.textContent = s.title;
    el.nowSub.textContent = [player.artist && player.artist.name,
                             player.album && player.album.title]
      .filter(Boolean).join(' — ');
    document.title = `▶ ${s.title} · Tunesheap`;
    updateControls();
    renderQueue();
    markPlaying();
  }

  function updateControls() {
    const has = player.index >= 0;
    el.play.disabled = !has;
    el.prev.disabled = !has || player.index === 0;
    el.next.disabled = !has || player.index >= player.queue.length - 1;
    $('play-icon').setAttribute('d', el.audio.paused ? 'M7 5v14l12-7z'
      : 'M6 5h4v14H6zM14 5h4v14h-4z');
    el.play.setAttribute('aria-label', el.audio.paused ? 'Play (space)' : 'Pause (space)');
  }

  function renderQueue() {
    el.queueCount.textContent = player.queue.length;
    el.queue.replaceChildren(...player.queue.map((s, i) => node('li',
      { class: i === player.index ? 'current' : null },
      node('button', { type: 'button', class: 'link', onclick: () => play(i) },
           s.title))));
  }

  function markPlaying() {
    const cur = player.queue[player.index];
    for (const li of el.list.querySelectorAll('li[data-song]')) {
      li.classList.toggle('playing', !!cur && li.dataset.song === String(cur.id));
    }
  }

  function toggle() {
    if (player.index < 0) return;
    if (el.audio.paused) el.audio.play().catch(showError);
    else el.audio.pause();
  }

  el.play.addEventListener('click', toggle);
  el.prev.addEventListener('click', () => play(player.index - 1));
  el.next.addEventListener('click', () => play(player.index + 1));
  for (const ev of ['play', 'pause', 'playing']) {
    el.audio.addEventListener(ev, updateControls);
  }
  el.audio.addEventListener('ended', () => {
    if (player.index < player.queue.length - 1) play(player.index + 1);
  });

  // a link that expired while paused: ask for the song again, once
  el.audio.addEventListener('error', async () => {
    const s = player.queue[player.index];
    const err = el.audio.error;
    if (!s || !err || err.code === err.MEDIA_ERR_ABORTED
        || el.audio.currentSrc !== new URL(s.stream_url, location.href).href) {
      return;
    }
    if (!player.retried) {
      player.retried = true;
      const at = el.audio.currentTime;
      try {
        const { song } = await api(`/songs/${s.id}`);
        if (song.stream_url) {
          s.stream_url = song.stream_url;
          el.audio.src = song.stream_url;
          el.audio.currentTime = at;
          await el.audio.play();
          return;
        }
      } catch (e) {
        showError(e);
        return;
      }
    }
    showError(new ApiError(`“${s.title}” cannot be played: the audio did ` +
      'not load.', 0), () => play(player.index));
  });

  // keyboard: / search, space play/pause, n/p next/previous, ←/→ seek
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (t.matches('input, textarea, select')) return;
    if (e.key === '/') {
      e.preventDefault();
      el.q.focus();
    } else if (e.key === ' ' && !t.matches('button, a, audio, summary')) {
      e.preventDefault();
      toggle();
    } else if (e.key === 'n') {
      play(player.index + 1);
    } else if (e.key === 'p') {
      play(player.index - 1);
    } else if ((e.key === 'ArrowRight' || e.key === 'ArrowLeft')
               && t !== el.audio && player.index >= 0) {
      e.preventDefault();
      el.audio.currentTime = Math.max(0, el.audio.currentTime
        + (e.key === 'ArrowRight' ? 10 : -10));
    }
  });

  // for the end-to-end test and curious users
  window.tunesheap = { player, pageSize };

  render();
})();
