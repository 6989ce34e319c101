// The waiting-room page: plain JS, no build step, talks only to this API.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const KRW = new Intl.NumberFormat('ko-KR', { style: 'currency', currency: 'KRW' });
  const won = (n) => KRW.format(n);
  const WAITING_POLL_MS = 2000;
  const ACTIVE_POLL_MS = 10000;
  const SEATS_POLL_MS = 3000;

  // What each problem `code` and rejection `reason` means to a person.
  const MESSAGES = {
    SEAT_TAKEN: 'Someone else just took that seat. Please pick another one.',
    HOLD_LIMIT: 'You already hold as many seats as you may. Pay for your held seat, or let its hold run out first.',
    HOLD_EXPIRED: 'Your hold ran out before the payment went through. Hold a seat again.',
    ALREADY_PAID: 'This seat is already paid for.',
    INSUFFICIENT_BALANCE: 'Your balance is too low for this seat. Add funds below, then pay again.',
    TOKEN_NOT_ACTIVE: 'Your booking window has closed. Join the waiting room again to continue.',
    INVALID_TOKEN: 'Your waiting-room pass is no longer valid. Please join again.',
    INVALID_CREDENTIALS: 'This browser lost its guest key. Join again as a new guest.',
    RATE_LIMITED: 'Too many attempts from your network. Please wait a moment and try again.',
    BALANCE_LIMIT: 'That would lift your balance above ₩1,000,000,000. Add a smaller amount.',
    RESERVATION_NOT_FOUND: 'That reservation no longer exists. Hold a seat again.',
    NOT_YOUR_RESERVATION: 'That reservation belongs to someone else.',
    SEAT_NOT_FOUND: 'That seat does not exist.',
    PERFORMANCE_NOT_FOUND: 'That date is no longer on sale.',
    CONCERT_NOT_FOUND: 'That concert is no longer on sale.',
    USER_NOT_FOUND: 'We could not find your account. Please join again.',
    REQUEST_NOT_FOUND: 'We lost track of that request. Please try again.',
    IDEMPOTENCY_KEY_REUSED: 'That request clashed with an earlier one. Please try again.',
    PAYLOAD_TOO_LARGE: 'That request was too large.',
    INVALID_COMMAND: 'The booking system could not read that request. Please try again.',
    BROKER_UNAVAILABLE: 'Booking is briefly unavailable. Please try again in a moment.',
    DATABASE_UNAVAILABLE: 'The service is briefly unavailable. Please try again in a moment.',
    INTERNAL_ERROR: 'Something went wrong on our side. Please try again.',
    NETWORK: 'The server could not be reached. Check your connection and try again.',
    TIMEOUT: 'No answer yet: your request is still being processed. Please check again in a moment.',
  };
  const explain = (code, detail) =>
    MESSAGES[code] || detail || `Something went wrong (${code}).`;

  class ApiError extends Error {
    constructor(code, status, detail) {
      super(explain(code, detail));
      this.code = code;
      this.status = status;
    }
  }

  // ------------------------------------------------------------ state

  const S = {
    user: null,
    key: null,
    token: null,
    firstPosition: null,
    activeUntil: null,
    concerts: [],
    concert: null,
    performance: null,
    seats: [],
    selected: null,
    hold: null,
    clockSkewMs: 0,
    timers: {},
  };

  const storage = {
    get(key) {
      try { return window.localStorage.getItem(key); } catch { return null; }
    },
    set(key, value) {
      try {
        if (value === null || value === undefined) window.localStorage.removeItem(key);
        else window.localStorage.setItem(key, String(value));
      } catch { /* private mode: the page still works, it just forgets on reload */ }
    },
  };

  const now = () => Date.now() + S.clockSkewMs;

  function randomKey() {
    if (window.crypto && typeof window.crypto.randomUUID === 'function') {
      return window.crypto.randomUUID();
    }
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // -------------------------------------------------------------- API

  // auth: true sends the queue token, 'key' the guest's user key, false nothing.
  async function api(method, path, { body, auth = true, idempotencyKey } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const credential = auth === 'key' ? S.key : auth ? S.token : null;
    if (credential) headers.Authorization = `Bearer ${credential}`;
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch {
      throw new ApiError('NETWORK', 0);
    }
    const date = Date.parse(response.headers.get('date') || '');
    if (!Number.isNaN(date)) {
      // The server's clock decides holds; keep ours in step (to the second).
      const skew = date - Date.now();
      if (Math.abs(skew - S.clockSkewMs) > 1500) S.clockSkewMs = skew;
    }
    let data = null;
    const text = await response.text();
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!response.ok) {
      const code = (data && data.code) || `HTTP_${response.status}`;
      throw new ApiError(code, response.status, data && data.detail);
    }
    return { status: response.status, data };
  }

  // Long-polls a command until a worker has decided it.
  async function outcome(requestId) {
    for (let i = 0; i < 9; i += 1) {
      const { data } = await api('GET', `/v1/requests/${encodeURIComponent(requestId)}?wait_ms=10000`);
      if (data.status !== 'pending') return data;
    }
    throw new ApiError('TIMEOUT', 0);
  }

  // ------------------------------------------------------------ views

  const VIEWS = ['start', 'waiting', 'booking', 'done', 'expired'];

  function show(view) {
    for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
    document.body.dataset.view = view;
    $('who').hidden = !S.user || view === 'start';
    $('balance-box').hidden = view !== 'booking' && view !== 'done';
    if (S.user) $('who-user').textContent = `Guest ${S.user.slice(0, 8)}`;
  }

  let noticeTimer = null;
  function notify(message, kind = 'error') {
    const box = $('notice');
    box.classList.toggle('info', kind === 'info');
    box.dataset.kind = kind;
    $('notice-text').textContent = message;
    box.hidden = false;
    clearTimeout(noticeTimer);
    if (kind === 'info') noticeTimer = setTimeout(() => { box.hidden = true; }, 5000);
  }
  function clearNotice() {
    $('notice').hidden = true;
    $('notice').dataset.code = '';
  }
  function fail(error) {
    const code = error instanceof ApiError ? error.code : 'INTERNAL_ERROR';
    notify(error instanceof ApiError ? error.message : explain('INTERNAL_ERROR'));
    $('notice').dataset.code = code;
    if (code === 'TOKEN_NOT_ACTIVE') expire(error.message);
    else if (code === 'INVALID_TOKEN' || code === 'USER_NOT_FOUND') forgetPass();
  }

  function stopTimer(name) {
    const job = S.timers[name];
    if (job) clearTimeout(job.id);
    delete S.timers[name];
  }
  function stopAll() {
    for (const name of Object.keys(S.timers)) stopTimer(name);
  }
  // Runs `fn` every `ms` until stopped or replaced; a run that finishes after
  // its job was replaced does not reschedule itself.
  function every(name, ms, fn) {
    stopTimer(name);
    const job = { id: null };
    const run = async () => {
      try { await fn(); } catch (e) { fail(e); }
      if (S.timers[name] === job) job.id = setTimeout(run, ms);
    };
    job.id = setTimeout(run, ms);
    S.timers[name] = job;
  }

  async function busy(button, fn) {
    if (button) button.disabled = true;
    try {
      await fn();
    } catch (e) {
      fail(e);
    } finally {
      if (button) button.disabled = false;
    }
  }

  function mmss(ms) {
    const total = Math.max(0, Math.ceil(ms / 1000));
    const m = Math.floor(total / 60);
    const s = total % 60;
    return `${m}:${String(s).padStart(2, '0')}`;
  }
  function when(iso) {
    const d = new Date(iso);
    return d.toLocaleString(undefined, {
      weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
    });
  }
  function eta(seconds) {
    if (!seconds) return 'you should be let in any moment';
    if (seconds < 60) return 'about a minute to go';
    return `about ${Math.round(seconds / 60)} min to go`;
  }

  // ------------------------------------------------------------ queue

  async function join() {
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
      entered = await api('POST', '/v1/queue/tokens', { body: { user_id: S.user }, auth: 'key' });
    } catch (e) {
      const stale = e instanceof ApiError && (e.code === 'USER_NOT_FOUND' || e.code === 'INVALID_CREDENTIALS');
      if (!stale) throw e;
      // A stored guest from another database, or without a valid key:
      // start over as a new one.
      S.user = null;
      S.key = null;
      storage.set('concert.user', null);
      storage.set('concert.key', null);
      return join();
    }
    S.token = entered.data.token;
    storage.set('concert.token', S.token);
    S.firstPosition = entered.data.position || null;
    storage.set('concert.first', S.firstPosition);
    onStatus(entered.data);
  }

  async function checkStatus() {
    const { data } = await api('GET', '/v1/queue/status');
    onStatus(data);
  }

  function onStatus(st) {
    if (st.status === 'waiting') {
      showWaiting(st);
      if (!('status' in S.timers)) every('status', WAITING_POLL_MS, checkStatus);
    } else if (st.status === 'active') {
      S.activeUntil = st.active_until ? Date.parse(st.active_until) : null;
      if (document.body.dataset.view !== 'booking') enterBooking();
    } else {
      expire();
    }
  }

  function showWaiting(st) {
    show('waiting');
    const position = st.position || 1;
    if (!S.firstPosition || position > S.firstPosition) {
      S.firstPosition = position;
      storage.set('concert.first', position);
    }
    const ahead = st.ahead !== undefined ? st.ahead : position - 1;
    $('position').textContent = String(position);
    $('ahead').textContent = ahead === 0 ? "You're next" : `${ahead} ${ahead === 1 ? 'person' : 'people'} ahead of you`;
    $('eta').textContent = eta(st.estimated_wait_seconds);
    const span = Math.max(S.firstPosition - 1, 1);
    const pct = S.firstPosition <= 1 ? 90 : Math.round(5 + 90 * ((S.firstPosition - position) / span));
    $('progress-bar').style.width = `${pct}%`;
    $('progress').setAttribute('aria-valuenow', String(pct));
  }

  function expire(message) {
    stopAll();
    S.token = null;
    storage.set('concert.token', null);
    S.hold = null;
    if (message) $('expired-why').textContent = message;
    show('expired');
  }

  function forgetPass() {
    stopAll();
    S.token = null;
    storage.set('concert.token', null);
    show('start');
  }

  // ---------------------------------------------------------- booking

  function enterBooking() {
    stopTimer('status');
    show('booking');
    S.concert = null;
    S.performance = null;
    S.selected = null;
    $('dates-card').hidden = true;
    $('seats-card').hidden = true;
    every('status', ACTIVE_POLL_MS, checkStatus);
    every('tick', 1000, async () => tick());
    tick();
    Promise.all([loadBalance(), loadConcerts(), loadHold()]).catch(fail);
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

  async function loadConcerts() {
    const { data } = await api('GET', '/v1/concerts', { auth: false });
    S.concerts = data;
    const box = $('concerts');
    box.replaceChildren();
    if (!data.length) box.textContent = 'No concerts on sale right now.';
    for (const concert of data) {
      const b = choice(concert.title, concert.artist);
      b.dataset.concertId = String(concert.concert_id);
      b.addEventListener('click', () => busy(null, () => selectConcert(concert)));
      box.append(b);
    }
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

  async function selectConcert(concert) {
    clearNotice();
    S.concert = concert;
    S.performance = null;
    stopTimer('seats');
    $('seats-card').hidden = true;
    markSelected($('concerts'), 'concertId', concert.concert_id);
    const { data } = await api('GET', `/v1/concerts/${concert.concert_id}/performances`);
    const box = $('dates');
    box.replaceChildren();
    if (!data.length) box.textContent = 'Every date of this concert is sold out.';
    for (const p of data) {
      const b = choice(when(p.starts_at), `${p.available_seats} of ${p.total_seats} seats left`);
      b.dataset.performanceId = String(p.performance_id);
      b.addEventListener('click', () => busy(null, () => selectPerformance(p)));
      box.append(b);
    }
    $('dates-card').hidden = false;
  }

  async function selectPerformance(p) {
    clearNotice();
    S.performance = p;
    S.selected = null;
    markSelected($('dates'), 'performanceId', p.performance_id);
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
    return S.hold && S.performance
      && S.hold.performance_id === S.performance.performance_id
      && S.hold.seat_number === seatNumber;
  }

  function renderSeats() {
    const box = $('seats');
    box.replaceChildren();
    const prices = new Map();
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
      prices.set(seat.price, (prices.get(seat.price) || []).concat(seat.seat_number));
    }
    $('prices').textContent = [...prices.keys()].sort((a, b) => b - a).map(won).join(' · ');
    const seat = S.seats.find((s) => s.seat_number === S.selected);
    const reserve = $('reserve');
    reserve.disabled = !seat;
    reserve.textContent = seat ? `Hold seat ${seat.seat_number} · ${won(seat.price)}` : 'Hold this seat';
    $('selection').textContent = seat
      ? `Seat ${seat.seat_number} is free.`
      : 'Pick an available seat.';
  }

  async function reserve() {
    const seat = S.seats.find((s) => s.seat_number === S.selected);
    if (!seat || !S.performance) return;
    clearNotice();
    const performance = S.performance;
    const concert = S.concert;
    notify(`Holding seat ${seat.seat_number}…`, 'info');
    const { data } = await api('POST', '/v1/reservations', {
      body: { performance_id: performance.performance_id, seat_number: seat.seat_number },
      idempotencyKey: randomKey(),
    });
    const result = await outcome(data.request_id);
    S.selected = null;
    if (result.status === 'succeeded') {
      clearNotice();
      setHold({ ...result.result, concert, performance });
      notify(`Seat ${seat.seat_number} is yours for now. Pay before the hold runs out.`, 'info');
    } else {
      fail(new ApiError(result.reason || 'INTERNAL_ERROR', 0));
      // Held elsewhere (another tab): show that hold so it can be paid.
      if (result.reason === 'HOLD_LIMIT') await loadHold();
    }
    await loadSeats();
  }

  async function loadHold() {
    const { data } = await api('GET', '/v1/reservations');
    const held = data.find((r) => r.status === 'held' && Date.parse(r.held_until) > now());
    if (held && !S.hold) setHold(held);
  }

  function setHold(hold) {
    const until = Date.parse(hold.held_until);
    S.hold = { ...hold, until, total: Math.max(until - now(), 1000) };
    const where = [
      hold.concert && hold.concert.title,
      hold.performance && when(hold.performance.starts_at),
    ].filter(Boolean).join(' · ') || `performance ${hold.performance_id}`;
    $('hold-what').textContent = `Seat ${hold.seat_number} · ${where} · ${won(hold.price)}`;
    $('pay').textContent = `Pay ${won(hold.price)}`;
    $('hold').hidden = false;
    renderHoldClock();
    if (S.seats.length) renderSeats();
  }

  function clearHold() {
    S.hold = null;
    $('hold').hidden = true;
    if (S.seats.length) renderSeats();
  }

  function renderHoldClock() {
    if (!S.hold) return;
    const left = S.hold.until - now();
    const clock = $('hold-countdown');
    clock.textContent = mmss(left);
    clock.classList.toggle('low', left < 60000);
    $('hold-bar').style.width = `${Math.max(0, Math.min(100, (100 * left) / S.hold.total))}%`;
    if (left <= 0) {
      clearHold();
      notify(explain('HOLD_EXPIRED'));
      $('notice').dataset.code = 'HOLD_EXPIRED';
      loadSeats().catch(fail);
    }
  }

  async function pay() {
    if (!S.hold) return;
    clearNotice();
    const hold = S.hold;
    notify('Paying…', 'info');
    const { data } = await api('POST', '/v1/payments', {
      body: { reservation_id: hold.reservation_id },
      idempotencyKey: randomKey(),
    });
    const result = await outcome(data.request_id);
    if (result.status === 'succeeded') {
      clearNotice();
      done(hold, result.result);
      return;
    }
    const reason = result.reason || 'INTERNAL_ERROR';
    if (['HOLD_EXPIRED', 'ALREADY_PAID', 'RESERVATION_NOT_FOUND', 'NOT_YOUR_RESERVATION'].includes(reason)) {
      clearHold();
      loadSeats().catch(() => {});
    }
    fail(new ApiError(reason, 0));
  }

  function done(hold, payment) {
    stopAll();
    S.token = null;
    storage.set('concert.token', null);
    S.hold = null;
    $('hold').hidden = true;
    $('balance').textContent = won(payment.balance_after);
    const where = [hold.concert && hold.concert.title, hold.performance && when(hold.performance.starts_at)]
      .filter(Boolean).join(', ');
    $('done-what').textContent = `Seat ${hold.seat_number}${where ? ` · ${where}` : ''} is yours.`;
    const rows = [
      ['Seat', String(hold.seat_number)],
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
  }

  async function charge(event) {
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

  // ------------------------------------------------------------- boot

  function boot() {
    $('join').addEventListener('click', () => busy($('join'), join));
    $('rejoin').addEventListener('click', () => busy($('rejoin'), join));
    $('again').addEventListener('click', () => busy($('again'), join));
    $('reserve').addEventListener('click', () => busy($('reserve'), reserve).then(renderSeats));
    $('pay').addEventListener('click', () => busy($('pay'), pay));
    $('charge-form').addEventListener('submit', (e) => busy($('charge'), () => charge(e)));
    $('notice-close').addEventListener('click', clearNotice);

    S.user = storage.get('concert.user');
    S.key = storage.get('concert.key');
    S.token = storage.get('concert.token');
    S.firstPosition = Number(storage.get('concert.first')) || null;
    if (S.token) {
      checkStatus().catch((e) => { show('start'); fail(e); });
    } else {
      show('start');
    }
  }

  boot();
})();
