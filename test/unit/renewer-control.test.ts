/**
 * The renewer's control socket, both ends: whatever a client posts, the daemon answers 200 with
 * NDJSON for a valid renew command or 400 naming what is wrong, and hands its handler only valid
 * commands; whatever a daemon answers, `sendRenew` resolves with outcomes or rejects with an
 * Error, never throws out of its stream handler.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ControlServer,
  createControlServer,
  parseControlLine,
  parseRenewCommand,
  type RenewCommand,
  sendRenew,
} from '../../daemons/renewer/control.ts';
import { createLogger } from '../../daemons/shared/logger.ts';
import { fuzzOptions, fuzzRuns, fuzzTimeout, jsonText } from '../helpers/fuzz.ts';

const RUNS = fuzzRuns(150);

function post(socketPath: string, body: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: '/renew', method: 'POST' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('renewer control socket', () => {
  let dir: string;
  let socket: string;
  let control: ControlServer;
  const received: RenewCommand[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-control-'));
    socket = join(dir, 'control.sock');
    control = createControlServer(
      socket,
      {
        async renew(command) {
          received.push(command);
          return [];
        },
      },
      createLogger({ name: 'test', level: 'silent' }),
    );
    await control.start();
  });

  afterAll(async () => {
    await control?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('takes a renew command, and ignores fields it does not know', async () => {
    const sent = { names: ['a.example'], force: true, dryRun: false, later: 1 };
    const { status } = await post(socket, Buffer.from(JSON.stringify(sent)));
    expect(status).toBe(200);
    expect(received.at(-1)).toEqual({ names: ['a.example'], force: true, dryRun: false });
  });

  it(
    'answers any other body with 400 naming the problem, and never hands it on',
    async () => {
      const body = fc.oneof(
        jsonText,
        fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString('latin1')),
        fc
          .record({
            names: fc.oneof(
              fc.constant(undefined),
              fc.jsonValue(),
              fc.array(fc.jsonValue(), { maxLength: 3 }),
            ),
            force: fc.oneof(fc.boolean(), fc.jsonValue()),
            dryRun: fc.oneof(fc.boolean(), fc.jsonValue()),
            directoryUrl: fc.oneof(fc.constant(undefined), fc.jsonValue()),
          })
          .map((v) => JSON.stringify(v)),
      );
      await fc.assert(
        fc.asyncProperty(body, async (text) => {
          const before = received.length;
          const { status, text: answer } = await post(socket, Buffer.from(text, 'latin1'));
          const parsed = parseRenewCommand(Buffer.from(text, 'latin1'));
          if (typeof parsed === 'string') {
            expect(status).toBe(400);
            expect(JSON.parse(answer)).toEqual({ error: parsed });
            expect(received.length).toBe(before);
          } else {
            expect(status).toBe(200);
            expect(received.at(-1)).toEqual(parsed);
            expect(parsed.names.every((n) => typeof n === 'string' && n.length > 0)).toBe(true);
          }
        }),
        fuzzOptions(RUNS),
      );
    },
    fuzzTimeout(RUNS, 50),
  );
});

describe('sendRenew against any daemon answer', () => {
  let dir: string;
  let socket: string;
  let server: Server;
  let answer: Buffer = Buffer.alloc(0);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-control-client-'));
    socket = join(dir, 'control.sock');
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        res.end(answer);
      });
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  const command: RenewCommand = { names: ['a.example'], force: false, dryRun: true };

  it('resolves with the outcomes of a well-formed answer', async () => {
    answer = Buffer.from(
      `${JSON.stringify({ type: 'progress', name: 'a.example', step: 'x' })}\n${JSON.stringify({ type: 'outcome', name: 'a.example', result: 'not_due' })}\n`,
    );
    const lines: unknown[] = [];
    await expect(sendRenew(socket, command, (l) => lines.push(l))).resolves.toEqual([
      { name: 'a.example', result: 'not_due' },
    ]);
    expect(lines).toHaveLength(2);
  });

  it('rejects a line that is not one of its own, or one cut short, with an Error', async () => {
    answer = Buffer.from('{"type":"outcome","name":"a"}\nnot json\n');
    await expect(sendRenew(socket, command, () => {})).rejects.toThrow(/not one of its control lines/);
    answer = Buffer.from('{"type":"outcome","name":"a"}\n{"type":"outc');
    await expect(sendRenew(socket, command, () => {})).rejects.toThrow(/a line cut short/);
  });

  it(
    'settles with outcomes or an Error for any bytes, and hands on only control lines',
    async () => {
      const bytes = fc.oneof(
        fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
        fc.array(jsonText, { maxLength: 5 }).map((lines) => Buffer.from(lines.map((l) => `${l}\n`).join(''))),
        fc
          .array(
            fc.record({
              type: fc.constantFrom('progress', 'outcome', 'error', 'other'),
              message: fc.oneof(fc.string(), fc.jsonValue()),
            }),
            { maxLength: 4 },
          )
          .map((lines) => Buffer.from(lines.map((l) => `${JSON.stringify(l)}\n`).join(''))),
      );
      await fc.assert(
        fc.asyncProperty(bytes, async (b) => {
          answer = b;
          const seen: unknown[] = [];
          const result = await sendRenew(socket, command, (l) => seen.push(l)).then(
            (v) => ({ ok: true as const, v }),
            (e: unknown) => ({ ok: false as const, e }),
          );
          if (!result.ok) expect(result.e).toBeInstanceOf(Error);
          for (const line of seen) expect(parseControlLine(JSON.stringify(line))).toEqual(line);
        }),
        fuzzOptions(RUNS),
      );
    },
    fuzzTimeout(RUNS, 50),
  );
});
