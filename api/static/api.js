// The waiting-room page, part 1 of 4: shared state, the API client, the
// messages for every rejection code, views, notices and timers.
// Plain JS modules, no build step, talking only to this API.

export const $ = (id) => document.getElementById(id);
const KRW = new Intl.NumberFormat('ko-KR', { style: 'currency', currency: 'KRW' });
export const won = (n) => KRW.format(n);

// What each problem `code` and rejection `reason` means to a person.
const MESSAGES = {
  SEAT_TAKEN: 'Someone else just took that seat. Please pick another one.',
  HOLD_LIMIT: 'You already hold as many seats as you may at once. Pay for the seats you hold, or let a hold run out first.',
  TICKET_LIMIT: 'That would give you more tickets for this date than one buyer may own. Pay for fewer seats of it.',
  HOLD_EXPIRED: 'Your hold ran out before the payment went through. Hold a seat again.',
  ALREADY_PAID: 'This seat is already paid for.',
  INSUFFICIENT_BALANCE: 'Your balance is too low for this seat. Add funds below, then pay again.',
  TOKEN_NOT_ACTIVE: 'Your booking window has closed. Join the waiting room again to continue.',
  TOKEN_NOT_FOR_CONCERT: 'Your booking window is for a different concert. To book this one, go back to the concerts and join its own waiting room.',
  INVALID_TOKEN: 'Your waiting-room pass is no longer valid. Please join again.',
  INVALID_CREDENTIALS: 'This browser lost its guest key. Join again as a new guest.',
  QUEUE_ENTRY_NOT_FOUND: 'You have no place in that waiting room any more. Please join it again.',
  RATE_LIMITED: 'Too many attempts from your network. Please wait a moment and try again.',
  BALANCE_LIMIT: 'That would lift your balance above ₩1,000,000,000. Add a smaller amount.',
  RESERVATION_NOT_FOUND: 'That reservation no longer exists. Hold a seat again.',
  NOT_YOUR_RESERVATION: 'That reservation belongs to someone else.',
  ALREADY_CANCELLED: 'That ticket is already cancelled.',
  SEATS_AVAILABLE: 'A seat of this date is free right now: pick it in the seat map instead of waiting.',
  REFUND_CLOSED: 'The refund window for this show has closed: it starts too soon to cancel.',
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
export const explain = (code, detail) =>
  MESSAGES[code] || detail || `Something went wrong (${code}).`;

export class ApiError extends Error {
  constructor(code, status, detail) {
    super(explain(code, detail));
    this.code = code;
    this.status = status;
  }
}

// ------------------------------------------------------------ state

export const S = {
  user: null,
  key: null,
  token: null,
  concert: null, // the concert whose room the page is in: {concert_id, title, artist, sale_opens_at}
  concerts: [],
  status: null, // the last queue status seen
  firstPosition: null,
  activeUntil: null,
  paying: false,
  dates: [],
  performance: null,
  seats: [],
  selected: null,
  holds: [], // this concert's live holds, paid together
  clockSkewMs: 0,
  timers: {},
  stream: null, // the AbortController of the open event stream
};

// What queue.js does when a pass turns out to be over or unknown (set there).
export const hooks = { expire() {}, forgetPass() {} };

export const storage = {
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

export const now = () => Date.now() + S.clockSkewMs;

// The server's clock decides holds and openings; keep ours in step (to the second).
export function syncClock(response) {
  const date = Date.parse(response.headers.get('date') || '');
  if (Number.isNaN(date)) return;
  const skew = date - Date.now();
  if (Math.abs(skew - S.clockSkewMs) > 1500) S.clockSkewMs = skew;
}

export function randomKey() {
  if (window.crypto && typeof window.crypto.randomUUID === 'function') {
    return window.crypto.randomUUID();
  }
  const bytes = new Uint8Array(16);
  window.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// -------------------------------------------------------------- API

// auth: true sends the queue token, 'key' the guest's user key, { token }
// that token (an offer is paid with any of the user's), false nothing.
export async function api(method, path, { body, auth = true, idempotencyKey } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let credential = null;
  if (auth === 'key') credential = S.key;
  else if (auth && typeof auth === 'object') credential = auth.token;
  else if (auth) credential = S.token;
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
  syncClock(response);
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
export async function outcome(requestId, auth = true) {
  for (let i = 0; i < 9; i += 1) {
    const { data } = await api('GET', `/v1/requests/${encodeURIComponent(requestId)}?wait_ms=10000`, { auth });
    if (data.status !== 'pending') return data;
  }
  throw new ApiError('TIMEOUT', 0);
}

// ------------------------------------------------------------ views

const VIEWS = ['start', 'waiting', 'booking', 'done', 'expired'];

export function show(view) {
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
  document.body.dataset.view = view;
  $('who').hidden = !S.user || view === 'start';
  $('balance-box').hidden = view !== 'booking' && view !== 'done';
  if (S.user) $('who-user').textContent = `Guest ${S.user.slice(0, 8)}`;
}

let noticeTimer = null;
export function notify(message, kind = 'error') {
  const box = $('notice');
  box.classList.toggle('info', kind === 'info');
  box.dataset.kind = kind;
  $('notice-text').textContent = message;
  box.hidden = false;
  clearTimeout(noticeTimer);
  if (kind === 'info') noticeTimer = setTimeout(() => { box.hidden = true; }, 5000);
}
export function clearNotice() {
  $('notice').hidden = true;
  $('notice').dataset.code = '';
}
export function fail(error) {
  const code = error instanceof ApiError ? error.code : 'INTERNAL_ERROR';
  notify(error instanceof ApiError ? error.message : explain('INTERNAL_ERROR'));
  $('notice').dataset.code = code;
  if (code === 'TOKEN_NOT_ACTIVE') hooks.expire(error.message);
  else if (['INVALID_TOKEN', 'USER_NOT_FOUND', 'QUEUE_ENTRY_NOT_FOUND'].includes(code)) hooks.forgetPass();
}

// ----------------------------------------------------------- timers

export function stopTimer(name) {
  const job = S.timers[name];
  if (job) clearTimeout(job.id);
  delete S.timers[name];
}
// Stops every timer and closes the event stream.
export function stopAll() {
  for (const name of Object.keys(S.timers)) stopTimer(name);
  if (S.stream) S.stream.abort();
  S.stream = null;
}
// Runs `fn` every `ms` until stopped or replaced; a run that finishes after
// its job was replaced does not reschedule itself.
export function every(name, ms, fn) {
  stopTimer(name);
  const job = { id: null };
  const run = async () => {
    try { await fn(); } catch (e) { fail(e); }
    if (S.timers[name] === job) job.id = setTimeout(run, ms);
  };
  job.id = setTimeout(run, ms);
  S.timers[name] = job;
}

export async function busy(button, fn) {
  if (button) button.disabled = true;
  try {
    await fn();
  } catch (e) {
    fail(e);
  } finally {
    if (button) button.disabled = false;
  }
}

// ------------------------------------------------------------ words

export function mmss(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${m}:${String(s).padStart(2, '0')}`;
}
// A countdown to a sale opening: mm:ss, with hours and days in front when far off.
export function countdown(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const pad = (n) => String(n).padStart(2, '0');
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const clock = `${pad(m)}:${pad(s)}`;
  if (d) return `${d}d ${pad(h)}:${clock}`;
  return h ? `${h}:${clock}` : clock;
}
export function when(iso) {
  const d = new Date(iso);
  return d.toLocaleString(undefined, {
    weekday: 'short', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}
export function eta(seconds) {
  if (!seconds) return 'you should be let in any moment';
  if (seconds < 60) return 'about a minute to go';
  return `about ${Math.round(seconds / 60)} min to go`;
}
