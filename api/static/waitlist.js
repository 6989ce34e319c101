// The waiting-room page, part 6: the waitlist of a sold-out date (SPEC rule
// 11). Choosing a sold-out date offers a place on its list. While the
// booking window is open the place is refreshed by joining again (which
// answers the same place); it outlives the window. A seat freed for the first
// on the list is held for them as an offer (`offer: true` in
// GET /v1/reservations, polled with the guest's key). Places and offers show
// in a panel above every view, and an offer is paid with any queue token of
// the user, active or not, so it stays payable after the window closed.

import {
  $, S, ApiError, api, busy, clearNotice, explain, mmss, notify, now, outcome, randomKey,
  storage, when, won,
} from './api.js';

const POLL_MS = 3000;
// WAITLIST_OFFER_SECONDS' default (index.html says it too); a real offer's
// countdown shows its own time.
const OFFER_MINUTES = 10;

// Filled by booking.js: a date has seats again; an offer was paid.
export const waitlistHooks = { seatsFree() {}, paid() {} };

const W = {
  // {performance_id, concert_id, title, starts_at, position, offered}: a
  // place on a list, or (offered) the date of an offer, kept to name it.
  places: [],
  offers: [], // the user's live offers: held reservations with `offer`
  seen: new Set(), // offers shown, to tell when one runs out
  poll: null,
  polling: false,
  clock: null,
  current: null, // the sold-out date shown in the booking view
  balance: null,
  drawn: '', // what the panel shows, to redraw only on a change
};

function save() {
  storage.set('concert.waitlist', W.places.length ? JSON.stringify(W.places) : null);
}
function restore() {
  let saved = [];
  try { saved = JSON.parse(storage.get('concert.waitlist') || '[]'); } catch { /* start afresh */ }
  W.places = Array.isArray(saved) ? saved.filter((p) => Number.isInteger(p.performance_id)) : [];
}
const placeOf = (id) => W.places.find((p) => p.performance_id === id);
const waiting = () => W.places.filter((p) => !p.offered);
function forget(id) {
  W.places = W.places.filter((p) => p.performance_id !== id);
  save();
}

// Any token of the user pays an offer: the one open now, else the last one
// this browser had (expired is fine).
function passToken() {
  if (S.token) storage.set('concert.pass', S.token);
  return S.token || storage.get('concert.pass');
}
// Credentials for "any" endpoints: the guest's key, else a token.
const anyAuth = () => (S.key ? 'key' : { token: passToken() });

// Joining again needs the date's concert's active token.
function canRefresh(place) {
  return Boolean(S.token) && !S.paying && Boolean(S.status) && S.status.status === 'active'
    && Boolean(S.concert) && S.concert.concert_id === place.concert_id
    && (!S.activeUntil || S.activeUntil > now());
}

function schedule() {
  if (W.poll || W.polling || (!W.places.length && !W.offers.length)) return;
  W.poll = setTimeout(tick, POLL_MS);
}
async function tick() {
  clearTimeout(W.poll);
  W.poll = null;
  if (W.polling) return;
  W.polling = true;
  let stop = false;
  try {
    await checkOffers();
    for (const place of waiting()) if (canRefresh(place)) await refresh(place);
  } catch (e) {
    // Background checks say nothing of passing trouble; a lost key stops them.
    stop = e instanceof ApiError && (e.code === 'INVALID_CREDENTIALS' || e.code === 'USER_NOT_FOUND');
  } finally {
    W.polling = false;
  }
  if (!stop) schedule();
}

// The user's live offers; a new one takes its date off the list.
async function checkOffers() {
  const { data } = await api('GET', '/v1/reservations', { auth: anyAuth() });
  const t = now();
  const live = data.filter((r) => r.offer && r.status === 'held' && Date.parse(r.held_until) > t);
  for (const id of W.seen) {
    if (live.some((o) => o.reservation_id === id)) continue;
    W.seen.delete(id);
    const gone = data.find((r) => r.reservation_id === id);
    if (gone) forget(gone.performance_id);
    if (gone && gone.status !== 'paid') {
      notify(`The seat offered to you (seat ${gone.seat_number}) is no longer held for you: it went to the next on the waitlist.`);
    }
  }
  const fresh = live.filter((o) => !W.seen.has(o.reservation_id));
  for (const o of fresh) {
    W.seen.add(o.reservation_id);
    const place = placeOf(o.performance_id);
    if (place) place.offered = true;
    else W.places.push({ performance_id: o.performance_id, offered: true });
  }
  W.offers = live.map((o) => ({ ...o, until: Date.parse(o.held_until) }));
  if (fresh.length) {
    save();
    const o = fresh[0];
    notify(`A seat is held for you from the waitlist: seat ${o.seat_number}, ${won(o.price)}. Pay for it before the countdown ends.`, 'info');
    await loadBalance().catch(() => {});
  }
  render();
}

async function refresh(place) {
  let r;
  try {
    r = await api('POST', `/v1/performances/${place.performance_id}/waitlist`, { body: {} });
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.code === 'SEATS_AVAILABLE' || e.status === 404) {
      // Off the list: an offer made just now, or a leave in another tab.
      await checkOffers();
      if (placeOf(place.performance_id) && !placeOf(place.performance_id).offered) {
        forget(place.performance_id);
        render();
        if (e.code === 'SEATS_AVAILABLE') {
          notify(explain('SEATS_AVAILABLE'), 'info');
          waitlistHooks.seatsFree(place.performance_id);
        }
      }
    }
    return; // a window that closed meanwhile is the room's own check's to tell
  }
  if (r.status === 201) {
    // A new place: the old one went to an offer made a moment ago (then
    // the new place is given up again), or was left in another tab.
    await checkOffers();
    if (W.offers.some((o) => o.performance_id === place.performance_id)) {
      await api('DELETE', `/v1/performances/${place.performance_id}/waitlist`, { auth: anyAuth() });
      return;
    }
  }
  if (place.position !== r.data.position) notify(`Your place on the waitlist is now ${r.data.position}.`, 'info');
  place.position = r.data.position;
  place.checked = Date.now();
  save();
  render();
}

async function loadBalance() {
  const { data } = await api('GET', '/v1/balance', { auth: anyAuth() });
  W.balance = data.balance;
  $('balance').textContent = won(data.balance);
  render();
}

async function join() {
  const p = W.current;
  if (!p || !S.concert) return;
  clearNotice();
  let r;
  try {
    r = await api('POST', `/v1/performances/${p.performance_id}/waitlist`, { body: {} });
  } catch (e) {
    if (!(e instanceof ApiError) || e.code !== 'SEATS_AVAILABLE') throw e;
    notify(e.message, 'info');
    waitlistHooks.seatsFree(p.performance_id);
    return;
  }
  passToken();
  forget(p.performance_id);
  W.places.push({
    performance_id: p.performance_id,
    concert_id: S.concert.concert_id,
    title: S.concert.title,
    starts_at: p.starts_at,
    position: r.data.position,
    checked: Date.now(),
  });
  save();
  const line = `number ${r.data.position} on the waitlist for ${when(p.starts_at)}`;
  notify(r.status === 200 ? `You were already on it: ${line}.` : `You're ${line}.`, 'info');
  render();
  schedule();
}

async function leave(place) {
  clearNotice();
  await api('DELETE', `/v1/performances/${place.performance_id}/waitlist`, { auth: anyAuth() });
  forget(place.performance_id);
  notify(`You left the waitlist for ${describe(place)}.`, 'info');
  render();
}

async function payOffer(offer) {
  clearNotice();
  const token = passToken();
  if (!token) {
    notify('Join this concert\'s waiting room once from this browser, then pay for the seat here.');
    return;
  }
  notify('Paying…', 'info');
  let result;
  try {
    const { data } = await api('POST', '/v1/payments', {
      body: { reservation_id: offer.reservation_id },
      auth: { token },
      idempotencyKey: randomKey(),
    });
    result = await outcome(data.request_id, anyAuth());
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    if (e.code === 'INVALID_TOKEN' && !S.token) storage.set('concert.pass', null);
    result = { status: 'rejected', reason: e.code };
  }
  if (result.status !== 'succeeded') {
    const reason = result.reason || 'INTERNAL_ERROR';
    // Not fail(): a refusal here says nothing about the booking window.
    notify(explain(reason));
    $('notice').dataset.code = reason;
    await tick();
    return;
  }
  clearNotice();
  const place = placeOf(offer.performance_id) || {};
  W.seen.delete(offer.reservation_id);
  W.offers = W.offers.filter((o) => o.reservation_id !== offer.reservation_id);
  forget(offer.performance_id);
  W.balance = result.result.balance_after;
  render();
  const elsewhere = S.token && S.status && S.status.status === 'active' && S.concert
    && place.concert_id && S.concert.concert_id !== place.concert_id;
  if (elsewhere) {
    // Still booking another concert: say so and stay.
    $('balance').textContent = won(W.balance);
    notify(`Paid: seat ${offer.seat_number} of ${describe(place)} is yours.`, 'info');
    return;
  }
  waitlistHooks.paid([{
    seat_number: offer.seat_number,
    concert: place.title ? { title: place.title } : null,
    performance: place.starts_at ? { starts_at: place.starts_at } : null,
  }], result.result);
}

async function charge(event) {
  event.preventDefault();
  clearNotice();
  const amount = Number($('offer-amount').value);
  if (!Number.isInteger(amount) || amount < 1 || amount > 10000000) {
    notify('Enter a whole amount between ₩1 and ₩10,000,000.');
    return;
  }
  const { data } = await api('POST', '/v1/balance/charges', {
    body: { amount }, auth: anyAuth(), idempotencyKey: randomKey(),
  });
  W.balance = data.balance;
  $('balance').textContent = won(data.balance);
  notify(`Added ${won(amount)}. Your balance is ${won(data.balance)}.`, 'info');
  render();
}

function describe(place) {
  const date = place.starts_at ? when(place.starts_at) : `performance ${place.performance_id}`;
  return place.title ? `${place.title} · ${date}` : date;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function offerItem(o) {
  const item = el('div', 'offer');
  item.dataset.reservation = o.reservation_id;
  item.dataset.performanceId = String(o.performance_id);
  const head = el('div', 'hold-head');
  const info = el('div');
  info.append(
    el('div', 'label', 'A seat is held for you from the waitlist'),
    el('div', 'hold-what offer-what', `Seat ${o.seat_number} · ${describe(placeOf(o.performance_id) || o)} · ${won(o.price)}`),
  );
  const clock = el('div', 'countdown offer-countdown', mmss(o.until - now()));
  clock.setAttribute('aria-live', 'polite');
  head.append(info, clock);
  const actions = el('div', 'hold-actions');
  const pay = el('button', 'primary offer-pay', `Pay ${won(o.price)}`);
  pay.type = 'button';
  pay.addEventListener('click', () => busy(pay, () => payOffer(o)));
  let note = 'Pay before the countdown ends, or the seat goes to the next on the list. '
    + 'This works even after your booking window has closed.';
  if (S.holds.length) {
    note += ' Paying for it releases the other seats you hold now, and paying for those releases this one: '
      + 'buy what you want one after the other.';
  }
  actions.append(pay, el('span', 'fine', note));
  item.append(head, actions);
  return item;
}

function placeItem(place) {
  const item = el('div', 'place');
  item.dataset.performanceId = String(place.performance_id);
  const info = el('div');
  const note = canRefresh(place)
    ? 'Checked every few seconds.'
    : 'Your booking window has closed: you keep this place (last checked '
      + `${new Date(place.checked || Date.now()).toLocaleTimeString()}). Keep this page open, or come `
      + `back: a seat offered to you waits ${OFFER_MINUTES} minutes.`;
  info.append(
    el('div', 'label', 'You are on the waitlist'),
    el('div', 'place-what', describe(place)),
    el('div', 'fine place-note', note),
  );
  const number = el('div', 'place-number');
  number.append(el('div', 'big-number place-position', String(place.position)), el('div', 'label', 'your place'));
  const out = el('button', 'link place-leave', 'Leave the waitlist');
  out.type = 'button';
  out.addEventListener('click', () => busy(out, () => leave(place)));
  item.append(info, number, out);
  return item;
}

function render() {
  const places = waiting();
  const total = W.offers.reduce((sum, o) => sum + o.price, 0);
  const short = W.offers.length > 0 && W.balance !== null && W.balance < total;
  const drawn = JSON.stringify([
    W.offers, places.map((p) => [p.performance_id, p.position, p.title, canRefresh(p)]), short,
    S.holds.length,
  ]);
  if (drawn !== W.drawn) {
    W.drawn = drawn;
    $('offers').replaceChildren(...W.offers.map(offerItem));
    $('places').replaceChildren(...places.map(placeItem));
    $('offer-funds').hidden = !short;
    if (short) $('offer-balance').textContent = `Your balance is ${won(W.balance)}: add funds to pay ${won(total)}.`;
  }
  $('waitlist').hidden = !W.offers.length && !places.length;
  if (W.offers.length && !W.clock) W.clock = setInterval(tickOffers, 1000);
  if (!W.offers.length && W.clock) {
    clearInterval(W.clock);
    W.clock = null;
  }
  renderSoldOut();
}

// The offers' countdowns; one that runs out is checked at once.
function tickOffers() {
  let out = false;
  for (const item of $('offers').children) {
    const o = W.offers.find((x) => x.reservation_id === item.dataset.reservation);
    if (!o) continue;
    const left = o.until - now();
    const clock = item.querySelector('.offer-countdown');
    clock.textContent = mmss(left);
    clock.classList.toggle('low', left < 60000);
    if (left <= 0) out = true;
  }
  if (out && !W.polling) tick();
}

// The booking view's card for a sold-out date.
function renderSoldOut() {
  const p = W.current;
  $('soldout-card').hidden = !p;
  if (!p) return;
  const place = placeOf(p.performance_id);
  const offered = W.offers.some((o) => o.performance_id === p.performance_id);
  $('soldout-what').textContent = `${when(p.starts_at)} is sold out.`;
  $('soldout-status').textContent = offered
    ? 'A seat of this date is held for you: pay for it at the top of the page.'
    : place && !place.offered
      ? `You're number ${place.position} on its waitlist (shown at the top of the page).`
      : 'Join its waitlist to be offered the next seat that is freed.';
  $('waitlist-join').hidden = offered || Boolean(place && !place.offered);
}

export function showSoldOut(performance) {
  W.current = performance;
  renderSoldOut();
}
export function hideSoldOut() {
  W.current = null;
  renderSoldOut();
}

// Wires the panel's buttons, then shows what this browser waits for and
// checks once for an offer (a reload, or a visit after the window closed).
export function startWaitlist() {
  $('waitlist-join').addEventListener('click', () => busy($('waitlist-join'), join));
  $('offer-funds').addEventListener('submit', (e) => busy($('offer-charge'), () => charge(e)));
  restore();
  render();
  if (S.key || storage.get('concert.pass')) tick();
}
