import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ConnectionOptions, type SecureVersion, connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClientOptions, WebSocketServer } from 'ws';
import { createNginx, isNginxError } from '../../daemons/cert-sync/nginx.ts';
import { createLogger } from '../../daemons/shared/logger.ts';
import { createTestTls } from '../../scripts/lab/tls.ts';
import { type DaemonProcess, spawnApp } from '../helpers/app.ts';
import { freePort } from '../helpers/net.ts';
import {
  createTestCa,
  type IssuedCertificate,
  type NginxInstance,
  type StubServer,
  serveCertificates,
  startNginx,
  startStub,
  type TestCa,
} from '../helpers/nginx.ts';
import { waitFor } from '../helpers/wait.ts';
import { connect, op, type TestClient } from '../helpers/ws-client.ts';

const A = 'a.wsfleet.test';
const B = 'b.wsfleet.test';
const HSTS = 'max-age=63072000';

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

interface RequestOptions {
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly body?: Buffer | string;
  /** HTTPS: the CA to trust and the SNI name (also verified against the certificate). */
  readonly tls?: { readonly ca: string; readonly servername: string };
}

/** One HTTP/1.1 request on a fresh connection to 127.0.0.1, bounded. */
function request(port: number, path: string, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const common = {
      host: '127.0.0.1',
      port,
      path,
      method: options.method ?? 'GET',
      headers: options.headers,
      agent: false as const,
      timeout: 5_000,
    };
    const req = options.tls
      ? httpsRequest({ ...common, ca: options.tls.ca, servername: options.tls.servername })
      : httpRequest(common);
    req.once('timeout', () => req.destroy(new Error(`no answer for ${path} within 5 s`)));
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.once('error', reject);
    });
    req.end(options.body);
  });
}

/** A TLS handshake limited to one protocol version; resolves with the version or the error code. */
function handshake(port: number, version: SecureVersion): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: A,
      minVersion: version,
      maxVersion: version,
      // Lets this client offer TLS 1.0/1.1 at all, so a refusal can only come from nginx.
      ciphers: 'DEFAULT@SECLEVEL=0',
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => socket.destroy(new Error('handshake timed out')), 5_000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      resolve(socket.getProtocol() ?? 'unknown');
      socket.destroy();
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code ?? err.message);
    });
  });
}

/**
 * ws's `createConnection` for a TLS connection to 127.0.0.1 that asks for `servername` (ws has
 * no option of its own for SNI) and reports the serial of the certificate it got.
 */
function viaSni(servername: string, onSerial: (serial: string) => void = () => {}) {
  const create = (options: ConnectionOptions) => {
    const socket = tlsConnect({ ...options, servername });
    socket.once('secureConnect', () => onSerial(socket.getPeerCertificate().serialNumber.toLowerCase()));
    return socket;
  };
  return create as unknown as ClientOptions['createConnection'];
}

/** A WebSocket client through nginx's TLS port that records the serial of the certificate it got. */
async function wsClient(
  nginx: NginxInstance,
  ca: string,
  servername = A,
): Promise<TestClient & { serial: string }> {
  let serial = '';
  const client = await connect(`wss://127.0.0.1:${nginx.httpsPort}/ws`, {
    protocols: ['wsfleet'],
    ca,
    createConnection: viaSni(servername, (s) => {
      serial = s;
    }),
  });
  await client.next(op('welcome'));
  return Object.assign(client, { serial });
}

describe('nginx on an app VM', () => {
  let ca: TestCa;
  let renewer: StubServer;
  let app: DaemonProcess & { http: string };
  let appAddress: string;

  beforeAll(async () => {
    ca = await createTestCa();
    renewer = await startStub((req) => ({ status: 200, body: `challenge answer for ${req.url}` }));
    const port = await freePort();
    app = await spawnApp(port, ['--node-name', 'behind-nginx']);
    appAddress = `127.0.0.1:${port}`;
  });

  afterAll(async () => {
    await app?.stop();
    await renewer?.close();
    await ca?.close();
  });

  describe('before the first certificate', () => {
    let nginx: NginxInstance;

    beforeAll(async () => {
      nginx = await startNginx({ appUpstream: appAddress, renewer: renewer.address });
    });
    afterAll(() => nginx?.stop());

    it.each(['/healthz', '/livez', '/readyz'])("passes %s to the app's own", async (path) => {
      const reply = await request(nginx.httpPort, path);
      expect(reply.status).toBe(200);
      expect(reply.body).toBe((await (await fetch(`${app.http}${path}`)).text()).toString());
    });

    it('forwards ACME challenges to the renewer with the path unchanged', async () => {
      const path = '/.well-known/acme-challenge/Tok-en_123?x=1';
      const reply = await request(nginx.httpPort, path, { headers: { host: 'www.example.test' } });
      expect(reply).toMatchObject({ status: 200, body: `challenge answer for ${path}` });
      expect(renewer.requests.at(-1)).toMatchObject({ url: path, headers: { host: 'www.example.test' } });
    });

    it('keeps paths that only start like the challenge prefix away from the renewer', async () => {
      const before = renewer.requests.length;
      expect((await request(nginx.httpPort, '/.well-known/acme-challengeX')).status).toBe(503);
      expect((await request(nginx.httpPort, '/.well-known/')).status).toBe(503);
      // nginx's rule for a proxied prefix location ending in "/": the bare prefix is redirected
      // to itself with the slash, not forwarded.
      const bare = await request(nginx.httpPort, '/.well-known/acme-challenge', { headers: { host: A } });
      expect(bare).toMatchObject({
        status: 301,
        headers: { location: `http://${A}:${nginx.httpPort}/.well-known/acme-challenge/` },
      });
      expect(renewer.requests.length).toBe(before);
    });

    it('answers everything else with 503 and a plain-text reason', async () => {
      for (const path of ['/', '/ws', '/api/publish', '/metrics']) {
        const reply = await request(nginx.httpPort, path);
        expect(reply.status, path).toBe(503);
        expect(reply.headers['content-type']).toBe('text/plain; charset=utf-8');
        expect(reply.body).toMatch(/^no certificate yet; /);
        expect(reply.headers.server).toBe('nginx');
      }
    });

    it('logs each request as one JSON object without the query string', async () => {
      await request(nginx.httpPort, '/ws?token=secret-token-value');
      const lines = await waitFor(
        async () => {
          const text = await readFile(nginx.accessLog, 'utf8');
          return text.includes('"uri":"/ws"') ? text.trim().split('\n') : undefined;
        },
        5_000,
        'the access log line',
      );
      const entry = JSON.parse(lines.at(-1) as string) as Record<string, unknown>;
      expect(entry).toMatchObject({ method: 'GET', uri: '/ws', status: 503, remote_addr: '127.0.0.1' });
      expect(lines.join('\n')).not.toContain('secret-token-value');
    });
  });

  it('reports an app that drains or is down through /healthz', async () => {
    const port = await freePort();
    const own = await spawnApp(port, ['--drain-seconds', '2']);
    const nginx = await startNginx({ appUpstream: `127.0.0.1:${port}`, renewer: renewer.address });
    try {
      expect((await request(nginx.httpPort, '/healthz')).status).toBe(200);
      const exited = own.stop('SIGTERM');
      const statuses: number[] = [];
      await waitFor(
        async () => {
          const { status } = await request(nginx.httpPort, '/healthz');
          statuses.push(status);
          return status === 502;
        },
        15_000,
        '/healthz to answer 502 once the app is gone',
      );
      await exited;
      // 200 until the app has seen SIGTERM, then 503 while it drains (when a check lands in that
      // window) and 502 once it is gone: never healthy again.
      const afterSignal = statuses.slice(statuses.findIndex((s) => s !== 200));
      expect(afterSignal.filter((s) => s !== 502 && s !== 503)).toEqual([]);
    } finally {
      await own.stop('SIGKILL');
      await nginx.stop();
    }
  });

  describe('#render', () => {
    let nginx: NginxInstance;

    beforeAll(async () => {
      nginx = await startNginx({ appUpstream: appAddress, renewer: renewer.address });
    });
    afterAll(() => nginx?.stop());

    const file = () => join(nginx.prefix, 'conf', 'conf.d', 'wsfleet.conf');

    it('reports no change and writes nothing when the file is already as rendered', async () => {
      const before = await readFile(file(), 'utf8');
      const result = await nginx.nginx.render([]);
      expect(result.changed).toBe(false);
      expect(await readFile(file(), 'utf8')).toBe(before);
    });

    it('restore() brings the previous file back', async () => {
      const before = await readFile(file(), 'utf8');
      await ca.issue(nginx.tlsDir, A, [A]);
      const result = await nginx.nginx.render([{ name: A, domains: [A] }]);
      expect(result.changed).toBe(true);
      expect(await readFile(file(), 'utf8')).toContain(`server_name ${A};`);
      await result.restore();
      expect(await readFile(file(), 'utf8')).toBe(before);
    });

    it('restore() removes the file when there was none before', async () => {
      const confDir = await mkdtemp(join(tmpdir(), 'wsfleet-nginx-conf-'));
      try {
        const fresh = createNginx({
          confDir: join(confDir, 'conf.d'),
          tlsDir: nginx.tlsDir,
          httpPort: 80,
          httpsPort: 443,
          appUpstream: appAddress,
          renewer: renewer.address,
          testCommand: ['true'],
          reloadCommand: ['true'],
          log: createLogger({ name: 'test', level: 'silent' }),
        });
        const result = await fresh.render([]);
        expect(result.changed).toBe(true);
        expect(await readdir(join(confDir, 'conf.d'))).toEqual(['wsfleet.conf']);
        await result.restore();
        expect(await readdir(join(confDir, 'conf.d'))).toEqual([]);
      } finally {
        await rm(confDir, { recursive: true, force: true });
      }
    });
  });

  describe('with certificates', () => {
    let nginx: NginxInstance;
    let a: IssuedCertificate;
    let b: IssuedCertificate;
    const tls = () => ({ ca: ca.caPem, servername: A });

    beforeAll(async () => {
      // Starts HTTP-only, as on first boot, then goes through render → test → reload.
      nginx = await startNginx({ appUpstream: appAddress, renewer: renewer.address });
      a = await ca.issue(nginx.tlsDir, A, [A]);
      b = await ca.issue(nginx.tlsDir, B, [B]);
      await serveCertificates(nginx, [a, b]);
    });
    afterAll(() => nginx?.stop());

    it('redirects port 80 to HTTPS with the path and query', async () => {
      const reply = await request(nginx.httpPort, '/some/page?x=1', { headers: { host: A } });
      expect(reply.status).toBe(301);
      expect(reply.headers.location).toBe(`https://${A}:${nginx.httpsPort}/some/page?x=1`);
      expect(reply.headers['strict-transport-security']).toBeUndefined();
    });

    it('keeps /healthz and ACME challenges on plain HTTP', async () => {
      expect((await request(nginx.httpPort, '/healthz', { headers: { host: A } })).status).toBe(200);
      const challenge = await request(nginx.httpPort, '/.well-known/acme-challenge/abc', {
        headers: { host: A },
      });
      expect(challenge).toMatchObject({
        status: 200,
        body: 'challenge answer for /.well-known/acme-challenge/abc',
      });
      expect((await request(nginx.httpPort, '/.well-known/acme-challengeX')).status).toBe(301);
    });

    it.each([
      ['the page, proxied', 'GET', '/', 200],
      ['/healthz, proxied', 'GET', '/healthz', 200],
      ["the app's own 404", 'GET', '/nope', 404],
      ["the app's 405", 'GET', '/api/publish', 405],
      ["nginx's 404 for /metrics", 'GET', '/metrics', 404],
      ["nginx's 413 for a body over 64 KiB", 'POST', '/api/publish', 413],
    ] as const)('sends HSTS with %s', async (_what, method, path, status) => {
      const body = method === 'POST' ? Buffer.alloc(65 * 1024, 'x') : undefined;
      const reply = await request(nginx.httpsPort, path, {
        method,
        tls: tls(),
        ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }),
      });
      expect(reply.status).toBe(status);
      expect(reply.headers['strict-transport-security']).toBe(HSTS);
    });

    it('negotiates HTTP/2 through ALPN for pages', async () => {
      const session = http2Connect(`https://127.0.0.1:${nginx.httpsPort}`, { ca: ca.caPem, servername: A });
      try {
        await once(session, 'connect');
        expect(session.alpnProtocol).toBe('h2');
        const stream = session.request({ ':path': '/', ':authority': A });
        const [headers] = (await once(stream, 'response')) as [Record<string, string | number>];
        stream.resume();
        await once(stream, 'end');
        expect(headers[':status']).toBe(200);
        expect(headers['strict-transport-security']).toBe(HSTS);
        expect(String(headers['content-type'])).toMatch(/^text\/html/);
      } finally {
        session.close();
      }
    });

    it('picks the certificate by SNI, and the first one for names it does not serve', async () => {
      const served = (servername: string) =>
        nginx.nginx.servedCertificate({
          host: '127.0.0.1',
          port: nginx.httpsPort,
          servername,
          timeoutMs: 5_000,
        });
      expect((await served(A)).serial).toBe(a.serial);
      expect((await served(B)).serial).toBe(b.serial);
      expect((await served('unknown.wsfleet.test')).serial).toBe(a.serial);
      for (const path of ['/healthz', '/livez', '/readyz']) {
        const reply = await request(nginx.httpsPort, path, { tls: { ca: ca.caPem, servername: B } });
        expect(reply.status, path).toBe(200);
      }
    });

    it('verifies the chain and the name against `trust` when given', async () => {
      const served = (servername: string, trust: string) =>
        nginx.nginx.servedCertificate({ host: '127.0.0.1', port: nginx.httpsPort, servername, trust }).then(
          (c) => c.serial,
          (err: unknown) => err,
        );
      expect(await served(A, ca.caPem)).toBe(a.serial);
      // The first certificate, served for a name it does not hold, is refused by name.
      const wrongName = await served('unknown.wsfleet.test', ca.caPem);
      expect(isNginxError(wrongName, 'WSFLEET_NGINX_SERVED_MISMATCH')).toBe(true);
      // A chain to another root is refused.
      const other = await createTestTls();
      const wrongRoot = await served(A, other.caPem);
      expect(isNginxError(wrongRoot, 'WSFLEET_NGINX_SERVED_MISMATCH')).toBe(true);
    });

    it('throws WSFLEET_NGINX_SERVED_MISMATCH when another certificate is served', async () => {
      const failure = await nginx.nginx
        .servedCertificate({
          host: '127.0.0.1',
          port: nginx.httpsPort,
          servername: A,
          expectedSerial: b.serial,
        })
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(isNginxError(failure, 'WSFLEET_NGINX_SERVED_MISMATCH')).toBe(true);
      expect((failure as Error).message).toContain(`serves serial ${a.serial}, expected ${b.serial}`);
    });

    it.each(['TLSv1', 'TLSv1.1'] as const)('refuses %s', async (version) => {
      expect(await handshake(nginx.httpsPort, version)).toMatch(/PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/);
    });

    it.each(['TLSv1.2', 'TLSv1.3'] as const)('accepts %s', async (version) => {
      expect(await handshake(nginx.httpsPort, version)).toBe(version);
    });

    it('carries WebSockets to the app over TLS', async () => {
      const [alice, bob] = [await wsClient(nginx, ca.caPem), await wsClient(nginx, ca.caPem, B)];
      try {
        expect(alice.frames[0]).toMatchObject({ op: 'welcome', node: 'behind-nginx' });
        bob.send({ op: 'subscribe', channel: 'room' });
        await bob.next(op('subscribed'));
        alice.send({ op: 'publish', channel: 'room', data: { hello: 'through nginx' }, id: 1 });
        await alice.next(op('ack'));
        expect(await bob.next(op('message'))).toMatchObject({
          channel: 'room',
          data: { hello: 'through nginx' },
        });
      } finally {
        await alice.close();
        await bob.close();
      }
    });
  });

  describe('in front of the app', () => {
    let stub: StubServer;
    let wss: WebSocketServer;
    let nginx: NginxInstance;
    const upgrades: IncomingHttpHeaders[] = [];

    beforeAll(async () => {
      stub = await startStub((req) =>
        req.url === '/hsts'
          ? { status: 200, body: 'own hsts', headers: { 'strict-transport-security': 'max-age=1' } }
          : req.url === '/fail'
            ? { status: 500, body: 'failed' }
            : { status: 200, body: `stub ${req.url}` },
      );
      wss = new WebSocketServer({ noServer: true });
      stub.server.on('upgrade', (req, socket, head) => {
        upgrades.push(req.headers);
        wss.handleUpgrade(req, socket, head, (ws) =>
          ws.on('message', (data) => ws.send(data, { binary: false })),
        );
      });
      nginx = await startNginx({ appUpstream: stub.address, renewer: renewer.address });
      await serveCertificates(nginx, [await ca.issue(nginx.tlsDir, A, [A])]);
    });
    afterAll(async () => {
      await nginx?.stop();
      for (const client of wss?.clients ?? []) client.terminate();
      wss?.close();
      await stub?.close();
    });

    it('keeps upstream connections open for plain requests (no Connection: close upstream)', async () => {
      const before = stub.connections();
      const seen = stub.requests.length;
      for (let i = 0; i < 20; i++) {
        const reply = await request(nginx.httpsPort, `/plain/${i}`, { tls: { ca: ca.caPem, servername: A } });
        expect(reply.status).toBe(200);
      }
      const sent = stub.requests.slice(seen);
      expect(sent.map((r) => r.headers.connection)).toEqual(Array(20).fill(undefined));
      expect(sent.every((r) => r.headers.upgrade === undefined)).toBe(true);
      // 20 client connections one after another, but each worker reuses its idle upstream one.
      const workers = (await nginx.workers()).length;
      expect(workers).toBeGreaterThan(0);
      expect(stub.connections() - before).toBeLessThanOrEqual(workers);
    });

    it('passes Upgrade and Connection: upgrade for a WebSocket handshake', async () => {
      const client = await connect(`wss://127.0.0.1:${nginx.httpsPort}/echo`, {
        ca: ca.caPem,
        createConnection: viaSni(A),
      });
      try {
        client.send({ op: 'echo' });
        expect(await client.next(op('echo'))).toEqual({ op: 'echo' });
        expect(upgrades.at(-1)).toMatchObject({ upgrade: 'websocket', connection: 'upgrade' });
      } finally {
        await client.close();
      }
    });

    it('sets X-Forwarded-* from the connection, never from what the client claims', async () => {
      await request(nginx.httpsPort, '/who', {
        tls: { ca: ca.caPem, servername: A },
        headers: {
          host: `${A}:${nginx.httpsPort}`,
          'x-forwarded-for': '203.0.113.9',
          'x-forwarded-proto': 'http',
        },
      });
      expect(stub.requests.at(-1)?.headers).toMatchObject({
        host: `${A}:${nginx.httpsPort}`,
        'x-forwarded-for': '127.0.0.1',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': `${A}:${nginx.httpsPort}`,
      });
    });

    it.each([
      ['the app sends its own', '/hsts', 200],
      ['the app fails', '/fail', 500],
    ])('sends exactly one HSTS header, its own, when %s', async (_what, path, status) => {
      const reply = await request(nginx.httpsPort, path, { tls: { ca: ca.caPem, servername: A } });
      expect(reply.status).toBe(status);
      expect(reply.headers['strict-transport-security']).toBe(HSTS);
    });
  });

  it('answers 502 with HSTS on HTTPS and on /healthz while the app is down', async () => {
    const nginx = await startNginx({
      appUpstream: `127.0.0.1:${await freePort()}`,
      renewer: renewer.address,
    });
    try {
      await serveCertificates(nginx, [await ca.issue(nginx.tlsDir, A, [A])]);
      const page = await request(nginx.httpsPort, '/', { tls: { ca: ca.caPem, servername: A } });
      expect(page.status).toBe(502);
      expect(page.headers['strict-transport-security']).toBe(HSTS);
      expect((await request(nginx.httpPort, '/healthz')).status).toBe(502);
    } finally {
      await nginx.stop();
    }
  });

  describe('certificate rotation', () => {
    let nginx: NginxInstance;
    const clients: (TestClient & { serial: string })[] = [];

    beforeAll(async () => {
      nginx = await startNginx({ appUpstream: appAddress, renewer: renewer.address });
      await serveCertificates(nginx, [await ca.issue(nginx.tlsDir, A, [A])]);
    });
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await nginx?.stop();
    });

    it('keeps 120 open WebSockets talking across a reload, and serves the new certificate to new ones', async () => {
      const old = await nginx.nginx.servedCertificate({
        host: '127.0.0.1',
        port: nginx.httpsPort,
        servername: A,
      });
      for (let i = 0; i < 120; i += 20) {
        clients.push(...(await Promise.all(Array.from({ length: 20 }, () => wsClient(nginx, ca.caPem)))));
      }
      for (const c of clients) c.send({ op: 'subscribe', channel: 'rotation' });
      await Promise.all(clients.map((c) => c.next(op('subscribed'))));
      const oldWorkers = await nginx.workers();

      const renewed = await ca.issue(nginx.tlsDir, A, [A]);
      // Only the files under live/ changed: the generated configuration is the same, and a reload
      // is still what makes nginx read the new certificate.
      expect((await nginx.nginx.render([{ name: A, domains: [A] }])).changed).toBe(false);
      await nginx.nginx.test();
      await nginx.reload();
      // What cert-sync checks after its reload.
      await nginx.nginx.servedCertificate({
        host: '127.0.0.1',
        port: nginx.httpsPort,
        servername: A,
        expectedSerial: renewed.serial,
      });
      // New workers took over; the old ones still hold the open connections.
      const workers = await nginx.workers();
      expect(workers.some((pid) => !oldWorkers.includes(pid))).toBe(true);
      expect(workers.filter((pid) => oldWorkers.includes(pid)).length).toBeGreaterThan(0);

      expect(clients.every((c) => c.serial === old.serial && c.ws.readyState === c.ws.OPEN)).toBe(true);
      for (const c of clients) c.send({ op: 'ping' });
      await Promise.all(clients.map((c) => c.next(op('pong'))));
      const [first] = clients;
      first?.send({ op: 'publish', channel: 'rotation', data: 'after reload', id: 'r1' });
      const delivered = await Promise.all(clients.map((c) => c.next(op('message'), 10_000)));
      expect(delivered.every((m) => m.data === 'after reload')).toBe(true);

      const fresh = await wsClient(nginx, ca.caPem);
      clients.push(fresh);
      expect(fresh.serial).toBe(renewed.serial);
      expect(old.serial).not.toBe(renewed.serial);
    });
  });

  describe('#test and #reload', () => {
    let nginx: NginxInstance;

    beforeAll(async () => {
      nginx = await startNginx({ appUpstream: appAddress, renewer: renewer.address });
    });
    afterAll(() => nginx?.stop());

    it("throws WSFLEET_NGINX_TEST_FAILED with nginx's message for a missing certificate, and restore() undoes it", async () => {
      const result = await nginx.nginx.render([
        { name: 'missing.wsfleet.test', domains: ['missing.wsfleet.test'] },
      ]);
      const failure = await nginx.nginx.test().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isNginxError(failure, 'WSFLEET_NGINX_TEST_FAILED')).toBe(true);
      // nginx's message names the file it could not load.
      expect((failure as Error).message).toContain(`${nginx.tlsDir}/live/missing.wsfleet.test/fullchain.pem`);
      await result.restore();
      await nginx.nginx.test();
      // The running nginx never saw the broken file.
      expect((await request(nginx.httpPort, '/')).status).toBe(503);
    });

    it('throws WSFLEET_NGINX_RELOAD_FAILED with the output when the reload command fails', async () => {
      const broken = createNginx({
        confDir: join(nginx.prefix, 'conf', 'conf.d'),
        tlsDir: nginx.tlsDir,
        httpPort: nginx.httpPort,
        httpsPort: nginx.httpsPort,
        appUpstream: appAddress,
        renewer: renewer.address,
        testCommand: ['nginx', '-t', '-q', '-c', nginx.confFile],
        reloadCommand: ['nginx', '-s', 'reload', '-c', join(nginx.prefix, 'no-such.conf')],
        log: createLogger({ name: 'test', level: 'silent' }),
      });
      const failure = await broken.reload().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(isNginxError(failure, 'WSFLEET_NGINX_RELOAD_FAILED')).toBe(true);
      expect((failure as Error).message).toContain('no-such.conf');
    });

    it('throws WSFLEET_NGINX_SERVED_MISMATCH when nothing answers TLS', async () => {
      const failure = await nginx.nginx
        .servedCertificate({ host: '127.0.0.1', port: nginx.httpsPort, servername: A, timeoutMs: 2_000 })
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      expect(isNginxError(failure, 'WSFLEET_NGINX_SERVED_MISMATCH')).toBe(true);
    });
  });
});
