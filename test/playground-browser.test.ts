import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createChatFixture, type ChatFixture } from './helpers/fake-upstream.js';
import { ensurePlaygroundBuilt } from './helpers/playground.js';

/**
 * The playground in a real browser (Debian's headless Chromium driven by playwright-core)
 * against the real server and the fake model server over HTTP. Controls are found by role
 * and accessible name, as a screen reader finds them. Each test has its own user and browser
 * context. Screenshots of every step go to SHOTS (printed).
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SHOTS = path.resolve(import.meta.dirname, '..', 'test-results', 'playground');
const KB = 1024;

let fixture: ChatFixture;
let baseUrl: string;
let browser: Browser;

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium is not installed at ${CHROMIUM}: run \`apt-get update && apt-get install -y chromium\` (.ci/run does), or set CHROMIUM_PATH`);
  }
  await ensurePlaygroundBuilt();
  await rm(SHOTS, { recursive: true, force: true });
  await mkdir(SHOTS, { recursive: true });
  console.log(`# playground screenshots: ${SHOTS}`);
  fixture = await createChatFixture({ env: { OPENAI_MAX_RETRIES: '0' } });
  baseUrl = await fixture.t.listen();
  browser = await chromium.launch({ executablePath: CHROMIUM });
});
after(async () => {
  await browser?.close();
  await fixture?.close();
});

interface Session {
  context: BrowserContext;
  page: Page;
  apiKey: string;
  dialogs: string[];
  shot(name: string): Promise<void>;
  /** The API as this user, to check what the server stored. */
  api(url: string): Promise<any>;
}

/** A fresh user and browser context; every dialog the page opens is recorded (and dismissed). */
async function session(name: string): Promise<Session> {
  const { apiKey } = await fixture.t.createUser(name);
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  const dialogs: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  let step = 0;
  return {
    context,
    page,
    apiKey,
    dialogs,
    shot: async (label) => {
      await page.screenshot({ path: path.join(SHOTS, `${name}-${String(++step).padStart(2, '0')}-${label}.png`), fullPage: true });
    },
    api: async (url) => (await fixture.t.request({ method: 'GET', url, key: apiKey })).json(),
  };
}

async function connect(s: Session, url = baseUrl): Promise<void> {
  await s.page.goto(url);
  await s.page.getByRole('textbox', { name: 'API key' }).fill(s.apiKey);
  await s.page.getByRole('button', { name: 'Connect' }).click();
  await s.page.getByRole('list', { name: 'Conversations' }).waitFor({ state: 'attached' });
  await s.page.getByRole('status').getByText('Connected').waitFor();
}

async function send(page: Page, text: string): Promise<void> {
  await page.getByRole('textbox', { name: 'Message' }).fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

/**
 * A TCP proxy in front of the server whose connections the test can cut, as a network does:
 * the browser sees its stream break, the server sees its client go.
 */
async function cuttableProxy(target: string): Promise<{ url: string; connections: number; cut(): void; close(): Promise<void> }> {
  const { port } = new URL(target);
  const open = new Set<net.Socket>();
  let connections = 0;
  const server = net.createServer((client) => {
    connections += 1;
    const upstream = net.connect(Number(port), '127.0.0.1');
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        open.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    get connections() {
      return connections;
    },
    cut: () => open.forEach((socket) => socket.destroy()),
    close: async () => {
      open.forEach((socket) => socket.destroy());
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The last assistant message: its text once no reply is streaming any more. */
const lastReply = (page: Page) => page.getByRole('article', { name: 'Assistant' }).last();
async function waitForReplyEnd(page: Page): Promise<void> {
  await page.locator('article[aria-label="Assistant"][aria-busy="false"]').last().waitFor();
  await page.locator('article[aria-busy="true"]').waitFor({ state: 'detached' });
}

/** Polls the API until `check` holds (the server stores a cut-off reply when it sees the disconnect). */
async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) assert.fail(`${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface FirstLoad {
  files: string[];
  transferredBytes: number;
  decodedBytes: number;
  /** When the app had rendered (its performance mark), from the navigation's start. */
  readyMs: number;
  htmlMs: number;
  scriptMs: number;
}

/** Loads the page and reads the browser's own timings and sizes (Resource Timing). */
async function firstLoad(page: Page): Promise<FirstLoad> {
  await page.goto(baseUrl);
  await page.getByRole('textbox', { name: 'API key' }).waitFor();
  // The Markdown chunk is fetched after the first render: part of the first load too.
  await page.waitForLoadState('networkidle');
  return page.evaluate(() => {
    // Runs in the page: its globals, which this file's (Node) types do not know.
    type Timing = { name: string; transferSize: number; decodedBodySize: number; responseEnd: number; startTime: number };
    const { performance } = globalThis as unknown as { performance: { getEntriesByType(type: string): Timing[]; getEntriesByName(name: string): Timing[] } };
    const navigation = performance.getEntriesByType('navigation')[0]!;
    const resources = performance.getEntriesByType('resource');
    const all = [navigation, ...resources];
    return {
      files: all.map((e) => new URL(e.name).pathname),
      transferredBytes: all.reduce((sum, e) => sum + e.transferSize, 0),
      decodedBytes: all.reduce((sum, e) => sum + e.decodedBodySize, 0),
      readyMs: performance.getEntriesByName('playground-ready')[0]?.startTime ?? Number.NaN,
      htmlMs: navigation.responseEnd,
      scriptMs: resources.find((e) => /\/index-[^/]*\.js$/.test(e.name))?.responseEnd ?? Number.NaN,
    };
  });
}

describe('the playground in headless Chromium', () => {
  test('first load: what is transferred (compressed) and when the page is usable', async () => {
    // The first page a freshly started browser renders pays for starting its renderer: the
    // browser's cost, not the page's. One throwaway load first, then LOADS loads, each in a new
    // context whose cache is empty as a first visit's is; the machine is shared and noisy, so
    // the median is reported beside the fastest and slowest.
    const LOADS = 5;
    const warmUp = await browser.newContext();
    await (await warmUp.newPage()).goto(baseUrl);
    await warmUp.close();
    const s = await session('first-load');
    await s.context.close();
    const loads: FirstLoad[] = [];
    let encodings = new Map<string, string>();
    for (let i = 0; i < LOADS; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      encodings = new Map();
      page.on('response', (response) => encodings.set(new URL(response.url()).pathname, response.headers()['content-encoding'] ?? 'none'));
      loads.push(await firstLoad(page));
      if (i === 0) await page.screenshot({ path: path.join(SHOTS, 'first-load-01-loaded.png') });
      await context.close();
    }
    const load = loads[0]!;
    // The same files as a gzip-only client gets them (the browser above chose brotli where it could).
    let gzipBytes = 0;
    for (const file of load.files) {
      const res = await fixture.t.request({ method: 'GET', url: file, headers: { 'accept-encoding': 'gzip' } });
      assert.equal(res.headers['content-encoding'], 'gzip', file);
      gzipBytes += res.rawPayload.length;
    }
    const ready = loads.map((l) => Math.round(l.readyMs)).sort((a, b) => a - b);
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const report = {
      files: load.files,
      encodings: Object.fromEntries(encodings),
      transferredKB: +(load.transferredBytes / KB).toFixed(1),
      gzipBodiesKB: +(gzipBytes / KB).toFixed(1),
      uncompressedKB: +(load.decodedBytes / KB).toFixed(1),
      usableMs: { median: median(ready), min: ready[0], max: ready.at(-1), all: ready },
      htmlMsMedian: Math.round(median(loads.map((l) => l.htmlMs))),
      scriptMsMedian: Math.round(median(loads.map((l) => l.scriptMs))),
    };
    console.log(
      `# playground first load: ${report.transferredKB} KB transferred (${report.uncompressedKB} KB uncompressed, ` +
        `${load.files.length} files; gzip-only bodies ${report.gzipBodiesKB} KB); usable after ${report.usableMs.median} ms median ` +
        `of ${LOADS} (${report.usableMs.min}–${report.usableMs.max} ms; HTML in ${report.htmlMsMedian} ms, main script in ` +
        `${report.scriptMsMedian} ms); encodings ${JSON.stringify(report.encodings)}`,
    );
    await writeFile(path.join(SHOTS, 'first-load.json'), JSON.stringify(report, null, 2));
    assert.ok(load.files.some((f) => /\/index-.*\.js$/.test(f)) && load.files.some((f) => f.endsWith('.css')), 'the bundle and stylesheet loaded');
    assert.ok(load.files.some((f) => /\/markdown-.*\.js$/.test(f)), 'the Markdown renderer loaded');
    for (const file of load.files.filter((f) => f.startsWith('/assets/'))) {
      assert.match(encodings.get(file) ?? '', /^(gzip|br)$/, `${file} was sent compressed`);
    }
    assert.ok(load.transferredBytes > 0 && load.transferredBytes < 150 * KB, `first load ${report.transferredKB} KB, budget 150 KB`);
    assert.ok(gzipBytes < 150 * KB, `first load with gzip ${report.gzipBodiesKB} KB, budget 150 KB`);
    assert.ok(loads.every((l) => Number.isFinite(l.readyMs)), 'the app marked itself ready');
  });

  test('a wrong key shows the API 401 message, and nothing is kept', async () => {
    const s = await session('wrong-key');
    await s.page.goto(baseUrl);
    await s.page.getByRole('textbox', { name: 'API key' }).fill('not-a-key');
    await s.page.getByRole('button', { name: 'Connect' }).click();
    const alert = s.page.getByRole('alert');
    await alert.getByText('Missing or unknown API key').waitFor();
    assert.match(await alert.innerText(), /401 unauthorized/);
    assert.equal(await s.page.getByRole('list', { name: 'Conversations' }).count(), 0, 'not connected');
    assert.equal(await s.page.evaluate(() => (globalThis as any).sessionStorage.getItem('playground.apiKey')), null);
    await s.shot('401');
    await s.context.close();
  });

  test('connect, send a message and watch the reply stream in; it is listed and reopens with its messages', async () => {
    const s = await session('chat');
    await connect(s);
    await s.shot('connected');
    assert.equal(await s.page.evaluate(() => (globalThis as any).sessionStorage.getItem('playground.apiKey')), s.apiKey, 'the key is kept in sessionStorage');

    await send(s.page, 'alpha beta gamma delta epsilon zeta eta theta iota kappa [[chunk-delay:80]]');
    // Part of the reply is on the page while the rest is still coming.
    await s.page.waitForFunction(() => {
      const article = (globalThis as any).document.querySelector('article[aria-label="Assistant"][aria-busy="true"]');
      const text = article?.textContent ?? '';
      return text.includes('You said: alpha') && !text.includes('kappa');
    });
    assert.equal(await s.page.getByRole('button', { name: 'Stop' }).isEnabled(), true, 'Stop is offered while streaming');
    await s.shot('streaming');
    await waitForReplyEnd(s.page);
    const reply = lastReply(s.page);
    assert.equal(await reply.locator('.markdown').innerText(), 'You said: alpha beta gamma delta epsilon zeta eta theta iota kappa');
    assert.match(await reply.innerText(), /Tokens: \d+ prompt · 12 completion · \d+ total/, 'token usage of the turn');
    assert.equal(await s.page.getByRole('button', { name: 'Stop' }).isEnabled(), false);
    await s.shot('streamed');

    // A second turn in the same conversation, then the list: one conversation, reopened from it.
    await send(s.page, 'second turn');
    await waitForReplyEnd(s.page);
    const items = s.page.getByRole('list', { name: 'Conversations' }).getByRole('listitem');
    await items.first().waitFor();
    assert.equal(await items.count(), 1, 'both turns went to one conversation');
    const stored = (await s.api('/conversations')).data;
    assert.equal(stored.length, 1);
    assert.match(await items.first().innerText(), /alpha beta/, 'listed by its title');

    await s.page.getByRole('button', { name: 'New conversation' }).click();
    assert.equal(await s.page.getByRole('article').count(), 0);
    await items.first().getByRole('button').click();
    await s.page.getByRole('article', { name: 'Assistant' }).nth(1).waitFor();
    const texts = await s.page.getByRole('article').allInnerTexts();
    assert.equal(texts.length, 4);
    assert.match(texts[0]!, /alpha beta/);
    assert.match(texts[1]!, /You said: alpha beta gamma delta epsilon zeta eta theta iota kappa/);
    assert.match(texts[3]!, /You said: second turn/);
    await s.shot('reopened');
    await s.context.close();
  });

  test('Stop cuts a slow stream: the reply is marked incomplete, on the page and as the server stored it', async () => {
    const s = await session('stop');
    await connect(s);
    await send(s.page, '[[words:2000]] [[chunk-delay:50]]');
    await s.page.locator('article[aria-busy="true"]', { hasText: 'w3 ' }).waitFor();
    await s.page.getByRole('button', { name: 'Stop' }).click();
    await lastReply(s.page).getByText('incomplete', { exact: true }).waitFor();
    assert.match(await lastReply(s.page).innerText(), /Stopped/);
    await s.shot('stopped');

    const conversation = (await s.api('/conversations')).data[0];
    assert.ok(conversation, 'the conversation was stored');
    const messages = await eventually(
      () => s.api(`/conversations/${conversation.id}/messages`),
      (page) => page.data.some((m: any) => m.role === 'assistant'),
      'the cut-off reply is stored',
    );
    const stored = messages.data.find((m: any) => m.role === 'assistant');
    assert.equal(stored.status, 'incomplete');
    assert.match(stored.content, /^w1 w2 w3/);
    assert.ok(!stored.content.includes('w2000'), 'cut off, not finished');
    await fixture.fake.waitFor((c) => c.abortedStreams >= 1);

    // Reopened, the stored reply shows its marking.
    await s.page.getByRole('button', { name: 'New conversation' }).click();
    await s.page.getByRole('list', { name: 'Conversations' }).getByRole('button').first().click();
    await lastReply(s.page).getByText('incomplete', { exact: true }).waitFor();
    await s.shot('reopened-incomplete');
    await s.context.close();
  });

  test('a dropped connection is resumed from the last event received: the reply arrives whole, each word once', async () => {
    const s = await session('resume');
    const proxy = await cuttableProxy(baseUrl);
    try {
      await connect(s, proxy.url);
      await send(s.page, '[[words:40]] [[chunk-delay:60]]');
      await s.page.locator('article[aria-busy="true"]', { hasText: 'w5 ' }).waitFor();
      const before = proxy.connections;
      proxy.cut();
      await lastReply(s.page).getByText('Resumed after a dropped connection').waitFor();
      await s.shot('resumed');
      await waitForReplyEnd(s.page);
      const words = Array.from({ length: 40 }, (_, i) => `w${i + 1}`).join(' ');
      assert.equal(await lastReply(s.page).locator('.markdown').innerText(), words, 'nothing lost, nothing repeated');
      assert.equal(await lastReply(s.page).getByText('incomplete', { exact: true }).count(), 0);
      assert.ok(proxy.connections > before, 'the page reconnected');
      const conversation = (await s.api('/conversations')).data[0];
      const stored = (await s.api(`/conversations/${conversation.id}/messages`)).data.find((m: any) => m.role === 'assistant');
      assert.deepEqual([stored.status, stored.content], ['complete', words], 'the server kept generating and stored it whole');
      await s.shot('resumed-done');
    } finally {
      await s.context.close();
      await proxy.close();
    }
  });

  test('with Agent on, the tool call and its result appear as they happen, and the task panel shows the task', async () => {
    const s = await session('agent');
    await connect(s);
    const agent = s.page.getByRole('switch', { name: 'Agent' });
    assert.equal(await agent.getAttribute('aria-checked'), 'false');
    await agent.click();
    assert.equal(await agent.getAttribute('aria-checked'), 'true');
    await send(s.page, '[[tool:create_task {"title":"Agent-made task","priority":"high"}]] make a task');
    const call = s.page.getByRole('group', { name: 'Tool call create_task' });
    await call.waitFor();
    await waitForReplyEnd(s.page);
    const callText = await call.innerText();
    assert.match(callText, /"title": "Agent-made task"/, 'the arguments');
    assert.match(callText, /Result[\s\S]*"status": "pending"/, 'the result');
    assert.match(await lastReply(s.page).innerText(), /Done: /);
    await s.page.getByRole('list', { name: 'Tasks' }).getByText('Agent-made task').waitFor();
    const tasks = (await s.api('/tasks?status=all')).data;
    assert.deepEqual(
      tasks.map((t: any) => [t.title, t.priority]),
      [['Agent-made task', 'high']],
    );
    await s.shot('agent');

    // Reopened, the stored turn shows the same call.
    await s.page.getByRole('button', { name: 'New conversation' }).click();
    await s.page.getByRole('list', { name: 'Conversations' }).getByRole('button').first().click();
    await s.page.getByRole('group', { name: 'Tool call create_task' }).waitFor();
    await s.shot('agent-reopened');
    await s.context.close();
  });

  test('the tasks panel creates, completes and deletes tasks; semantic search finds one made there', async () => {
    const s = await session('tasks');
    await connect(s);
    const tasks = s.page.getByRole('list', { name: 'Tasks' });
    for (const title of ['Water the tomato plants in the garden', 'File the quarterly tax return', 'Book flights to Lisbon']) {
      await s.page.getByRole('textbox', { name: 'Task title' }).fill(title);
      await s.page.getByRole('button', { name: 'Add task' }).click();
      await tasks.getByText(title).waitFor();
    }
    await s.shot('created');

    await tasks.getByRole('checkbox', { name: 'File the quarterly tax return' }).check();
    await s.page.getByRole('button', { name: 'Delete task Book flights to Lisbon' }).click();
    await tasks.getByText('Book flights to Lisbon').waitFor({ state: 'detached' });
    const stored = (await s.api('/tasks?status=all')).data;
    assert.deepEqual(stored.map((t: any) => [t.title, t.status]).sort(), [
      ['File the quarterly tax return', 'completed'],
      ['Water the tomato plants in the garden', 'pending'],
    ]);
    assert.equal(await tasks.getByRole('checkbox', { name: 'File the quarterly tax return' }).isChecked(), true);
    await s.shot('completed-deleted');

    // Embedding happens after the write: search until the task is indexed.
    const results = s.page.getByRole('list', { name: 'Search results' });
    await s.page.getByRole('searchbox', { name: 'Search tasks' }).fill('tomato garden');
    await eventually(
      async () => {
        await s.page.getByRole('button', { name: 'Search', exact: true }).click();
        await results.waitFor();
        await s.page.waitForTimeout(100);
        return results.getByRole('listitem').first().innerText();
      },
      (first) => first.includes('Water the tomato plants in the garden'),
      'the garden task is the best match',
    );
    await s.shot('search');
    await s.context.close();
  });

  test('a reply holding an <img onerror> and a javascript: link executes nothing', async () => {
    const s = await session('xss');
    await connect(s);
    // The page's CSP would block these handlers even unsanitised, so the checks below look at
    // the DOM too: no handler attribute, no script, no javascript: URL may reach it.
    const payload =
      `<img src=x onerror="window.__pwned='img';alert('img')"> [click me](javascript:window.__pwned='link') ` +
      `<script>window.__pwned='script'</script> <a href="javascript:alert('a')">raw link</a> <svg onload="alert('svg')"></svg> **bold**`;
    await send(s.page, `[[reply:${payload}]]`);
    await waitForReplyEnd(s.page);
    const reply = lastReply(s.page);
    await reply.locator('strong', { hasText: 'bold' }).waitFor();
    await s.shot('payload-rendered');

    for (const name of ['click me', 'raw link']) {
      const link = reply.locator('a', { hasText: name });
      assert.equal(await link.count(), 1, `${name} is shown as a link`);
      const href = await link.getAttribute('href');
      assert.ok(href === null || !/^\s*javascript:/i.test(href), `${name} has no javascript: href (${href})`);
      await link.click();
    }
    // Runs in the page (no named helpers inside: tsx would wrap them in a __name the page lacks).
    type Element = { outerHTML: string; attributes: Iterable<{ name: string }> };
    const found = await s.page.evaluate(() => {
      const { document, __pwned } = globalThis as any;
      return {
        pwned: __pwned ?? null,
        handlers: ([...document.querySelectorAll('.markdown *')] as Element[])
          .flatMap((el) => [...el.attributes].map((a) => a.name))
          .filter((n) => n.startsWith('on')),
        scripts: document.querySelectorAll('.markdown script').length as number,
        images: ([...document.querySelectorAll('.markdown img')] as Element[]).map((img) => img.outerHTML),
      };
    });
    assert.equal(found.pwned, null, 'no payload ran');
    assert.deepEqual(s.dialogs, [], 'no dialog opened');
    assert.deepEqual(found.handlers, [], 'no event-handler attribute reached the DOM');
    assert.equal(found.scripts, 0);
    assert.deepEqual(found.images, ['<img src="x">'], 'the image is kept, inert');
    assert.equal(s.context.pages().length, 1, 'no window was opened by a link');
    await s.shot('after-clicks');
    await s.context.close();
  });

  test('a 429 is shown with the API message and how long to wait', async () => {
    const s = await session('rate-limited');
    await connect(s);
    // The fake answers 429; the service (OPENAI_MAX_RETRIES=0 here) passes it on with Retry-After.
    await send(s.page, '[[error:429]] too many');
    const alert = s.page.getByRole('alert');
    await alert.getByText('429 upstream_rate_limited').waitFor();
    assert.match(await alert.innerText(), /Try again in \d+ s\./);
    assert.equal(await s.page.getByRole('button', { name: 'Send' }).isDisabled(), true, 'the field was emptied, nothing in flight');
    assert.equal(await s.page.getByRole('button', { name: 'Stop' }).isDisabled(), true);
    await s.shot('429');
    await s.context.close();
  });
});
