// The waiting-room page, part 3 of 4: once admitted, the joined concert's
// dates (sold-out ones lead to their waitlist, waitlist.js) and seat map,
// holding a seat, its countdown, paying, and funds.

import {
  $, S, api, ApiError, busy, clearNotice, every, explain, fail, mmss, notify, now, outcome,
  randomKey, show, stopAll, stopTimer, storage, when, won,
} from './api.js';
import { checkStatus, expire } from './queue.js';
import { showTickets } from './tickets.js';
import { hideSoldOut, showSoldOut, waitlistHooks } from './waitlist.js';

const SEATS_POLL_MS = 3000;

// The booking view. The token opens only its own concert, so only that
// concert's dates are offered.
export function enterBooking() {
  stopTimer('opening');
  stopTimer('list');
  show('booking');
  S.dates = [];
  S.performance = null;
  S.seats = [];
  S.selected = null;
  $('dates').replaceChildren(Object.assign(document.createElement('span'), {
    className: 'fine', textContent: 'Loading…',
  }));
  $('seats-card').hidden = true;
  hideSoldOut();
  every('tick', 1000, async () => tick());
  tick();
  Promise.all([loadBalance(), loadDates().then(loadHolds)]).catch(fail);
}

function tick() {
  if (S.activeUntil) {
    const left = S.activeUntil - now();
    $('window').textContent = mmss(left);
    if (left <= 0) checkStatus().catch(fail);
  }
  renderHoldClock();
}

async function loadBalance() {
  const { data } = await api('GET', '/v1/balance');
  $('balance').textContent = won(data.balance);
}

function choice(title, sub) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'choice';
  b.append(document.createTextNode(title));
  const small = document.createElement('small');
  small.textContent = sub;
  b.append(small);
  return b;
}

function markSelected(box, attr, value) {
  for (const el of box.children) el.classList.toggle('selected', el.dataset[attr] === String(value));
}

// Every future date, sold-out ones too (marked, for their waitlist).
async function loadDates() {
  const concertId = S.concert.concert_id;
  const { data } = await api('GET', `/v1/concerts/${concertId}/performances?include_sold_out=true`);
  if (!S.concert || S.concert.concert_id !== concertId) return;
  S.dates = data;
  const box = $('dates');
  box.replaceChildren();
  if (!data.length) box.textContent = 'This concert has no upcoming dates.';
  for (const p of data) {
    const soldOut = p.available_seats === 0;
    const b = choice(when(p.starts_at), soldOut
      ? 'Sold out · join the waitlist'
      : `${p.available_seats} of ${p.total_seats} seats left`);
    b.dataset.performanceId = String(p.performance_id);
    if (soldOut) {
      b.classList.add('sold-out');
      b.dataset.soldOut = 'true';
    }
    b.addEventListener('click', () => busy(null, () => selectPerformance(p)));
    box.append(b);
  }
}

async function selectPerformance(p) {
  clearNotice();
  S.performance = p;
  S.selected = null;
  markSelected($('dates'), 'performanceId', p.performance_id);
  if (p.available_seats === 0) {
    stopTimer('seats');
    S.seats = [];
    $('seats-card').hidden = true;
    showSoldOut(p);
    return;
  }
  hideSoldOut();
  $('seats-card').hidden = false;
  await loadSeats();
  every('seats', SEATS_POLL_MS, loadSeats);
}

async function loadSeats() {
  if (!S.performance) return;
  const id = S.performance.performance_id;
  const { data } = await api('GET', `/v1/performances/${id}/seats`);
  if (!S.performance || S.performance.performance_id !== id) return;
  S.seats = data.seats;
  if (S.selected) {
    const seat = S.seats.find((s) => s.seat_number === S.selected);
    if (!seat || seat.status !== 'available') S.selected = null;
  }
  renderSeats();
  $('seats-updated').textContent = `· live, updated ${new Date().toLocaleTimeString()}`;
}

function isMine(seatNumber) {
  return Boolean(S.performance) && S.holds.some((h) =>
    h.performance_id === S.performance.performance_id && h.seat_number === seatNumber);
}

export function renderSeats() {
  const box = $('seats');
  box.replaceChildren();
  const prices = new Set();
  for (const seat of S.seats) {
    const b = document.createElement('button');
    b.type = 'button';
    const mine = isMine(seat.seat_number);
    const status = mine ? 'mine' : seat.status;
    b.className = `seat ${status}`;
    if (S.selected === seat.seat_number) b.classList.add('selected');
    b.textContent = String(seat.seat_number);
    b.dataset.seat = String(seat.seat_number);
    b.dataset.status = status;
    b.title = `Seat ${seat.seat_number} · ${won(seat.price)} · ${mine ? 'held by you' : seat.status}`;
    b.setAttribute('aria-label', b.title);
    b.disabled = seat.status !== 'available';
    b.addEventListener('click', () => {
      S.selected = seat.seat_number;
      clearNotice();
      renderSeats();
    });
    box.append(b);
    prices.add(seat.price);
  }
  $('prices').textContent = [...prices].sort((a, b) => b - a).map(won).join(' · ');
  const seat = S.seats.find((s) => s.seat_number === S.selected);
  const reserve = $('reserve');
  reserve.disabled = !seat;
  reserve.textContent = seat ? `Hold seat ${seat.seat_number} · ${won(seat.price)}` : 'Hold this seat';
  $('selection').textContent = seat
    ? `Seat ${seat.seat_number} is free.`
    : 'Pick an available seat.';
}

export async function reserve() {
  const seat = S.seats.find((s) => s.seat_number === S.selected);
  if (!seat || !S.performance) return;
  clearNotice();
  const performance = S.performance;
  notify(`Holding seat ${seat.seat_number}…`, 'info');
  const { data } = await api('POST', '/v1/reservations', {
    body: { performance_id: performance.performance_id, seat_number: seat.seat_number },
    idempotencyKey: randomKey(),
  });
  const result = await outcome(data.request_id);
  S.selected = null;
  if (result.status === 'succeeded') {
    clearNotice();
    addHold({ ...result.result, performance });
    const more = S.holds.length > 1 ? ' Hold another, or pay for all of them together.' : '';
    notify(`Seat ${seat.seat_number} is yours for now. Pay before the hold runs out.${more}`, 'info');
  } else {
    fail(new ApiError(result.reason || 'INTERNAL_ERROR', 0));
    // Held elsewhere (another tab): show those holds so they can be paid.
    if (result.reason === 'HOLD_LIMIT') await loadHolds();
  }
  await loadSeats();
}

// Shows the live holds of this concert made earlier (another tab, a
// reload). Holds of other concerts cannot be paid with this token and are
// left out.
async function loadHolds() {
  const { data } = await api('GET', '/v1/reservations');
  // Offers from the waitlist are shown and paid in waitlist.js.
  const held = data.filter((r) => r.status === 'held' && !r.offer && Date.parse(r.held_until) > now());
  for (const hold of held) {
    if (S.holds.some((h) => h.reservation_id === hold.reservation_id)) continue;
    const performance = S.dates.find((p) => p.performance_id === hold.performance_id);
    if (performance || (await opensHere(hold.performance_id))) addHold({ ...hold, performance });
  }
}

// Whether this token opens a performance (a date missing from the list
// because it has no seat left can still be this concert's).
async function opensHere(performanceId) {
  try {
    await api('GET', `/v1/performances/${performanceId}/seats?status=available`);
    return true;
  } catch (e) {
    if (e instanceof ApiError && (e.status === 403 || e.status === 404)) return false;
    throw e;
  }
}

function addHold(hold) {
  const until = Date.parse(hold.held_until);
  S.holds = S.holds.filter((h) => h.reservation_id !== hold.reservation_id);
  S.holds.push({ ...hold, concert: S.concert, until, total: Math.max(until - now(), 1000) });
  renderHolds();
}

// The hold panel: every held seat, their total, one payment for all.
function renderHolds() {
  $('hold').hidden = S.holds.length === 0;
  if (S.holds.length) {
    const seats = S.holds.map((h) => `Seat ${h.seat_number}`).join(', ');
    const first = S.holds[0];
    const total = S.holds.reduce((sum, h) => sum + h.price, 0);
    $('hold-what').textContent = `${seats} · ${where(first) || `performance ${first.performance_id}`} · ${won(total)}`;
    $('pay').textContent = S.holds.length > 1
      ? `Pay ${won(total)} for ${S.holds.length} seats`
      : `Pay ${won(total)}`;
    renderHoldClock();
  }
  if (S.seats.length) renderSeats();
}
function where(hold) {
  return [hold.concert && hold.concert.title, hold.performance && when(hold.performance.starts_at)]
    .filter(Boolean).join(' · ');
}

function clearHolds() {
  S.holds = [];
  renderHolds();
}

// The countdown of the hold that runs out first.
function renderHoldClock() {
  if (!S.holds.length) return;
  const soonest = S.holds.reduce((a, b) => (b.until < a.until ? b : a));
  const left = soonest.until - now();
  const clock = $('hold-countdown');
  clock.textContent = mmss(left);
  clock.classList.toggle('low', left < 60000);
  $('hold-bar').style.width = `${Math.max(0, Math.min(100, (100 * left) / soonest.total))}%`;
  if (left <= 0) {
    S.holds = S.holds.filter((h) => h.until > now());
    renderHolds();
    notify(explain('HOLD_EXPIRED'));
    $('notice').dataset.code = 'HOLD_EXPIRED';
    loadSeats().catch(fail);
  }
}

export async function pay() {
  if (!S.holds.length) return;
  clearNotice();
  const holds = [...S.holds];
  notify('Paying…', 'info');
  let result;
  S.paying = true;
  try {
    const body = holds.length === 1
      ? { reservation_id: holds[0].reservation_id }
      : { reservation_ids: holds.map((h) => h.reservation_id) };
    const { data } = await api('POST', '/v1/payments', { body, idempotencyKey: randomKey() });
    result = await outcome(data.request_id);
  } finally {
    S.paying = false;
  }
  if (result.status === 'succeeded') {
    clearNotice();
    done(holds, result.result);
    return;
  }
  const reason = result.reason || 'INTERNAL_ERROR';
  if (['HOLD_EXPIRED', 'ALREADY_PAID', 'RESERVATION_NOT_FOUND', 'NOT_YOUR_RESERVATION'].includes(reason)) {
    // One of them is gone: show what is still held.
    clearHolds();
    loadHolds().catch(() => {});
    loadSeats().catch(() => {});
  }
  fail(new ApiError(reason, 0));
  // The booking window closed while the payment was under way.
  if (S.token && S.status && S.status.status === 'expired') expire();
}

function done(holds, payment) {
  stopAll();
  S.token = null;
  storage.set('concert.token', null);
  S.holds = [];
  $('hold').hidden = true;
  $('balance').textContent = won(payment.balance_after);
  const place = where(holds[0]);
  const seats = holds.map((h) => h.seat_number).join(', ');
  const what = holds.length > 1 ? `Seats ${seats} are yours` : `Seat ${seats} is yours`;
  $('done-what').textContent = `${what}${place ? ` · ${place}` : ''}.`;
  const rows = [
    [holds.length > 1 ? 'Seats' : 'Seat', seats],
    ['Paid', won(payment.amount)],
    ['Balance after', won(payment.balance_after)],
    ['Paid at', new Date(payment.paid_at).toLocaleString()],
    ['Payment', payment.payment_id],
  ];
  const receipt = $('receipt');
  receipt.replaceChildren();
  for (const [k, v] of rows) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = document.createElement('dd');
    dd.textContent = v;
    receipt.append(dt, dd);
  }
  show('done');
  showTickets();
}

// A sold-out date has a seat again (nobody waits for it): show its seats.
waitlistHooks.seatsFree = async (performanceId) => {
  if (document.body.dataset.view !== 'booking') return;
  await loadDates();
  if (S.performance) markSelected($('dates'), 'performanceId', S.performance.performance_id);
  const p = S.dates.find((d) => d.performance_id === performanceId);
  if (p && p.available_seats > 0 && S.performance && S.performance.performance_id === performanceId) {
    await selectPerformance(p);
  }
};
// An offer paid: the receipt, as for any payment.
waitlistHooks.paid = done;

export async function charge(event) {
  event.preventDefault();
  clearNotice();
  const amount = Number($('amount').value);
  if (!Number.isInteger(amount) || amount < 1 || amount > 10000000) {
    notify('Enter a whole amount between ₩1 and ₩10,000,000.');
    $('notice').dataset.code = 'VALIDATION_ERROR';
    return;
  }
  const { data } = await api('POST', '/v1/balance/charges', {
    body: { amount },
    idempotencyKey: randomKey(),
  });
  $('balance').textContent = won(data.balance);
  notify(`Added ${won(amount)}. Your balance is ${won(data.balance)}.`, 'info');
}
