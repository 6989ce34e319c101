// End to end through the waiting-room page in headless Chromium, against a
// running API and worker (scripts/e2e starts them with QUEUE_ACTIVE_CAPACITY=1
// and the demo seed: one concert on sale, one whose sale opens 3 minutes
// after seeding). The page lists both, the second with a countdown. A
// blocker takes the only active slot of the open concert's room, the page
// user joins that room and queues behind it (told live over the event
// stream), keeps the place across a reload, is admitted when the blocker
// pays, sees only that concert's dates, holds a seat, is told the balance is
// too low, charges, pays. Then the same guest joins the other concert's
// pre-queue, sees the countdown, and is admitted at the opening. Then the
// metrics and the API docs are checked. Screenshots go to e2e/artifacts/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ARTIFACTS, BASE, STEP_MS, call, openBrowser, outcome, until } from './lib.mjs';

let browser;
let page;
let pageErrors;

async function shot(name, fullPage = true) {
  await page.screenshot({ path: path.join(ARTIFACTS, name), fullPage });
}

before(async () => {
  browser = await openBrowser();
  ({ page, errors: pageErrors } = browser);
});

after(async () => {
  if (browser) await browser.close();
});

// The seeded concerts: the one on sale, and the one whose sale opens later.
async function concerts() {
  const r = await call('GET', '/v1/concerts');
  assert.equal(r.status, 200, JSON.stringify(r.data));
  const open = r.data.find((c) => c.sale_opens_at === null);
  const later = r.data.find((c) => c.sale_opens_at !== null);
  assert.ok(open, `a concert on sale: ${JSON.stringify(r.data)}`);
  return { open, later };
}

async function contains(selector, text) {
  const shown = await page.textContent(selector);
  assert.ok(shown.includes(text), `${selector}: ${JSON.stringify(shown)} lacks ${JSON.stringify(text)}`);
}

const pageToken = () => page.evaluate(() => localStorage.getItem('concert.token'));

// The dates the page offers (sold-out ones too), and those the page's token opens.
async function datesShown(concertId) {
  await page.waitForSelector('#dates [data-performance-id]');
  const shown = await page.$$eval('#dates [data-performance-id]', (els) =>
    els.map((el) => Number(el.dataset.performanceId)));
  const r = await call('GET', `/v1/concerts/${concertId}/performances?include_sold_out=true`, {
    token: await pageToken(),
  });
  assert.equal(r.status, 200, JSON.stringify(r.data));
  assert.deepEqual(shown, r.data.map((p) => p.performance_id));
  return shown;
}

test('queue, hold, charge and pay through the page', async () => {
  const { open, later } = await concerts();
  assert.ok(later, 'the seed has a concert whose sale opens later');

  // A blocker takes the only active slot of the open concert's room, so the
  // page user has to wait.
  const registered = (await call('POST', '/v1/users', { body: {} })).data;
  const blocker = registered.user_id;
  const entered = await call('POST', '/v1/queue/tokens', {
    token: registered.user_key,
    body: { user_id: blocker, concert_id: open.concert_id },
  });
  assert.equal(entered.status, 201, JSON.stringify(entered.data));
  assert.equal(entered.data.concert_id, open.concert_id);
  const blockerToken = entered.data.token;
  await until('the blocker to be admitted', async () =>
    (await call('GET', '/v1/queue/status', { token: blockerToken })).data.status === 'active');

  // The page starts with the concerts: one on sale, one counting down.
  await page.goto(BASE);
  assert.equal(await page.title(), 'Concert tickets · waiting room');
  const openItem = `#concert-list [data-concert-id="${open.concert_id}"]`;
  const laterItem = `#concert-list [data-concert-id="${later.concert_id}"]`;
  await page.waitForSelector(`${openItem} .join`);
  await contains(`${openItem} .concert-title`, open.title);
  assert.match(await page.textContent(`${openItem} .sale`), /On sale now/);
  assert.match(
    await page.textContent(`${laterItem} .sale`),
    /^Sale opens in \d\d:[0-5]\d — join now to be in the pre-queue; places are drawn at random at the opening$/,
  );
  await shot('00-concerts.png');

  // Joining the open concert's room: second in line, so waiting at place 1,
  // told live over the event stream.
  await page.click(`${openItem} .join`);
  await page.waitForSelector('#view-waiting:not([hidden])');
  await page.waitForFunction(() => document.getElementById('position').textContent === '1');
  await contains('#waiting-concert', open.title);
  assert.match(await page.textContent('#ahead'), /You're next/);
  assert.ok(Number(await page.getAttribute('#progress', 'aria-valuenow')) > 0);
  // The place can come from the first status read before the event stream
  // answers: wait for the stream's note rather than read it at once.
  await page.waitForFunction(() => /updated live/.test(document.getElementById('waiting-note').textContent));
  const room = await page.evaluate(() => JSON.parse(localStorage.getItem('concert.room')));
  assert.equal(room.concert_id, open.concert_id);

  // A reload keeps the place in that room.
  const before = await pageToken();
  await page.reload();
  await page.waitForSelector('#view-waiting:not([hidden])');
  await page.waitForFunction(() => document.getElementById('position').textContent === '1');
  await contains('#waiting-concert', open.title);
  assert.equal(await pageToken(), before);
  await shot('01-waiting.png');

  // The blocker buys seat 1 of the first date; paying expires their token,
  // which frees the slot for the page user.
  const dates = (await call('GET', `/v1/concerts/${open.concert_id}/performances`, { token: blockerToken })).data;
  const first = dates[0];
  const charged = await call('POST', '/v1/balance/charges', { token: blockerToken, body: { amount: 1_000_000 } });
  assert.equal(charged.status, 200, JSON.stringify(charged.data));
  const held = await call('POST', '/v1/reservations', {
    token: blockerToken,
    body: { performance_id: first.performance_id, seat_number: 1 },
  });
  assert.equal(held.status, 202, JSON.stringify(held.data));
  const hold = await outcome(blockerToken, held.data.request_id);
  assert.equal(hold.status, 'succeeded', JSON.stringify(hold));
  const paid = await call('POST', '/v1/payments', {
    token: blockerToken,
    body: { reservation_id: hold.result.reservation_id },
  });
  assert.equal(paid.status, 202, JSON.stringify(paid.data));
  assert.equal((await outcome(blockerToken, paid.data.request_id)).status, 'succeeded');

  // Admitted: only the joined concert's dates (the token opens no other),
  // then the seat map with the blocker's seat sold.
  await page.waitForSelector('#view-booking:not([hidden])');
  assert.match(await page.textContent('#window'), /^\d+:\d\d$/);
  await contains('#booking-concert', open.title);
  const shown = await datesShown(open.concert_id);
  assert.ok(shown.includes(first.performance_id));
  const token = await pageToken();
  const elsewhere = await call('GET', `/v1/concerts/${later.concert_id}/performances`, { token });
  assert.equal(elsewhere.status, 403, JSON.stringify(elsewhere.data));
  assert.equal(elsewhere.data.code, 'TOKEN_NOT_FOR_CONCERT');
  await page.click(`#dates [data-performance-id="${first.performance_id}"]`);
  await page.waitForSelector('#seats [data-seat="50"]');
  assert.equal(await page.locator('#seats .seat').count(), 50);
  await page.waitForSelector('#seats [data-seat="1"][data-status="sold"]');

  // Hold seat 7: a countdown appears and the seat reads as ours.
  await page.click('#seats [data-seat="7"]');
  assert.match(await page.textContent('#reserve'), /Hold seat 7/);
  await page.click('#reserve');
  await page.waitForSelector('#hold:not([hidden])');
  await page.waitForSelector('#seats [data-seat="7"][data-status="mine"]');
  const clock = await page.textContent('#hold-countdown');
  assert.match(clock, /^[0-9]:[0-5]\d$/);
  assert.match(await page.textContent('#hold-what'), /Seat 7/);
  await contains('#hold-what', open.title);

  // And seat 8: both are held, to be paid together.
  await page.click('#seats [data-seat="8"]');
  assert.match(await page.textContent('#reserve'), /Hold seat 8/);
  await page.click('#reserve');
  await page.waitForSelector('#seats [data-seat="8"][data-status="mine"]');
  assert.match(await page.textContent('#hold-what'), /Seat 7, Seat 8/);
  assert.match(await page.textContent('#pay'), /300,000 for 2 seats/);
  await shot('02-seats-held.png');

  // Paying with an empty balance is refused with a clear message.
  await page.click('#pay');
  await page.waitForSelector('#notice[data-code="INSUFFICIENT_BALANCE"]:not([hidden])');
  assert.match(await page.textContent('#notice-text'), /balance is too low/);
  assert.equal(await page.isDisabled('#reserve'), true, 'nothing is selected after a hold');
  await shot('03-insufficient-balance.png');

  // Charge, then pay.
  await page.fill('#amount', '400000');
  await page.click('#charge');
  await page.waitForFunction(() => document.getElementById('balance').textContent.includes('400,000'));
  await page.click('#pay');
  await page.waitForSelector('#view-done:not([hidden])');
  assert.match(await page.textContent('#done-what'), /Seats 7, 8 are yours/);
  const receipt = await page.textContent('#receipt');
  assert.match(receipt, /300,000/);
  assert.match(receipt, /100,000/);
  await shot('04-paid.png');

  // The seats are the page user's, paid in one payment, and their token
  // expired with it.
  const mine = (await call('GET', '/v1/reservations', { token })).data;
  assert.deepEqual(
    mine.map((r) => [r.performance_id, r.seat_number, r.status]).sort((a, b) => a[1] - b[1]),
    [[first.performance_id, 7, 'paid'], [first.performance_id, 8, 'paid']],
  );
  const tickets = (await call('GET', '/v1/tickets', { token })).data;
  assert.equal(new Set(tickets.map((t) => t.payment_id)).size, 1, JSON.stringify(tickets));
  assert.equal((await call('GET', '/v1/queue/status', { token })).data.status, 'expired');

  // The receipt lists the ticket with a Cancel button: cancelling refunds
  // it (the show is weeks away) and puts the seat back on sale.
  const ticket = '#tickets .ticket[data-status="paid"]';
  await page.waitForSelector(`${ticket} .cancel-ticket`);
  assert.equal(await page.locator(ticket).count(), 2);
  assert.match(await page.textContent(ticket), /Seat 7/);
  await page.click(`${ticket} .cancel-ticket`);
  await page.waitForSelector('#tickets .ticket[data-status="refunded"]');
  assert.match(await page.textContent('#notice'), /Cancelled/);
  await page.waitForFunction(() => document.getElementById('balance').textContent.includes('250,000'));
  await shot('05-refunded.png');
  const after = (await call('GET', '/v1/reservations', { token })).data;
  assert.deepEqual(after.map((r) => [r.seat_number, r.status]).sort((a, b) => a[0] - b[0]), [[7, 'refunded'], [8, 'paid']]);

  assert.deepEqual(pageErrors, []);
});

test('the pre-queue of a concert whose sale opens later, then its opening', async (t) => {
  const { later } = await concerts();
  const opensAt = later ? Date.parse(later.sale_opens_at) : 0;
  if (opensAt - Date.now() < 10_000) {
    t.skip('the sale opened before the test got here');
    return;
  }

  // From the receipt back to the concerts, and into the later one's room.
  await page.click('#done-to-concerts');
  const item = `#concert-list [data-concert-id="${later.concert_id}"]`;
  await page.waitForSelector(`${item} .join`);
  assert.match(await page.textContent(`${item} .join`), /pre-queue/);
  await page.click(`${item} .join`);
  await page.waitForSelector('#view-waiting:not([hidden])');
  await page.waitForSelector('#prequeue:not([hidden])');
  assert.equal(await page.isHidden('#in-line'), true, 'no place in line before the opening');
  assert.match(await page.textContent('#waiting-title'), /pre-queue/);
  await contains('#waiting-concert', later.title);
  assert.match(await page.textContent('#opens-in'), /^\d\d:[0-5]\d$/);
  assert.match(await page.textContent('#draw-note'), /drawn at random/);
  const status = (await call('GET', '/v1/queue/status', { token: await pageToken() })).data;
  assert.equal(status.concert_id, later.concert_id);
  assert.equal(status.position, null);
  assert.equal(status.sale_opens_at !== null, true);
  await shot('05-pre-queue.png');

  // At the opening the one pre-queued guest draws place 1 and, the room
  // being empty, is admitted: pushed to the page, which offers only this
  // concert's dates.
  await page.waitForSelector('#view-booking:not([hidden])', {
    timeout: opensAt - Date.now() + STEP_MS,
  });
  await contains('#booking-concert', later.title);
  await datesShown(later.concert_id);
  await shot('06-opened.png');

  assert.deepEqual(pageErrors, []);
});

test('the metrics moved with the page traffic', async () => {
  const r = await call('GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain/);
  const text = r.data;
  assert.match(text, /http_requests_total\{method="GET",route="\/v1\/queue\/status",status="200"\} [1-9]/);
  assert.match(text, /http_requests_total\{method="GET",route="\/v1\/queue\/events",status="200"\} [1-9]/);
  assert.match(text, /http_requests_total\{method="POST",route="\/v1\/payments",status="202"\} [1-9]/);
  assert.match(text, /http_request_duration_seconds_bucket\{method="GET",route="\/v1\/requests\/\{request_id\}"/);
  assert.match(text, /^queue_waiting \d+$/m);
  assert.match(text, /^queue_active \d+$/m);
});

test('the API docs render in Swagger UI', async () => {
  const doc = await call('GET', '/openapi.json');
  assert.equal(doc.status, 200);
  assert.equal(doc.data.openapi, '3.1.0');
  await page.goto(`${BASE}/docs`);
  await page.waitForSelector('.swagger-ui .info .title');
  assert.match(await page.textContent('.swagger-ui .info .title'), /Concert reservation API/);
  await page.waitForSelector('.opblock-summary-path');
  const paths = await page.locator('.opblock-summary-path').allTextContents();
  assert.ok(paths.some((p) => p.includes('/v1/reservations')), paths.join(', '));
  await shot('07-docs.png', false);
});
