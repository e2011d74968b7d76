/**
 * The demo page in a real browser against two real app daemons sharing a real Redis: live
 * messages across nodes, resume after its node restarts, and the notice for missed messages.
 */
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DaemonProcess, spawnApp } from '../helpers/app.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { freePort } from '../helpers/net.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait.ts';

const API_KEY = 'demo-page-test-api-key';
/** Small, so a handful of publications push a position out of the history (the "missed" case). */
const HISTORY_SIZE = 5;
const MISSED = HISTORY_SIZE + 3;
/** Full-jitter backoff after a few failed connects can wait up to 8 s; leave room over that. */
const RECONNECT_TIMEOUT_MS = 30_000;
const STEP_TIMEOUT_MS = 10_000;
const SCREENSHOT = '/tmp/demo-page.png';

type Daemon = DaemonProcess & { http: string };

function nodeArgs(redisUrl: string, name: string): string[] {
  return [
    '--redis-url',
    redisUrl,
    '--node-name',
    name,
    '--drain-seconds',
    '1',
    '--history-size',
    String(HISTORY_SIZE),
    '--api-key',
    API_KEY,
  ];
}

describe('demo page (GET /)', () => {
  let redis: RedisServer | undefined;
  let browser: Browser | undefined;
  let redisUrl = '';
  let portA = 0;
  let nodeA: Daemon | undefined;
  let nodeB: Daemon | undefined;
  /** Uncaught page exceptions and CSP violations, which no test should cause. */
  const pageProblems: string[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    redisUrl = redis.url;
    portA = await freePort();
    // One after the other, so afterAll knows of every daemon that started even if the next fails.
    nodeA = await spawnApp(portA, nodeArgs(redisUrl, 'node-a'));
    nodeB = await spawnApp(await freePort(), nodeArgs(redisUrl, 'node-b'));
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    // Each step runs even when an earlier one fails, so nothing outlives the file.
    await browser?.close().catch(() => undefined);
    await Promise.allSettled([nodeA?.stop('SIGKILL'), nodeB?.stop('SIGKILL')]);
    await redis?.stop();
  }, 30_000);

  function daemon(d: Daemon | undefined): Daemon {
    if (d === undefined) throw new Error('daemon did not start');
    return d;
  }

  async function openDemo(http: string): Promise<{ page: Page; context: BrowserContext }> {
    if (browser === undefined) throw new Error('browser did not start');
    // A context per page: two independent visitors.
    const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    const page = await context.newPage();
    page.on('pageerror', (err) => pageProblems.push(`${http}: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.text().includes('Content Security Policy')) pageProblems.push(`${http}: ${msg.text()}`);
    });
    await page.goto(`${http}/`);
    await page.locator('#state[data-state="open"]').waitFor();
    return { page, context };
  }

  async function subscribe(page: Page, channel: string): Promise<void> {
    await page.fill('#channel-input', channel);
    await page.click('#subscribe-btn');
    await page.locator(`#subscriptions li[data-channel="${channel}"][data-state="live"]`).waitFor();
  }

  /** Publishes from the page and waits for the server's ack (the publication is durable then). */
  async function publish(page: Page, channel: string, text: string): Promise<void> {
    await page.fill('#publish-channel', channel);
    await page.fill('#publish-data', text);
    // The submit handler marks the status pending synchronously, so an ok status is this publish's.
    await page.click('#publish-btn');
    await page.locator('#publish-status[data-kind="ok"]').waitFor();
  }

  async function apiPublish(http: string, channel: string, data: unknown): Promise<void> {
    const res = await fetch(`${http}/api/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel, data }),
    });
    expect(res.status).toBe(200);
  }

  /** Offsets of the channel's messages as the page lists them, oldest first. */
  async function offsets(page: Page, channel: string): Promise<number[]> {
    const values = await page
      .locator(`#log li[data-channel="${channel}"]`)
      .evaluateAll((items) => items.map((item) => item.getAttribute('data-offset')));
    return values.map(Number).reverse();
  }

  /** The channel's messages as the page shows them, oldest first. */
  async function messageTexts(page: Page, channel: string): Promise<string[]> {
    return (await page.locator(`#log li[data-channel="${channel}"] .data`).allTextContents()).reverse();
  }

  async function untilShown(page: Page, channel: string, count: number): Promise<string[]> {
    await waitFor(
      async () => (await messageTexts(page, channel)).length >= count,
      STEP_TIMEOUT_MS,
      `${count} messages on ${channel}`,
    );
    return messageTexts(page, channel);
  }

  it('shows its node and exchanges messages live with a page on another node', async () => {
    const one = await openDemo(daemon(nodeA).http);
    const two = await openDemo(daemon(nodeB).http);
    try {
      expect(await one.page.textContent('#node')).toBe('node-a');
      expect(await two.page.textContent('#node')).toBe('node-b');
      await subscribe(one.page, 'demo');
      await subscribe(two.page, 'demo');

      await publish(one.page, 'demo', '{"text":"hello from a"}');
      await publish(two.page, 'demo', 'hi from b');
      // Markup in a message is shown as text, never parsed.
      await publish(two.page, 'demo', '<img src=x id=injected>');

      const expected = ['{"text":"hello from a"}', '"hi from b"', '"<img src=x id=injected>"'];
      for (const page of [one.page, two.page]) {
        expect(await untilShown(page, 'demo', 3)).toEqual(expected);
        expect(await page.locator('#injected').count()).toBe(0);
      }
      expect(await offsets(one.page, 'demo')).toEqual(await offsets(two.page, 'demo'));
      expect(pageProblems).toEqual([]);
    } finally {
      await one.context.close();
      await two.context.close();
    }
  });

  it('resumes from its last offset after its node restarts, without gaps or duplicates', async () => {
    const channel = 'demo';
    const one = await openDemo(daemon(nodeA).http);
    const two = await openDemo(daemon(nodeB).http);
    try {
      await subscribe(one.page, channel);
      await subscribe(two.page, channel);
      await publish(one.page, channel, '"before restart"');
      await untilShown(one.page, channel, 1);

      // SIGTERM: node-a drains, closing page 1 with 1012, and exits.
      const stopped = await daemon(nodeA).stop('SIGTERM');
      expect(stopped.code).toBe(0);
      await one.page.locator('#state:not([data-state="open"])').waitFor();

      // Published while page 1 has no node to connect to.
      await publish(two.page, channel, '"missed 1"');
      await publish(two.page, channel, '"missed 2"');

      nodeA = await spawnApp(portA, nodeArgs(redisUrl, 'node-a'));
      await one.page.locator('#state[data-state="open"]').waitFor({ timeout: RECONNECT_TIMEOUT_MS });
      expect(await one.page.textContent('#node')).toBe('node-a');
      expect(Number(await one.page.textContent('#attempts'))).toBeGreaterThan(0);
      await publish(two.page, channel, '"after restart"');

      const all = ['"before restart"', '"missed 1"', '"missed 2"', '"after restart"'];
      expect(await untilShown(one.page, channel, 4)).toEqual(all);
      const seen = await offsets(one.page, channel);
      // One entry per offset, consecutive: nothing lost, nothing shown twice.
      const first = seen[0] ?? 0;
      expect(seen).toEqual([first, first + 1, first + 2, first + 3]);
      expect(seen).toEqual(await offsets(two.page, channel));
      expect(await one.page.locator('#notices li[data-kind="missed"]').count()).toBe(0);
      expect(pageProblems).toEqual([]);

      await one.page.screenshot({ path: SCREENSHOT, fullPage: true });
    } finally {
      await one.context.close();
      await two.context.close();
    }
  }, 90_000);

  it('says when messages were missed, then continues from the offset the server gives', async () => {
    const channel = 'demo-missed';
    const one = await openDemo(daemon(nodeA).http);
    try {
      await subscribe(one.page, channel);
      await apiPublish(daemon(nodeB).http, channel, { n: 0 });
      await untilShown(one.page, channel, 1);

      await one.page.click('#connect-btn');
      await one.page.locator('#state[data-state="closed"]').waitFor();
      // More than the history keeps, so the position page 1 holds falls out of it.
      for (let n = 1; n <= MISSED; n++) await apiPublish(daemon(nodeB).http, channel, { n });
      await one.page.click('#connect-btn');

      const missed = one.page.locator(`#notices li[data-kind="missed"][data-channel="${channel}"]`);
      await missed.waitFor();
      expect(await missed.textContent()).toContain('older than the history');
      await one.page.locator(`#subscriptions li[data-channel="${channel}"][data-state="live"]`).waitFor();

      await apiPublish(daemon(nodeB).http, channel, { n: 'next' });
      expect(await untilShown(one.page, channel, 2)).toEqual(['{"n":0}', '{"n":"next"}']);
      const [firstOffset, nextOffset] = await offsets(one.page, channel);
      expect(nextOffset).toBe((firstOffset ?? 0) + MISSED + 1);
      expect(pageProblems).toEqual([]);
    } finally {
      await one.context.close();
    }
  }, 60_000);
});
