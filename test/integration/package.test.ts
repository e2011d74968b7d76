/**
 * The package as users get it: `npm pack`, then a fresh project installs the tarball (offline:
 * the package has no runtime dependency) and uses it — the CLI through npx, wsfleet/client from
 * Node, from TypeScript, and from a page bundled by esbuild running in headless Chromium, both
 * against a real app node.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { build as esbuild } from 'esbuild';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildClient, ROOT } from '../../scripts/build.ts';
import { type DaemonProcess, spawnApp } from '../helpers/app.ts';
import { launchChromium } from '../helpers/chromium.ts';
import { freePort } from '../helpers/net.ts';

const run = promisify(execFile);

/** What the tarball may hold: the CLI bundle, the client, the image inputs, and npm's own files. */
const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^dist\/wsfleet\.js$/,
  /^dist\/letsencrypt-staging-roots\.pem$/,
  /^dist\/client\/[a-z-]+\.(js|d\.ts)$/,
  /^images\/(packer|provision|systemd|polkit|app)\//,
];

describe('the npm package', () => {
  let work = '';
  let project = '';
  let tarball = '';
  let files: string[] = [];
  let app: (DaemonProcess & { url: string; http: string }) | undefined;
  let browser: Browser | undefined;
  let server: Server | undefined;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'wsfleet-pack-'));
    project = join(work, 'project');
    // The CLI bundle is built by the test set-up; the client here. --ignore-scripts keeps npm
    // from rebuilding the bundle other test files are running.
    await buildClient();
    const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], {
      cwd: ROOT,
      timeout: 60_000,
    });
    const [info] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    if (info === undefined) throw new Error(`npm pack printed no package: ${stdout}`);
    tarball = join(work, info.filename);
    files = info.files.map((f) => f.path);
    await run('mkdir', ['-p', project]);
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ name: 'fresh', private: true, type: 'module' }),
    );
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], {
      cwd: project,
      timeout: 60_000,
    });
    app = await spawnApp(await freePort(), ['--node-name', 'packed-node', '--allowed-origins', '*']);
  }, 120_000);

  afterAll(async () => {
    await browser?.close().catch(() => undefined);
    await new Promise((resolve) => (server === undefined ? resolve(undefined) : server.close(resolve)));
    await app?.stop('SIGKILL');
    if (work !== '') await rm(work, { recursive: true, force: true });
  });

  it('holds the CLI bundle, the client and the image inputs, and nothing else', () => {
    expect(files.filter((f) => !ALLOWED.some((re) => re.test(f)))).toEqual([]);
    for (const needed of [
      'dist/wsfleet.js',
      // cert-sync reads it beside the bundle, and the images carry it.
      'dist/letsencrypt-staging-roots.pem',
      'dist/client/index.js',
      'dist/client/index.d.ts',
      'images/packer/variables.pkr.hcl',
      'images/provision/install.sh',
      'images/systemd/wsfleet-app.service',
      'images/app/nginx/nginx.conf',
    ]) {
      expect(files).toContain(needed);
    }
    expect(files.some((f) => f.startsWith('images/build/') || f.endsWith('.map'))).toBe(false);
  });

  it('installs with no dependency and runs `npx wsfleet --help`', async () => {
    const lock = JSON.parse(await readFile(join(project, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, unknown>;
    };
    expect(Object.keys(lock.packages).sort()).toEqual(['', 'node_modules/wsfleet']);
    const { stdout } = await run('npx', ['--offline', 'wsfleet', '--help'], {
      cwd: project,
      timeout: 30_000,
    });
    expect(stdout).toContain('wsfleet');
    expect(stdout).toMatch(/app/);
  });

  it('carries what `wsfleet images validate` needs: the templates validate from the installed package', async () => {
    const { stdout } = await run('npx', ['--offline', 'wsfleet', 'images', 'validate'], {
      cwd: project,
      timeout: 120_000,
    });
    expect(stdout).toContain(join(project, 'node_modules/wsfleet/images/packer'));
    expect(stdout).toContain('The image templates are valid.');
  }, 150_000);

  it("imports { connect } from 'wsfleet/client' in Node and talks to a real node", async () => {
    const script = join(project, 'node-client.mjs');
    await writeFile(
      script,
      `import { connect } from 'wsfleet/client';
import WebSocket from ${JSON.stringify(join(ROOT, 'node_modules/ws/wrapper.mjs'))};
const client = connect(process.argv[2], { WebSocket });
const sub = client.subscribe('packed');
const first = new Promise((resolve) => sub.on('message', resolve));
await new Promise((resolve) => sub.on('subscribed', resolve));
const ack = await client.publish('packed', { hello: 'node' });
const message = await first;
console.log(JSON.stringify({ node: client.connection.node, ack, data: message.data, offset: message.offset }));
client.close();
`,
    );
    const { stdout } = await run(process.execPath, [script, app?.url ?? ''], {
      cwd: project,
      timeout: 20_000,
    });
    const out = JSON.parse(stdout) as {
      node: string;
      ack: { offset: number };
      data: unknown;
      offset: number;
    };
    expect(out).toEqual({
      node: 'packed-node',
      ack: { channel: 'packed', offset: out.offset },
      data: { hello: 'node' },
      offset: out.offset,
    });
  });

  it('type-checks a TypeScript consumer against the shipped declarations', async () => {
    await writeFile(
      join(project, 'consumer.ts'),
      `import { connect, type Message, WsfleetError } from 'wsfleet/client';
const client = connect('wss://example.test/ws', { getToken: async () => 'a.b.c' });
const sub = client.subscribe('news', { since: 1, epoch: 'e' });
sub.on('message', (m: Message) => console.log(m.offset, m.data));
const result: Promise<{ offset: number }> = client.publish('news', { a: 1 });
export const isClientError = (e: unknown): e is WsfleetError => e instanceof WsfleetError;
export { result };
`,
    );
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    await run(
      process.execPath,
      [
        tsc,
        '--noEmit',
        '--strict',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--lib',
        'es2023,dom',
        'consumer.ts',
      ],
      { cwd: project, timeout: 60_000 },
    );
  });

  it('works in a page bundled by esbuild, in headless Chromium', async () => {
    await writeFile(
      join(project, 'page.js'),
      `import { connect } from 'wsfleet/client';
const client = connect(window.WSFLEET_URL);
const sub = client.subscribe('page');
sub.on('message', (m) => { window.received = m.data; });
sub.on('subscribed', () => client.publish('page', 'from the page').then((ack) => { window.acked = ack.offset; }));
`,
    );
    const bundled = await esbuild({
      entryPoints: [join(project, 'page.js')],
      absWorkingDir: project,
      bundle: true,
      minify: true,
      format: 'iife',
      platform: 'browser',
      write: false,
      logLevel: 'silent',
    });
    const script = bundled.outputFiles[0]?.text ?? '';
    expect(script).toContain('wsfleet-token.');
    const html = `<!doctype html><script>window.WSFLEET_URL = ${JSON.stringify(app?.url)};</script><script>${script}</script>`;
    server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html));
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    browser = await launchChromium();
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`http://127.0.0.1:${address.port}/`);
    await page.waitForFunction(
      () => (globalThis as { received?: unknown }).received !== undefined,
      undefined,
      {
        timeout: 15_000,
      },
    );
    expect(await page.evaluate(() => (globalThis as { received?: unknown }).received)).toBe('from the page');
    expect(await page.evaluate(() => typeof (globalThis as { acked?: unknown }).acked)).toBe('number');
    expect(errors).toEqual([]);
  });
});
