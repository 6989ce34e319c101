// The waitlist (SPEC rule 11) end to end through the page, in a browser of
// its own (a new guest), against the stack scripts/e2e starts (it sets
// ADMIN_TOKEN). The admin makes a concert with a one-seat date A and a
// two-seat date B; a holder holds A's seat, so A is sold out, and a rival
// waits first on A's list. The page user is admitted, sees A marked sold
// out, joins its waitlist (place 2), leaves and joins again, and moves up to
// place 1 when the rival leaves. The page user then buys a seat of B, which
// closes their booking window (their token expires). The holder releases A's
// seat: it is offered to the page user, and the page shows the offer with
// its countdown and pays it with the expired token. A's seat ends sold to
// the page user. Screenshots go to e2e/artifacts/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ARTIFACTS, BASE, admittedUser, call, openBrowser, outcome } from './lib.mjs';

const ADMIN = process.env.ADMIN_TOKEN;
const DAY_MS = 86_400_000;

let browser;
let page;

before(async () => {
  browser = await openBrowser();
  ({ page } = browser);
});

after(async () => {
  if (browser) await browser.close();
});

const shot = (name) => page.screenshot({ path: path.join(ARTIFACTS, name), fullPage: true });
const admin = (method, route, body) => call(method, route, { token: ADMIN, body });
const textOf = (selector) => page.textContent(selector);
// Waits until `selector`'s text matches `pattern`.
const textMatches = (selector, pattern) => page.waitForFunction(
  ([s, source]) => new RegExp(source).test((document.querySelector(s) || {}).textContent || ''),
  [selector, pattern.source],
);

async function performance(concertId, daysAhead, seats, price) {
  const r = await admin('POST', `/v1/admin/concerts/${concertId}/performances`, {
    starts_at: new Date(Date.now() + daysAhead * DAY_MS).toISOString(),
    total_seats: seats,
    prices: [{ from_seat: 1, to_seat: seats, price }],
  });
  assert.equal(r.status, 201, JSON.stringify(r.data));
  return r.data.performance_id;
}

test('a sold-out date: join its waitlist, get the freed seat, pay for it after the window closed', async () => {
  assert.ok(ADMIN, 'set ADMIN_TOKEN (scripts/e2e does)');

  // A concert whose room admits three at once: the holder, the rival, the page.
  const made = await admin('POST', '/v1/admin/concerts', {
    title: 'Waitlist Night', artist: 'The Patient Ones', queue_capacity: 3,
  });
  assert.equal(made.status, 201, JSON.stringify(made.data));
  const concertId = made.data.concert_id;
  const A = await performance(concertId, 30, 1, 10_000);
  const B = await performance(concertId, 31, 2, 20_000);

  // The holder holds A's only seat: A is sold out.
  const holder = await admittedUser(concertId);
  const held = await call('POST', '/v1/reservations', {
    token: holder.token, body: { performance_id: A, seat_number: 1 },
  });
  assert.equal(held.status, 202, JSON.stringify(held.data));
  const hold = await outcome(holder.token, held.data.request_id);
  assert.equal(hold.status, 'succeeded', JSON.stringify(hold));

  // The rival is first on A's list.
  const rival = await admittedUser(concertId);
  const rivalPlace = await call('POST', `/v1/performances/${A}/waitlist`, { token: rival.token, body: {} });
  assert.equal(rivalPlace.status, 201, JSON.stringify(rivalPlace.data));
  assert.equal(rivalPlace.data.position, 1);

  // The page user joins the concert's room and is admitted: A is listed,
  // marked sold out, B with its seats.
  await page.goto(BASE);
  const item = `#concert-list [data-concert-id="${concertId}"]`;
  await page.waitForSelector(`${item} .join`);
  await page.click(`${item} .join`);
  await page.waitForSelector('#view-booking:not([hidden])');
  const dateA = `#dates [data-performance-id="${A}"]`;
  const dateB = `#dates [data-performance-id="${B}"]`;
  await page.waitForSelector(`${dateA}[data-sold-out="true"]`);
  assert.match(await textOf(dateA), /Sold out · join the waitlist/);
  assert.match(await textOf(dateB), /2 of 2 seats left/);

  // Choosing A offers its waitlist, with the rule, instead of a seat map.
  await page.click(dateA);
  await page.waitForSelector('#soldout-card:not([hidden])');
  assert.equal(await page.isHidden('#seats-card'), true);
  assert.match(await textOf('#soldout-what'), /is sold out/);
  assert.match(await page.innerText('#soldout-rule'), /goes to whoever is first on that date's list, held for them for 10 minutes/);
  await page.click('#waitlist-join');
  const place = `#places .place[data-performance-id="${A}"]`;
  await textMatches(`${place} .place-position`, /^2$/);
  await page.waitForSelector('#waitlist:not([hidden])');
  await page.waitForSelector('#waitlist-join', { state: 'hidden' });
  assert.match(await textOf('#soldout-status'), /number 2 on its waitlist/);
  await shot('waitlist-01-joined.png');

  // Leaving takes the page user off the list; joining again puts them at its end.
  await page.click(`${place} .place-leave`);
  await page.waitForSelector(place, { state: 'detached' });
  await page.waitForSelector('#waitlist', { state: 'hidden' });
  assert.equal((await admin('GET', `/v1/admin/performances/${A}/report`)).data.waitlist, 1);
  await page.click('#waitlist-join');
  await textMatches(`${place} .place-position`, /^2$/);
  assert.equal((await admin('GET', `/v1/admin/performances/${A}/report`)).data.waitlist, 2);

  // The rival leaves: the page's refresh moves the page user up to place 1,
  // the place the API answers too.
  const left = await call('DELETE', `/v1/performances/${A}/waitlist`, { token: rival.user_key });
  assert.equal(left.status, 204, JSON.stringify(left.data));
  await textMatches(`${place} .place-position`, /^1$/);
  const token = await page.evaluate(() => localStorage.getItem('concert.token'));
  const key = await page.evaluate(() => localStorage.getItem('concert.key'));
  const again = await call('POST', `/v1/performances/${A}/waitlist`, { token, body: {} });
  assert.equal(again.status, 200, JSON.stringify(again.data));
  assert.equal(again.data.position, 1);

  // The page user buys seat 1 of B: paying closes their booking window.
  await page.fill('#amount', '100000');
  await page.click('#charge');
  await page.waitForFunction(() => document.getElementById('balance').textContent.includes('100,000'));
  await page.click(dateB);
  await page.waitForSelector('#seats [data-seat="1"][data-status="available"]');
  assert.equal(await page.isHidden('#soldout-card'), true);
  await page.click('#seats [data-seat="1"]');
  await page.click('#reserve');
  await page.waitForSelector('#seats [data-seat="1"][data-status="mine"]');
  await page.click('#pay');
  await page.waitForSelector('#view-done:not([hidden])');
  assert.equal((await call('GET', '/v1/queue/status', { token })).data.status, 'expired');
  // The place stays, above the receipt.
  await textMatches(`${place} .place-note`, /booking window has closed: you keep this place/);
  assert.equal(await textOf(`${place} .place-position`), '1');

  // The holder releases A's seat: it is offered to the page user, first on
  // the list, as a hold of theirs.
  const released = await call('POST', `/v1/reservations/${hold.result.reservation_id}/cancel`, {
    token: holder.token,
  });
  assert.equal(released.status, 202, JSON.stringify(released.data));
  assert.equal((await outcome(holder.token, released.data.request_id)).status, 'succeeded');
  const offer = `#offers .offer[data-performance-id="${A}"]`;
  await page.waitForSelector(offer);
  assert.match(await textOf(`${offer} .offer-what`), /^Seat 1 · Waitlist Night · .+ · ₩10,000$/);
  assert.match(await textOf(`${offer} .offer-countdown`), /^(10:00|[0-9]:[0-5]\d)$/);
  assert.match(await textOf(`${offer} .offer-pay`), /Pay ₩10,000/);
  assert.match(await textOf(offer), /even after your booking window has closed/);
  assert.equal(await page.locator(place).count(), 0, 'the offer took the page user off the list');
  const offered = (await call('GET', '/v1/reservations', { token: key })).data
    .find((r) => r.performance_id === A);
  assert.deepEqual([offered.seat_number, offered.status, offered.offer], [1, 'held', true]);
  await shot('waitlist-02-offer.png');

  // Paying it with the page's expired token works: a receipt for A's seat.
  await page.click(`${offer} .offer-pay`);
  await textMatches('#receipt', /Paid₩10,000Balance after₩70,000/);
  assert.match(await textOf('#done-what'), /^Seat 1 is yours · Waitlist Night · /);
  await page.waitForSelector('#waitlist', { state: 'hidden' });
  await page.waitForFunction(() => document.querySelectorAll('#tickets .ticket[data-status="paid"]').length === 2);
  await shot('waitlist-03-paid.png');

  // A's seat is sold to the page user, from the offer; nobody waits any more.
  const mine = (await call('GET', '/v1/reservations', { token: key })).data;
  const seatA = mine.find((r) => r.performance_id === A);
  assert.deepEqual([seatA.seat_number, seatA.status, seatA.offer], [1, 'paid', true]);
  const tickets = (await call('GET', '/v1/tickets', { token: key })).data;
  assert.deepEqual(
    tickets.map((t) => [t.performance_id, t.seat_number, t.status]),
    [[A, 1, 'paid'], [B, 1, 'paid']],
  );
  const report = (await admin('GET', `/v1/admin/performances/${A}/report`)).data;
  assert.deepEqual(
    [report.sold, report.held, report.available, report.waitlist, report.revenue],
    [1, 0, 0, 0, 10_000],
  );
  assert.deepEqual(browser.errors, []);
});
