// A burst of arrivals from distinct users: N users with keys written into
// Postgres (key hashes), then N POST /v1/queue/tokens with C in flight.
import crypto from 'node:crypto';
import fs from 'node:fs';
const [base, n, c, concert, csvOut] = process.argv.slice(2);
const N = Number(n), C = Number(c);
if (csvOut) {
  const users = [];
  let csv = '';
  for (let i = 0; i < N; i++) {
    const key = 'uk_' + crypto.randomBytes(32).toString('base64url');
    const id = crypto.randomUUID();
    const hash = crypto.createHash('sha256').update(key).digest('hex');
    users.push([id, key]);
    csv += `${id},\\x${hash}\n`;
  }
  fs.writeFileSync(csvOut, csv);
  fs.writeFileSync(csvOut + '.json', JSON.stringify(users));
  process.exit(0);
}
const users = JSON.parse(fs.readFileSync('/tmp/arr/users.csv.json'));
let next = 0, ok = 0, bad = 0;
const lat = [];
const t0 = performance.now();
async function worker() {
  while (next < users.length) {
    const [id, key] = users[next++];
    const s = performance.now();
    const r = await fetch(`${base}/v1/queue/tokens`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ user_id: id, concert_id: Number(concert) }),
    });
    await r.arrayBuffer();
    lat.push(performance.now() - s);
    if (r.status === 201) ok++; else bad++;
  }
}
await Promise.all(Array.from({ length: C }, worker));
const secs = (performance.now() - t0) / 1000;
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))].toFixed(1);
console.log(JSON.stringify({ arrivals: ok, refused: bad, arrivals_per_s: Math.round(ok / secs), p50_ms: q(0.5), p99_ms: q(0.99) }));
