// The keeper's dashboard in a real browser: Debian's chromium, driven by playwright-core,
// against a running `keeper sandbox` (the binary, as an operator starts it).
//
// Checks: the page loads with no console or page error under its Content-Security-Policy;
// it lists the sandbox's threads and their run counts grow without a reload; a thread's
// page shows what `keeper explain` says (the same explanation, through /api/thread);
// an action without the token is refused, and with it the page pauses and resumes the
// keeper; a screenshot of
// each page is written to target/browser-artifacts/.
//
// Needs: target/debug/keeper (or KEEPER_BIN) and chromium (or CHROMIUM_PATH);
// scripts/test.sh provides both.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../../..');
const KEEPER = process.env.KEEPER_BIN || join(root, 'target/debug/keeper');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARTIFACTS = process.env.BROWSER_ARTIFACTS || join(root, 'target/browser-artifacts');
const TOKEN = 'browser-test-token-0123456789abcdef';

let sandbox;
let base;
let browser;
let page;
const problems = [];

/** Starts `keeper sandbox` on a free port; resolves with the dashboard's base URL. */
function startSandbox() {
  const dir = mkdtempSync(join(tmpdir(), 'keeper-dashboard-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  const child = spawn(KEEPER, ['sandbox', '--seconds', '120', '--health-addr', '127.0.0.1:0',
    '--dashboard-token-file', tokenFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`no dashboard address after 120 s:\n${output}`)), 120_000);
    const read = (chunk) => {
      output += chunk;
      const found = /dashboard at (http:\/\/[0-9.:]+)\/dashboard/.exec(output);
      if (found) {
        clearTimeout(timer);
        resolvePromise({ child, base: found[1] });
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('exit', (code) => reject(new Error(`keeper sandbox exited (${code}) before serving:\n${output}`)));
  });
}

async function api(path) {
  const response = await fetch(`${base}${path}`);
  assert.equal(response.status, 200, `${path}: ${response.status}`);
  return response.json();
}

async function runsShown(address) {
  const text = await page.locator(`#threads tr[data-address="${address}"] td.runs`).textContent();
  return Number(text);
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  ({ child: sandbox, base } = await startSandbox());
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page: ${error.message}`));
});

after(async () => {
  await browser?.close();
  if (sandbox && sandbox.exitCode === null) {
    const exited = new Promise((done) => sandbox.on('exit', done));
    sandbox.kill('SIGTERM');
    await exited;
  }
});

test('the dashboard lists the sandbox threads and their runs grow without a reload', async () => {
  await page.goto(`${base}/dashboard`);
  await page.locator('body[data-loaded="true"]').waitFor({ timeout: 15_000 });
  const listed = await api('/api/threads');
  assert.ok(listed.matched >= 5, `the sandbox creates threads of every kind: ${listed.matched}`);
  await page.locator('#threads tbody tr[data-address]').nth(listed.matched - 1).waitFor();
  assert.equal(await page.locator('#threads tbody tr[data-address]').count(), listed.matched);
  assert.match(await page.locator('#leadership').textContent(), /leader/);
  assert.match(await page.locator('#mode').textContent(), /^mode /);

  // A periodic thread: its run count on the page grows while the page only polls.
  const periodic = listed.threads.find((t) => t.next_due.kind === 'time' && !t.paused);
  assert.ok(periodic, 'a thread due by time');
  const first = await runsShown(periodic.address);
  await page.waitForFunction(
    ([address, seen]) => {
      const cell = document.querySelector(`#threads tr[data-address="${address}"] td.runs`);
      return cell && Number(cell.textContent) > seen;
    },
    [periodic.address, first],
    { timeout: 60_000, polling: 500 },
  );
  await page.locator('#executions tbody tr td.state-confirmed').first().waitFor();
  await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  assert.deepEqual(problems, []);
});

test('a thread page shows what keeper explain says of it', async () => {
  const { threads } = await api('/api/threads');
  const durable = threads.find((t) => t.durable);
  assert.ok(durable, 'the sandbox has a durable thread');
  await page.goto(`${base}/dashboard#thread=${durable.address}`);
  await page.locator('#thread-section:not([hidden]) #verdict:not(:empty)').waitFor({ timeout: 15_000 });
  const explained = await api(`/api/thread/${durable.address}`);
  assert.equal(await page.locator('#thread-address').textContent(), durable.address);
  const facts = Object.fromEntries(await page.locator('#thread-facts tr').evaluateAll(
    (rows) => rows.map((r) => [r.cells[0].textContent, r.cells[1].textContent]),
  ));
  assert.equal(facts.owner, explained.owner);
  assert.equal(facts.trigger, explained.trigger);
  assert.equal(facts.durable, 'yes');
  assert.match(facts.nonce, new RegExp(explained.nonce.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  // The verdict moves with the chain; it is one of explain's own lines.
  assert.ok((await page.locator('#verdict').textContent()).length > 0);
  assert.ok(['due_now', 'not_due', 'in_flight', 'replay_pending'].includes(explained.verdict.kind), explained.verdict.kind);
  await page.locator('#thread-attempts li').first().waitFor();
  await page.screenshot({ path: join(ARTIFACTS, 'thread.png'), fullPage: true });
  assert.deepEqual(problems, []);
});

test('an action without the token is refused; with it the page pauses and resumes the keeper', async () => {
  await page.goto(`${base}/dashboard`);
  await page.locator('body[data-loaded="true"]').waitFor({ timeout: 15_000 });
  await page.locator('#token-form:not([hidden])').waitFor();
  const post = (token) => page.evaluate(async (bearer) => {
    const headers = { 'Content-Type': 'application/json' };
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    const response = await fetch('/api/dlq/999999/retry', { method: 'POST', headers, body: '{}' });
    return { status: response.status, body: await response.json() };
  }, token);
  const none = await post(null);
  assert.equal(none.status, 401);
  assert.match(none.body.error, /token/);
  assert.equal((await post('not-the-token-not-the-token-000')).status, 401);
  // The right token passes the checks and reaches the store, which has no such entry.
  const right = await post(TOKEN);
  assert.equal(right.status, 404, JSON.stringify(right.body));
  // From another origin (no page of ours), even the right token is refused.
  const foreign = await fetch(`${base}/api/dlq/999999/retry`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}`, Origin: 'http://evil.example' },
  });
  assert.equal(foreign.status, 403);
  // Through the page: without a token the pause is refused; with it the keeper pauses
  // (Maintenance, nothing sent) and resumes.
  await page.locator('#pause').click();
  await page.locator('#action-result', { hasText: 'refused: a valid token is needed' }).waitFor();
  await page.locator('#token').fill(TOKEN);
  await page.locator('#token-form button[type="submit"]').click();
  await page.locator('#pause', { hasText: 'Pause the keeper' }).click();
  await page.locator('#mode', { hasText: 'paused by an operator' }).waitFor({ timeout: 10_000 });
  assert.equal((await api('/api/overview')).mode, 'maintenance');
  await page.screenshot({ path: join(ARTIFACTS, 'paused.png') });
  await page.locator('#pause', { hasText: 'Resume the keeper' }).click();
  await page.locator('#mode', { hasText: /^mode / }).waitFor({ timeout: 10_000 });
  assert.equal((await api('/api/overview')).paused, false);
  // Nothing secret on the page, and the field that took the token was emptied.
  assert.ok(!(await page.content()).includes(TOKEN));
  assert.equal(await page.locator('#token').inputValue(), '');
  // Two failed fetches logged nothing but their refusals.
  const unexpected = problems.filter((p) => !/status of 40[14]/.test(p));
  assert.deepEqual(unexpected, []);
});
