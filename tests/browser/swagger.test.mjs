// The seed's first prediction, as a person makes it: open the Swagger UI at /api/v1.0/doc/, expand
// "POST /api/v1.0/predictions", "Try it out", "Execute" with {"data":{"ndarray":[[1,2,3,4]]}}, and read the
// model's answer on the page. Once against the server directly, once behind a reverse proxy that strips
// /seldon/ns/model/ as the ingress does. Headless Debian Chromium driven by playwright-core.
//
//   node --test tests/browser/swagger.test.mjs     (scripts/test-browser.sh installs, builds and runs it)
//
// Needs target/debug/oxserve-test-server (cargo build -p oxserve-tests --bin oxserve-test-server) and
// playwright-core in .cache/browser-test/node_modules (scripts/install-browser.sh). Saves screenshots under
// target/browser/.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(path.join(repo, '.cache', 'browser-test', 'package.json'));
const { chromium } = require('playwright-core');

const SERVER_BIN = process.env.OXSERVE_TEST_SERVER ?? path.join(repo, 'target', 'debug', 'oxserve-test-server');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(repo, 'target', 'browser');
const PREFIX = '/seldon/ns/model';
const SEED_BODY = '{"data":{"ndarray":[[1,2,3,4]]}}';
const STEP_MS = 20_000;

let tmp;
let server;
let serverLog = '';
let serverBase;
let proxy;
let proxyBase;
let context;

/** Resolves once `file` holds JSON, or rejects after `ms`. */
async function waitForJson(file, ms) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`${file} not written within ${ms} ms; server log:\n${serverLog}`);
}

/** A reverse proxy on loopback that serves `${PREFIX}/…` from `target` as `/…`, like the ingress's rewrite. */
function startProxy(target) {
  const upstream = new URL(target);
  const srv = http.createServer((req, res) => {
    if (!req.url.startsWith(`${PREFIX}/`)) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not under the prefix');
      return;
    }
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url.slice(PREFIX.length),
        headers: { ...req.headers, host: upstream.host },
        timeout: STEP_MS,
      },
      (reply) => {
        res.writeHead(reply.statusCode, reply.headers);
        reply.pipe(res);
      },
    );
    forward.on('timeout', () => forward.destroy(new Error('upstream timeout')));
    forward.on('error', (e) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(String(e));
    });
    req.pipe(forward);
  });
  return new Promise((resolve) => srv.listen(0, '127.0.0.1', () => resolve(srv)));
}

before(async () => {
  assert.ok(fs.existsSync(SERVER_BIN), `${SERVER_BIN} is missing: cargo build -p oxserve-tests --bin oxserve-test-server`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oxserve-browser-'));
  const portsFile = path.join(tmp, 'ports.json');
  const modelDir = path.join(tmp, 'model');
  fs.mkdirSync(modelDir);
  server = spawn(SERVER_BIN, [], {
    env: {
      ...process.env,
      PREDICTIVE_UNIT_PARAMETERS: JSON.stringify([{ name: 'model_uri', value: modelDir, type: 'STRING' }]),
      OXSERVE_HOST: '127.0.0.1',
      PREDICTIVE_UNIT_HTTP_SERVICE_PORT: '0',
      PREDICTIVE_UNIT_GRPC_SERVICE_PORT: '0',
      PREDICTIVE_UNIT_METRICS_SERVICE_PORT: '0',
      OXSERVE_PORTS_FILE: portsFile,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.on('data', (d) => (serverLog += d));
  server.stderr.on('data', (d) => (serverLog += d));
  const ports = await waitForJson(portsFile, 30_000);
  serverBase = `http://127.0.0.1:${ports.http}`;
  proxy = await startProxy(serverBase);
  proxyBase = `http://127.0.0.1:${proxy.address().port}${PREFIX}`;
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM,
    headless: true,
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
    viewport: { width: 1280, height: 1000 },
    timeout: 60_000,
  });
});

after(async () => {
  await context?.close().catch(() => {});
  proxy?.close();
  if (server && server.exitCode === null) {
    server.kill('SIGTERM');
    await new Promise((resolve) => {
      const timer = setTimeout(() => {
        server.kill('SIGKILL');
        resolve();
      }, 5_000);
      server.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/**
 * Opens the UI at `docUrl`, runs the seed's prediction through "Try it out" → "Execute", checks the answer and
 * where it was sent, and saves a screenshot.
 */
async function seedPrediction(docUrl, expectedRequestUrl, screenshot) {
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_MS);
  const origin = new URL(docUrl).origin;
  const outside = [];
  const failed = [];
  page.on('request', (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) outside.push(r.url());
  });
  page.on('requestfailed', (r) => failed.push(`${r.url()}: ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) failed.push(`${r.url()}: HTTP ${r.status()}`);
  });
  try {
    const opened = await page.goto(docUrl, { waitUntil: 'load' });
    assert.equal(opened.status(), 200, `GET ${docUrl}`);
    assert.ok(page.url().endsWith('/api/v1.0/doc/'), `the page ends at the slash form, got ${page.url()}`);

    const path_ = page.locator('.opblock-summary-path[data-path="/api/v1.0/predictions"]');
    const block = page.locator('.opblock.opblock-post', { has: path_ });
    await block.locator('.opblock-summary').first().click();
    await block.getByRole('button', { name: 'Try it out' }).click();
    const body = block.locator('textarea.body-param__text');
    await body.fill(SEED_BODY);
    await block.getByRole('button', { name: 'Execute' }).click();

    const live = block.locator('.live-responses-table');
    await live.locator('.response-col_status', { hasText: '200' }).first().waitFor();
    const answer = await live.locator('.response-col_description pre, .response-col_description code').first().innerText();
    assert.match(answer, /"t:0"/, `the answer names its columns t:0…: ${answer}`);
    assert.match(answer, /"ndarray"\s*:\s*\[\s*\[\s*-?\d+(\.\d+)?(e-?\d+)?/, `the answer holds numbers: ${answer}`);
    const requestUrl = await block.locator('.request-url pre').first().innerText();
    assert.equal(requestUrl.trim(), expectedRequestUrl);

    await live.scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(ARTIFACTS, screenshot) });
    assert.deepEqual(outside, [], 'the page fetches nothing from outside the server');
    assert.deepEqual(failed, [], 'no request of the page fails');
  } catch (e) {
    await page.screenshot({ path: path.join(ARTIFACTS, `failed-${screenshot}`), fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await page.close();
  }
}

test('the seed predicts from the Swagger UI, served directly', { timeout: 90_000 }, async () => {
  await seedPrediction(`${serverBase}/api/v1.0/doc`, `${serverBase}/api/v1.0/predictions`, 'swagger-direct.png');
});

test('the seed predicts from the Swagger UI behind a prefix-stripping proxy', { timeout: 90_000 }, async () => {
  await seedPrediction(`${proxyBase}/api/v1.0/doc/`, `${proxyBase}/api/v1.0/predictions`, 'swagger.png');
});
