/**
 * The app node under random hostile input (fast-check, fixed seed; FUZZ_RUNS=N for a long run):
 * upgrade requests, frames and API bodies. After every case the node still serves: /healthz is
 * 200, a bystander connection still answers, connections and channels return to what they were,
 * and no handler failed.
 */
import { connect as netConnect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../daemons/app/token.ts';
import { type InProcessApp, startApp } from '../helpers/app.ts';
import { clientFrame, frameText, fuzzOptions, fuzzRuns, fuzzTimeout, jsonText } from '../helpers/fuzz.ts';
import { connect, op, type TestClient } from '../helpers/ws-client.ts';

const SECRET = 's'.repeat(40);
const API_KEY = 'k'.repeat(24);
const RUNS = fuzzRuns(300);

/** Writes `text` raw and resolves with the status line the server answered, or '' if it hung up. */
function rawExchange(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    let received = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within 5 s to ${JSON.stringify(text.slice(0, 200))}`));
    }, 5_000);
    const finish = (line: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(line);
    };
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const end = received.indexOf('\r\n');
      if (end >= 0) finish(received.slice(0, end));
    });
    socket.on('error', () => finish(received));
    socket.on('close', () => finish(received));
    socket.write(Buffer.from(text, 'latin1'));
  });
}

/** A header value without CR or LF (those would end the request early and are refused anyway). */
const headerValue = fc.string({ unit: 'binary', maxLength: 120 }).map((s) => s.replace(/[\r\n]/g, ''));
const pathArb = fc.oneof(
  fc.constantFrom(
    '/ws',
    '//',
    '//ws',
    '/ws/',
    '/%',
    '/%zz',
    '/ws?token=%',
    '/ws?token=',
    '*',
    '/ws#x',
    '/ws?a=1&token=',
  ),
  fc.string({ unit: 'binary', maxLength: 300 }).map((s) => `/${s.replace(/[\s]/g, '')}`),
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
);

describe('app node under random hostile input', () => {
  let node: InProcessApp;
  let bystander: TestClient;
  let validToken: string;

  beforeAll(async () => {
    node = await startApp([
      '--drain-seconds',
      '0.2',
      '--token-secret',
      SECRET,
      '--api-key',
      API_KEY,
      '--rate-limit',
      '1000000',
      '--rate-burst',
      '10000000',
    ]);
    validToken = signToken({ exp: Math.floor(Date.now() / 1000) + 3600 }, SECRET);
    bystander = await connect(`${node.url}?token=${validToken}`);
    await bystander.next(op('welcome'));
  });

  afterAll(async () => {
    await bystander?.close();
    await node?.close();
  });

  let pings = 0;
  async function expectServing(): Promise<void> {
    expect((await fetch(`${node.http}/healthz`)).status).toBe(200);
    const id = `p${pings++}`;
    bystander.send({ op: 'ping', id });
    await bystander.next((f) => f.op === 'pong' && f.id === id);
    const failures = (await node.app.metrics.handlerErrors.get()).values;
    expect(failures.reduce((sum, v) => sum + v.value, 0)).toBe(0);
  }

  it(
    'answers every upgrade request with a status, never a crash or a 500',
    async () => {
      const upgrade = fc.record({
        method: fc.constantFrom('GET', 'POST', 'OPTIONS', 'G\u00e9T'),
        path: pathArb,
        token: fc.constantFrom('none', 'query', 'protocol', 'garbage'),
        host: fc.option(headerValue),
        origin: fc.option(fc.oneof(headerValue, fc.webUrl())),
        protocols: fc.option(fc.array(headerValue, { maxLength: 4 })),
        key: fc.oneof(fc.constant('dGhlIHNhbXBsZSBub25jZQ=='), headerValue),
        version: fc.constantFrom('13', '8', '', 'x', '13, 8'),
      });
      await fc.assert(
        fc.asyncProperty(upgrade, async (u) => {
          let path = u.path;
          const protocols = [...(u.protocols ?? [])];
          if (u.token === 'query') path += `${path.includes('?') ? '&' : '?'}token=${validToken}`;
          if (u.token === 'protocol') protocols.push(`wsfleet-token.${validToken}`);
          if (u.token === 'garbage') protocols.push('wsfleet-token.a.b.c');
          const lines = [
            `${u.method} ${path} HTTP/1.1`,
            ...(u.host === null ? [] : [`Host: ${u.host}`]),
            ...(u.origin === null ? [] : [`Origin: ${u.origin}`]),
            ...(protocols.length === 0 ? [] : [`Sec-WebSocket-Protocol: ${protocols.join(', ')}`]),
            'Upgrade: websocket',
            'Connection: Upgrade',
            `Sec-WebSocket-Key: ${u.key}`,
            `Sec-WebSocket-Version: ${u.version}`,
          ];
          const status = await rawExchange(node.port, `${lines.join('\r\n')}\r\n\r\n`);
          expect(status).not.toMatch(/^HTTP\/1\.1 5\d\d/);
        }),
        fuzzOptions(RUNS),
      );
      await expectServing();
      expect(node.app.connections).toBe(1);
    },
    fuzzTimeout(RUNS, 100),
  );

  it(
    'answers every frame with a reply or an error frame and keeps the connection',
    async () => {
      const heapBefore = process.memoryUsage().heapUsed;
      await fc.assert(
        fc.asyncProperty(fc.array(clientFrame, { minLength: 1, maxLength: 5 }), async (frames) => {
          const client = await connect(`${node.url}?token=${validToken}`);
          try {
            await client.next(op('welcome'));
            for (const frame of frames) {
              if ('bytes' in frame) {
                client.ws.send(frame.bytes, { binary: true });
                continue;
              }
              client.ws.send(frame.text);
              if (Buffer.byteLength(frame.text) > node.config.maxMessageBytes) {
                // The one thing that costs a client its connection: a frame over the limit.
                expect((await client.closed).code).toBe(1009);
                return;
              }
            }
            // Frames are handled in order: the pong comes after every reply to those before it.
            client.send({ op: 'ping', id: 'last' });
            await client.next((f) => f.op === 'pong' && f.id === 'last');
            expect(client.ws.readyState).toBe(client.ws.OPEN);
          } finally {
            await client.close();
          }
        }),
        fuzzOptions(RUNS),
      );
      await expectServing();
      expect(node.app.connections).toBe(1);
      // Bounded, not exact: what the cases published stays in history (bounded per channel).
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(256 * 1024 * 1024);
    },
    fuzzTimeout(RUNS, 200),
  );

  it(
    'answers every API body with 200 or a 4xx error naming its code',
    async () => {
      const body = fc.oneof(
        fc
          .record({ channel: fc.oneof(fc.constant('"api"'), jsonText), data: jsonText }, { requiredKeys: [] })
          .map(
            (f) =>
              `{${Object.entries(f)
                .map(([k, v]) => `"${k}":${v}`)
                .join(',')}}`,
          ),
        frameText,
        fc.string({ unit: 'binary', maxLength: 200 }),
      );
      const request = fc.record({
        body,
        auth: fc.constantFrom('good', 'none', 'bad'),
        type: fc.constantFrom('application/json', 'text/plain', ''),
      });
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          const headers: Record<string, string> = {};
          if (r.type !== '') headers['content-type'] = r.type;
          if (r.auth === 'good') headers.authorization = `Bearer ${API_KEY}`;
          if (r.auth === 'bad') headers.authorization = 'Bearer nope';
          const res = await fetch(`${node.http}/api/publish`, { method: 'POST', headers, body: r.body });
          const answer = (await res.json()) as { error?: { code: string } };
          expect([200, 400, 401, 413]).toContain(res.status);
          if (res.status !== 200) expect(typeof answer.error?.code).toBe('string');
        }),
        fuzzOptions(RUNS),
      );
      await expectServing();
    },
    fuzzTimeout(RUNS, 100),
  );
});
