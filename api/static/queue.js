// The waiting-room page, part 2 of 4: the concert list, joining a concert's
// waiting room, and following one's place in it: pushed by the server as
// Server-Sent Events, or polled when the stream is not available.

import {
  $, S, api, ApiError, busy, clearNotice, countdown, eta, every, fail, hooks, now, show,
  stopAll, stopTimer, storage, syncClock,
} from './api.js';
import { enterBooking } from './booking.js';

const WAITING_POLL_MS = 2000;
const ACTIVE_POLL_MS = 10000;
const DRAW_NOTE = 'join now to be in the pre-queue; places are drawn at random at the opening';

// ---------------------------------------------------- the concert list

// The start view: every concert, each with a button to join its own room.
export async function showConcerts() {
  show('start');
  await loadConcertList();
  every('list', 1000, tickList);
}

async function loadConcertList() {
  const { data } = await api('GET', '/v1/concerts', { auth: false });
  S.concerts = data;
  const box = $('concert-list');
  box.replaceChildren();
  if (!data.length) box.textContent = 'No concerts on sale right now.';
  for (const concert of data) {
    const item = document.createElement('li');
    item.className = 'concert';
    item.dataset.concertId = String(concert.concert_id);
    const info = document.createElement('div');
    const title = document.createElement('div');
    title.className = 'concert-title';
    title.textContent = concert.title;
    const artist = document.createElement('div');
    artist.className = 'fine';
    artist.textContent = concert.artist;
    const sale = document.createElement('div');
    sale.className = 'sale';
    info.append(title, artist, sale);
    const join = document.createElement('button');
    join.type = 'button';
    join.className = 'primary join';
    join.addEventListener('click', () => busy(join, () => enter(concert)));
    item.append(info, join);
    box.append(item);
  }
  renderSales();
}

const opensIn = (concert) =>
  (concert.sale_opens_at ? Date.parse(concert.sale_opens_at) - now() : null);

// Counts down to each opening; at an opening, asks the list again.
async function tickList() {
  if (renderSales()) await loadConcertList();
}

// Writes each concert's sale line; true when a sale is opening right now.
function renderSales() {
  let opening = false;
  for (const item of $('concert-list').children) {
    const concert = S.concerts.find((c) => String(c.concert_id) === item.dataset.concertId);
    if (!concert) continue;
    const left = opensIn(concert);
    const sale = item.querySelector('.sale');
    const join = item.querySelector('.join');
    if (left === null) {
      sale.dataset.sale = 'open';
      sale.textContent = 'On sale now';
      join.textContent = 'Join the waiting room';
    } else if (left > 0) {
      sale.dataset.sale = 'soon';
      sale.textContent = `Sale opens in ${countdown(left)} — ${DRAW_NOTE}`;
      join.textContent = 'Join the pre-queue';
    } else {
      sale.dataset.sale = 'opening';
      sale.textContent = 'The sale is opening…';
      opening = true;
    }
  }
  return opening;
}

// ------------------------------------------------------------ joining

function setConcert(concert) {
  S.concert = concert
    ? { concert_id: concert.concert_id, title: concert.title, artist: concert.artist }
    : null;
  storage.set('concert.room', S.concert ? JSON.stringify(S.concert) : null);
}

// Registers a guest when this browser has none, then enters `concert`'s room.
export async function enter(concert) {
  clearNotice();
  if (!S.user || !S.key) {
    const { data } = await api('POST', '/v1/users', { body: {}, auth: false });
    S.user = data.user_id;
    // The guest's secret: shown once, kept only in this browser.
    S.key = data.user_key;
    storage.set('concert.user', S.user);
    storage.set('concert.key', S.key);
  }
  let entered;
  try {
    entered = await api('POST', '/v1/queue/tokens', {
      body: { user_id: S.user, concert_id: concert.concert_id },
      auth: 'key',
    });
  } catch (e) {
    const stale = e instanceof ApiError && (e.code === 'USER_NOT_FOUND' || e.code === 'INVALID_CREDENTIALS');
    if (!stale) throw e;
    // A stored guest from another database, or without a valid key:
    // start over as a new one.
    S.user = null;
    S.key = null;
    storage.set('concert.user', null);
    storage.set('concert.key', null);
    return enter(concert);
  }
  stopAll();
  setConcert(concert);
  S.token = entered.data.token;
  storage.set('concert.token', S.token);
  S.firstPosition = entered.data.position || null;
  storage.set('concert.first', S.firstPosition);
  S.status = null;
  S.streamToken = null;
  return onStatus(entered.data);
}

// Joins the room the page was last in again (after a payment or expiry).
export function rejoin() {
  return S.concert ? enter(S.concert) : showConcerts();
}

// ------------------------------------------------------- following it

export async function checkStatus() {
  const { data } = await api('GET', '/v1/queue/status');
  onStatus(data);
}

export function onStatus(st) {
  S.status = st;
  // While a payment is under way its own answer tells what happened.
  if (S.paying && st.status === 'expired') return;
  if (st.concert_id && (!S.concert || S.concert.concert_id !== st.concert_id)) {
    recoverConcert(st.concert_id).catch(() => {});
  }
  renderRoom();
  if (st.status === 'waiting') {
    showWaiting(st);
    watch();
  } else if (st.status === 'active') {
    S.activeUntil = st.active_until ? Date.parse(st.active_until) : null;
    if (document.body.dataset.view !== 'booking') enterBooking();
    watch();
  } else {
    expire();
  }
}

// A reload with a pass but without its concert: name the room from the list.
async function recoverConcert(concertId) {
  setConcert({ concert_id: concertId, title: `Concert ${concertId}`, artist: '' });
  renderRoom();
  const { data } = await api('GET', '/v1/concerts', { auth: false });
  const concert = data.find((c) => c.concert_id === concertId);
  if (concert && S.concert && S.concert.concert_id === concertId) {
    setConcert(concert);
    renderRoom();
  }
}

function renderRoom() {
  const c = S.concert;
  const name = c ? [c.title, c.artist].filter(Boolean).join(' · ') : '';
  $('waiting-concert').textContent = name;
  $('booking-concert').textContent = name;
  $('rejoin').textContent = c ? `Join the ${c.title} waiting room again` : 'Join a waiting room again';
}

// Keeps the page told of its place: the event stream first; polling when
// the stream failed or ended while the entry is still live.
function watch() {
  if (S.stream) return;
  if (S.streamToken !== S.token) {
    S.streamToken = S.token;
    stopTimer('status');
    openStream(S.token);
    return;
  }
  const ms = S.status && S.status.status === 'active' ? ACTIVE_POLL_MS : WAITING_POLL_MS;
  if ('status' in S.timers && S.pollMs === ms) return;
  S.pollMs = ms;
  $('waiting-note').textContent = "This page checks your place every 2 seconds. You'll be let in automatically.";
  every('status', ms, checkStatus);
}

async function openStream(token) {
  const stream = new AbortController();
  S.stream = stream;
  let last = null;
  try {
    const response = await fetch('/v1/queue/events', {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      cache: 'no-store',
      signal: stream.signal,
    });
    syncClock(response);
    if (!response.ok || !response.body) throw new Error(`event stream refused (${response.status})`);
    $('waiting-note').textContent = "Your place is updated live. You'll be let in automatically.";
    for await (const data of events(response.body)) {
      if (S.stream !== stream) break;
      let status;
      try { status = JSON.parse(data); } catch { continue; }
      last = status;
      try { onStatus(status); } catch (e) { fail(e); }
    }
  } catch { /* closed on purpose, refused or cut off: see below */ }
  if (S.stream !== stream) return; // closed on purpose, or replaced
  S.stream = null;
  if (S.token !== token || (last && last.status === 'expired')) return;
  watch();
}

// The `data` of each event of a Server-Sent Events body (comments skipped).
async function* events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end = buffer.indexOf('\n');
      while (end >= 0) {
        const line = buffer.slice(0, end).replace(/\r$/, '');
        buffer = buffer.slice(end + 1);
        if (line === '') {
          if (data.length) yield data.join('\n');
          data = [];
        } else if (line.startsWith('data:')) {
          data.push(line.slice(5).replace(/^ /, ''));
        }
        end = buffer.indexOf('\n');
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

// -------------------------------------------------------- the waiting view

function showWaiting(st) {
  stopTimer('list');
  show('waiting');
  const pre = st.position === null || st.position === undefined;
  $('prequeue').hidden = !pre;
  $('in-line').hidden = pre;
  $('waiting-title').textContent = pre ? "You're in the pre-queue" : "You're in line";
  if (pre) {
    S.opensAt = st.sale_opens_at
      ? Date.parse(st.sale_opens_at)
      : now() + 1000 * (st.estimated_wait_seconds || 0);
    tickOpening();
    if (!('opening' in S.timers)) every('opening', 1000, tickOpening);
    return;
  }
  stopTimer('opening');
  const position = st.position || 1;
  if (!S.firstPosition || position > S.firstPosition) {
    S.firstPosition = position;
    storage.set('concert.first', position);
  }
  const ahead = st.ahead !== undefined && st.ahead !== null ? st.ahead : position - 1;
  $('position').textContent = String(position);
  $('ahead').textContent = ahead === 0 ? "You're next" : `${ahead} ${ahead === 1 ? 'person' : 'people'} ahead of you`;
  $('eta').textContent = eta(st.estimated_wait_seconds);
  const span = Math.max(S.firstPosition - 1, 1);
  const pct = S.firstPosition <= 1 ? 90 : Math.round(5 + 90 * ((S.firstPosition - position) / span));
  $('progress-bar').style.width = `${pct}%`;
  $('progress').setAttribute('aria-valuenow', String(pct));
}

function tickOpening() {
  const left = S.opensAt - now();
  $('opens-in').textContent = countdown(left);
  $('draw-note').textContent = left > 0
    ? 'When the sale opens, everyone in the pre-queue is given a place in line drawn at random: '
      + 'joining earlier does not put you ahead, so there is no need to rush or refresh.'
    : 'The sale is opening: places are being drawn…';
}

// ------------------------------------------------------------- endings

export function expire(message) {
  stopAll();
  S.token = null;
  storage.set('concert.token', null);
  S.holds = [];
  renderRoom();
  if (message) $('expired-why').textContent = message;
  show('expired');
}

function forgetPass() {
  stopAll();
  S.token = null;
  storage.set('concert.token', null);
  showConcerts().catch(fail);
}

hooks.expire = expire;
hooks.forgetPass = forgetPass;
