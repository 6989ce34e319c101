// The waiting-room page, part 4 of 4: wiring the buttons, and starting where
// this browser left off (a stored pass: back to its place; none: the concerts).
// Plain JS modules, no build step, talking only to this API: api.js (shared
// state, API client, messages), queue.js (the concerts, their rooms, the live
// place from /v1/queue/events, else by polling /v1/queue/status), booking.js
// (the joined concert's dates, seats, holds, payment), tickets.js (the
// receipt's tickets), waitlist.js (sold-out dates' waitlists and offers).

import { $, S, busy, clearNotice, fail, show, storage } from './api.js';
import { charge, pay, renderSeats, reserve } from './booking.js';
import { checkStatus, rejoin, showConcerts } from './queue.js';
import { startWaitlist } from './waitlist.js';

function storedConcert() {
  try {
    const concert = JSON.parse(storage.get('concert.room') || 'null');
    return concert && Number.isInteger(concert.concert_id) ? concert : null;
  } catch {
    return null;
  }
}

function boot() {
  $('rejoin').addEventListener('click', () => busy($('rejoin'), rejoin));
  $('again').addEventListener('click', () => busy($('again'), rejoin));
  for (const id of ['to-concerts', 'done-to-concerts']) {
    $(id).addEventListener('click', () => busy($(id), () => { clearNotice(); return showConcerts(); }));
  }
  $('reserve').addEventListener('click', () => busy($('reserve'), reserve).then(renderSeats));
  $('pay').addEventListener('click', () => busy($('pay'), pay));
  $('charge-form').addEventListener('submit', (e) => busy($('charge'), () => charge(e)));
  $('notice-close').addEventListener('click', clearNotice);

  S.user = storage.get('concert.user');
  S.key = storage.get('concert.key');
  S.token = storage.get('concert.token');
  S.concert = storedConcert();
  S.firstPosition = Number(storage.get('concert.first')) || null;
  startWaitlist();
  const start = () => showConcerts().catch((e) => { show('start'); fail(e); });
  if (S.token) {
    // A pass that is gone sends fail() to the concerts itself.
    checkStatus().catch((e) => { fail(e); if (!document.body.dataset.view) start(); });
  } else {
    start();
  }
}

boot();
