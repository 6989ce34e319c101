// The waiting-room page, part 5: the buyer's tickets (GET /v1/tickets) with
// a Cancel button each. Cancelling is a command like a payment: sent with
// the user's key (the queue token expired with the payment), decided by a
// worker, and a paid seat is refunded while the refund window is open.

import { $, S, ApiError, api, busy, fail, notify, outcome, won } from './api.js';

const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

// Shows the buyer's tickets under the receipt.
export async function loadTickets() {
  const list = $('tickets');
  const { data } = await api('GET', '/v1/tickets', { auth: 'key' });
  list.replaceChildren();
  $('tickets-box').hidden = data.length === 0;
  for (const t of data) list.append(ticketItem(t));
}

function ticketItem(t) {
  const li = document.createElement('li');
  li.className = 'ticket';
  li.dataset.reservation = t.reservation_id;
  li.dataset.status = t.status;
  const what = document.createElement('span');
  const when = DATE.format(new Date(t.starts_at));
  what.textContent = `${t.title} — ${t.artist} · ${when} · Seat ${t.seat_number} · ${won(t.price)}`;
  li.append(what);
  if (t.status === 'refunded') {
    const tag = document.createElement('span');
    tag.className = 'fine';
    tag.textContent = ' Refunded';
    li.append(tag);
  } else {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'secondary cancel-ticket';
    button.textContent = 'Cancel for a refund';
    button.addEventListener('click', () => busy(button, () => cancel(t)).catch(fail));
    li.append(button);
  }
  return li;
}

async function cancel(ticket) {
  const { data } = await api('POST', `/v1/reservations/${encodeURIComponent(ticket.reservation_id)}/cancel`, {
    auth: 'key',
  });
  const result = await outcome(data.request_id, 'key');
  if (result.status !== 'succeeded') throw new ApiError(result.reason || 'INTERNAL_ERROR', 0);
  const { refund, balance_after: balance } = result.result;
  $('balance').textContent = won(balance);
  notify(`Cancelled: ${won(refund)} is back on your balance (now ${won(balance)}). The seat is on sale again.`, 'info');
  await loadTickets();
}

// The receipt's tickets, if this browser still has its key.
export function showTickets() {
  if (!S.key) return;
  loadTickets().catch(fail);
}
