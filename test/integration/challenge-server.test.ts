import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CHALLENGE_PATH,
  type ChallengeServer,
  createChallengeServer,
  inheritedFd,
} from '../../daemons/renewer/challenge-server.ts';
import { createLogger } from '../../daemons/shared/logger.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function memoryLog(level = 'debug') {
  const lines: Record<string, unknown>[] = [];
  const raw: string[] = [];
  const log = createLogger({
    name: 'challenge-server',
    level,
    destination: {
      write: (line: string) => {
        raw.push(line);
        lines.push(JSON.parse(line) as Record<string, unknown>);
      },
    },
  });
  return { log, lines, raw };
}

async function get(base: string, path: string, method = 'GET') {
  const res = await fetch(`${base}${path}`, { method, signal: AbortSignal.timeout(5_000) });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

describe('ChallengeServer', () => {
  const servers: ChallengeServer[] = [];
  const children: ChildProcess[] = [];

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  });

  async function started(level = 'debug', lookup?: (token: string) => Promise<string | undefined>) {
    const memory = memoryLog(level);
    const server = createChallengeServer({
      host: '127.0.0.1',
      port: 0,
      log: memory.log,
      ...(lookup === undefined ? {} : { lookup }),
    });
    servers.push(server);
    await server.start();
    const base = `http://127.0.0.1:${server.address()?.port}`;
    return { server, base, ...memory };
  }

  describe('#set', () => {
    it('serves the key authorization of a token as text/plain', async () => {
      const { server, base } = await started();
      server.set('tok_EN-123', 'tok_EN-123.thumbprint');
      const res = await get(base, `${CHALLENGE_PATH}tok_EN-123`);
      expect(res).toEqual({ status: 200, type: 'text/plain; charset=utf-8', body: 'tok_EN-123.thumbprint' });
    });

    it('answers HEAD like GET, without a body', async () => {
      const { server, base } = await started();
      server.set('tok', 'tok.thumb');
      const res = await get(base, `${CHALLENGE_PATH}tok`, 'HEAD');
      expect(res.status).toBe(200);
      expect(res.body).toBe('');
    });

    it('refuses a token that is not base64url', async () => {
      const { server } = await started();
      expect(() => server.set('../etc', 'x')).toThrow(/base64url/);
    });
  });

  describe('requests', () => {
    it.each([
      ['an unknown token', 'GET', `${CHALLENGE_PATH}unknown`],
      ['the challenge directory itself', 'GET', CHALLENGE_PATH],
      ['a path outside the challenge directory', 'GET', '/'],
      ['a token followed by more path', 'GET', `${CHALLENGE_PATH}tok/more`],
      ['a POST to a known token', 'POST', `${CHALLENGE_PATH}tok`],
    ])('answers %s with 404', async (_what, method, path) => {
      const { server, base } = await started();
      server.set('tok', 'tok.thumb');
      expect((await get(base, path, method)).status).toBe(404);
    });

    it('stops serving a token once removed', async () => {
      const { server, base } = await started();
      server.set('tok', 'tok.thumb');
      server.remove('tok');
      expect((await get(base, `${CHALLENGE_PATH}tok`)).status).toBe(404);
    });

    it('logs each request at debug, and never the key authorization', async () => {
      const { server, base, lines, raw } = await started();
      server.set('secretish-token', 'secretish-token.THUMBPRINT');
      await get(base, `${CHALLENGE_PATH}secretish-token`);
      await get(base, `${CHALLENGE_PATH}nope`);
      const requests = lines.filter(
        (l) => l.msg === 'challenge served' || l.msg === 'challenge request for nothing we serve',
      );
      expect(requests.map((l) => [l.level, l.status])).toEqual([
        ['debug', 200],
        ['debug', 404],
      ]);
      expect(raw.join('')).not.toContain('THUMBPRINT');
    });

    it('logs nothing per request at info', async () => {
      const { server, base, lines } = await started('info');
      server.set('tok', 'tok.thumb');
      await get(base, `${CHALLENGE_PATH}tok`);
      expect(lines.map((l) => l.msg)).toEqual(['challenge server listening']);
    });
  });

  describe('/livez (the autohealing check: the daemon answers, not the socket)', () => {
    async function withLive(live: () => boolean) {
      const memory = memoryLog();
      const server = createChallengeServer({ host: '127.0.0.1', port: 0, log: memory.log, live });
      servers.push(server);
      await server.start();
      return { server, base: `http://127.0.0.1:${server.address()?.port}` };
    }

    it('answers 200 while the daemon runs, 503 once it does not, and never looks it up', async () => {
      let running = true;
      const asked: string[] = [];
      const memory = memoryLog();
      const server = createChallengeServer({
        host: '127.0.0.1',
        port: 0,
        log: memory.log,
        live: () => running,
        lookup: async (token) => {
          asked.push(token);
          return undefined;
        },
      });
      servers.push(server);
      await server.start();
      const base = `http://127.0.0.1:${server.address()?.port}`;
      expect(await get(base, '/livez')).toEqual({
        status: 200,
        type: 'text/plain; charset=utf-8',
        body: 'ok\n',
      });
      expect((await get(base, '/livez', 'HEAD')).status).toBe(200);
      running = false;
      expect((await get(base, '/livez')).status).toBe(503);
      expect(asked).toEqual([]);
    });

    it.each([
      ['a POST', 'POST', '/livez'],
      ['more path', 'GET', '/livez/more'],
      ['another health path', 'GET', '/healthz'],
      ['the metrics path', 'GET', '/metrics'],
    ])('answers %s with 404', async (_what, method, path) => {
      const { base } = await withLive(() => true);
      expect((await get(base, path, method)).status).toBe(404);
    });

    it('is a 404 without a liveness source (a challenge server alone is not a daemon)', async () => {
      const { base } = await started();
      expect((await get(base, '/livez')).status).toBe(404);
    });
  });

  describe('lookup (answers another renewer of the store holds)', () => {
    it('serves a token it does not hold from the lookup, preferring its own answers', async () => {
      const asked: string[] = [];
      const shared = new Map([
        ['other', 'other.thumbprint'],
        ['mine', 'mine.from-the-store'],
      ]);
      const { server, base, lines } = await started('debug', async (token) => {
        asked.push(token);
        return shared.get(token);
      });
      server.set('mine', 'mine.thumbprint');
      expect((await get(base, `${CHALLENGE_PATH}other`)).body).toBe('other.thumbprint');
      expect((await get(base, `${CHALLENGE_PATH}mine`)).body).toBe('mine.thumbprint');
      expect((await get(base, `${CHALLENGE_PATH}nobody`)).status).toBe(404);
      // Not a token: never looked up.
      expect((await get(base, `${CHALLENGE_PATH}a.b`)).status).toBe(404);
      expect(asked).toEqual(['other', 'nobody']);
      expect(lines.find((l) => l.msg === 'challenge served' && l.shared === true)).toBeDefined();
    });

    it('answers 404 when the lookup fails, and says why in the log', async () => {
      const { base, lines } = await started('debug', async () => {
        throw new Error('store unreachable');
      });
      expect((await get(base, `${CHALLENGE_PATH}other`)).status).toBe(404);
      expect(lines.find((l) => l.msg === 'could not look up a challenge answer in the store')).toBeDefined();
    });
  });

  describe('#addProbe', () => {
    it('serves a fresh random value under a fresh token until removed', async () => {
      const { server, base } = await started();
      const a = server.addProbe();
      const b = server.addProbe();
      expect(a.token).not.toBe(b.token);
      expect(a.value).not.toBe(b.value);
      expect((await get(base, `${CHALLENGE_PATH}${a.token}`)).body).toBe(a.value);
      server.remove(a.token);
      expect((await get(base, `${CHALLENGE_PATH}${a.token}`)).status).toBe(404);
    });
  });

  describe('#start and #close', () => {
    it('are idempotent', async () => {
      const { server, base } = await started();
      await Promise.all([server.start(), server.start()]);
      await Promise.all([server.close(), server.close()]);
      await server.close();
      await expect(get(base, '/')).rejects.toThrow();
      await expect(server.start()).rejects.toThrow(/closed/);
    });

    it('closes before it was ever started', async () => {
      const server = createChallengeServer({ host: '127.0.0.1', port: 0, log: memoryLog().log });
      await server.close();
      expect(server.address()).toBeUndefined();
    });

    it('reports a port already taken, and may start again later', async () => {
      const { server: first } = await started();
      const port = first.address()?.port;
      const second = createChallengeServer({ host: '127.0.0.1', port, log: memoryLog().log });
      servers.push(second);
      await expect(second.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
      await first.close();
      await second.start();
      expect(second.address()?.port).toBe(port);
    });
  });

  describe('inheritedFd', () => {
    it.each([
      ['the sockets are ours', { LISTEN_PID: '42', LISTEN_FDS: '1' }, 3],
      ['several sockets were passed (the first is ours)', { LISTEN_PID: '42', LISTEN_FDS: '2' }, 3],
      ['they were meant for another process', { LISTEN_PID: '41', LISTEN_FDS: '1' }, undefined],
      ['LISTEN_PID is missing', { LISTEN_FDS: '1' }, undefined],
      ['LISTEN_FDS is missing', { LISTEN_PID: '42' }, undefined],
      ['LISTEN_FDS is 0', { LISTEN_PID: '42', LISTEN_FDS: '0' }, undefined],
      ['LISTEN_FDS is not a number', { LISTEN_PID: '42', LISTEN_FDS: 'x' }, undefined],
      ['LISTEN_PID is not a number', { LISTEN_PID: '42abc', LISTEN_FDS: '1' }, undefined],
    ])('when %s gives %s', (_what, env, fd) => {
      expect(inheritedFd(env, 42)).toBe(fd);
    });

    it('serves on a socket passed the way systemd passes it (fd 3, LISTEN_FDS, LISTEN_PID)', async () => {
      // python3 binds the socket, puts it at fd 3 and execs node in the same process, as systemd
      // does; node then finds it through LISTEN_FDS/LISTEN_PID.
      const child = spawn(
        'python3',
        [
          '-c',
          `
import os, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[1], sys.argv[1:])
`,
          process.execPath,
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          `
import { createChallengeServer, inheritedFd } from ${JSON.stringify(`${ROOT}daemons/renewer/challenge-server.ts`)};
import { createLogger } from ${JSON.stringify(`${ROOT}daemons/shared/logger.ts`)};
const fd = inheritedFd(process.env, process.pid);
const server = createChallengeServer({ fd, log: createLogger({ name: 'child', level: 'silent' }) });
server.set('inherited', 'inherited.thumbprint');
await server.start();
console.log(JSON.stringify({ fd }));
process.on('SIGTERM', () => server.close().then(() => process.exit(0)));
`,
        ],
        { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
      );
      children.push(child);
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
      const received: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`child not ready within 15 s: ${received.join('|')}`)),
          15_000,
        );
        lines.on('line', (line) => {
          received.push(line);
          if (received.length === 2) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
      });
      const [port, ready] = received;
      expect(JSON.parse(ready as string)).toEqual({ fd: 3 });
      const res = await get(`http://127.0.0.1:${port}`, `${CHALLENGE_PATH}inherited`);
      expect(res.body).toBe('inherited.thumbprint');

      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await Promise.race([
        exited,
        new Promise((_, reject) => setTimeout(() => reject(new Error('child did not exit')), 5_000)),
      ])) as [number | null];
      expect(code).toBe(0);
    });
  });
});
