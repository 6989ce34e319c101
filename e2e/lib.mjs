// What the browser tests share: the API client, awaiting a condition, a
// command's outcome, and a headless Chromium with a profile of its own.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const BASE = process.env.E2E_BASE_URL;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ARTIFACTS = path.join(HERE, 'artifacts');
export const STEP_MS = 30_000;

// One API call; `token` is any bearer (a queue token, a user key, the admin token).
export async function call(method, route, { token, body, key } = {}) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  if (key) headers['idempotency-key'] = key;
  const response = await fetch(`${BASE}${route}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  return { status: response.status, data, headers: response.headers };
}

// Resolves with fn()'s first truthy value, checking every 200 ms.
export async function until(what, fn, limitMs = STEP_MS) {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// The final status of a command, long-polled.
export async function outcome(token, requestId) {
  for (let i = 0; i < 6; i += 1) {
    const r = await call('GET', `/v1/requests/${requestId}?wait_ms=10000`, { token });
    assert.equal(r.status, 200, JSON.stringify(r.data));
    if (r.data.status !== 'pending') return r.data;
  }
  throw new Error(`request ${requestId} still pending`);
}

// Waits for the API, then starts headless Chromium on a fresh profile. Page
// errors and console errors are collected in `errors`; close() ends it all.
export async function openBrowser() {
  assert.ok(BASE, 'set E2E_BASE_URL (scripts/e2e does)');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await until('the API to be ready', async () => {
    try { return (await call('GET', '/readyz')).status === 200; } catch { return false; }
  }, 60_000);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'concert-e2e-profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1000, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(STEP_MS);
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  const close = async () => {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  };
  return { context, page, errors, close };
}

// A registered user with an entry in `concertId`'s room, once admitted.
export async function admittedUser(concertId) {
  const user = (await call('POST', '/v1/users', { body: {} })).data;
  const entered = await call('POST', '/v1/queue/tokens', {
    token: user.user_key,
    body: { user_id: user.user_id, concert_id: concertId },
  });
  assert.equal(entered.status, 201, JSON.stringify(entered.data));
  const token = entered.data.token;
  await until('a user to be admitted', async () =>
    (await call('GET', '/v1/queue/status', { token })).data.status === 'active');
  return { ...user, token };
}
