/**
 * The lab's load balancer with the real haproxy, on loopback only: the VIP is 127.0.0.1, the
 * backends are stub servers on 127.0.0.11–13 and clients connect from 127.0.0.100–120 (all of
 * 127.0.0.0/8 is loopback on Linux). Each stub answers /healthz on the health port and, on the
 * data port, says its name and echoes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  checkHaproxyConfig,
  HEALTH_BACKEND,
  haproxyArgs,
  type LbBackend,
  type LbSettings,
  portBackend,
  reloadHaproxy,
  serverStates,
  setServerState,
  writeHaproxyConfig,
} from '../../scripts/lab/haproxy.ts';
import { freePort } from '../helpers/net.ts';
import { waitFor } from '../helpers/wait.ts';

const VIP = '127.0.0.1';
const BACKENDS: LbBackend[] = [
  { name: 'app-1', id: 1, address: '127.0.0.11' },
  { name: 'app-2', id: 2, address: '127.0.0.12' },
  { name: 'app-3', id: 3, address: '127.0.0.13' },
];
const SOURCES = Array.from({ length: 21 }, (_, i) => `127.0.0.${100 + i}`);

interface Stub {
  healthy: boolean;
  readonly servers: (Server | HttpServer)[];
}

function listen(server: Server | HttpServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

/** Connects from `source` and reads the backend's name; the socket stays open for echoes. */
async function dial(port: number, source: string): Promise<{ backend: string; socket: Socket }> {
  const socket = connect({ host: VIP, port, localAddress: source });
  socket.setTimeout(5_000, () => socket.destroy(new Error(`no answer from ${VIP}:${port} via ${source}`)));
  const [first] = (await once(socket, 'data')) as [Buffer];
  socket.setTimeout(0);
  return { backend: first.toString().trim(), socket };
}

async function backendFor(port: number, source: string): Promise<string> {
  const { backend, socket } = await dial(port, source);
  socket.destroy();
  return backend;
}

async function echo(socket: Socket, text: string): Promise<string> {
  socket.write(text);
  const [answer] = (await once(socket, 'data')) as [Buffer];
  return answer.toString();
}

describe('the lab load balancer (haproxy)', () => {
  const stubs = new Map<string, Stub>();
  let healthPort: number;
  let dataPort: number;
  let lbPort: number;
  let dir: string;
  let settings: LbSettings;
  let config: string;
  let haproxy: ChildProcess | undefined;
  let haproxyLog = '';
  const sockets: Socket[] = [];

  beforeAll(async () => {
    [healthPort, dataPort] = [await freePort(), await freePort()];
    for (const b of BACKENDS) {
      const stub: Stub = { healthy: true, servers: [] };
      const health = createHttpServer((req, res) => {
        res.writeHead(req.url === '/healthz' && stub.healthy ? 200 : 503).end();
      });
      const data = createServer((c) => {
        c.on('error', () => {});
        c.write(`${b.name}\n`);
        c.on('data', (d) => c.write(`${b.name}:${d}`));
      });
      stub.servers.push(health, data);
      await listen(health, healthPort, b.address);
      await listen(data, dataPort, b.address);
      stubs.set(b.name, stub);
    }
  });

  afterAll(async () => {
    for (const stub of stubs.values())
      for (const s of stub.servers) await new Promise((resolve) => s.close(resolve));
  });

  function settingsFor(backends: readonly LbBackend[]): LbSettings {
    return {
      vip: VIP,
      ports: [{ listen: lbPort, backend: dataPort }],
      healthPort,
      healthPath: '/healthz',
      healthIntervalMs: 200,
      backends,
      adminSocket: join(dir, 'admin.sock'),
      pidFile: join(dir, 'haproxy.pid'),
      stateFile: join(dir, 'server-state'),
    };
  }

  async function statusOf(backend: string, server: string): Promise<string | undefined> {
    return (await serverStates(settings.adminSocket)).find(
      (s) => s.backend === backend && s.server === server,
    )?.status;
  }

  beforeEach(async () => {
    for (const stub of stubs.values()) stub.healthy = true;
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-lb-'));
    lbPort = await freePort();
    settings = settingsFor(BACKENDS);
    config = join(dir, 'haproxy.cfg');
    await writeHaproxyConfig(config, settings);
    await checkHaproxyConfig(config);
    haproxyLog = '';
    const child = spawn('haproxy', haproxyArgs(config), { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (c: Buffer) => {
      haproxyLog += c.toString();
    });
    haproxy = child;
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`haproxy exited: ${haproxyLog}`);
        const states = await serverStates(settings.adminSocket);
        return states.filter((s) => s.status === 'UP').length === BACKENDS.length * 2;
      },
      10_000,
      'haproxy with every backend UP',
      50,
    );
  });

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    const child = haproxy;
    haproxy = undefined;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('lists every server of the health and port backends with its address and status', async () => {
    const states = await serverStates(settings.adminSocket);
    expect(states).toEqual(
      expect.arrayContaining([
        { backend: HEALTH_BACKEND, server: 'app-1', address: `127.0.0.11:${healthPort}`, status: 'UP' },
        {
          backend: portBackend(settings.ports[0] ?? { listen: 0, backend: 0 }),
          server: 'app-3',
          address: `127.0.0.13:${dataPort}`,
          status: 'UP',
        },
      ]),
    );
    expect(states).toHaveLength(6);
  });

  it('sends a client address to the same backend on every reconnect', async () => {
    for (const source of SOURCES.slice(0, 4)) {
      const first = await backendFor(lbPort, source);
      for (let i = 0; i < 4; i++) expect(await backendFor(lbPort, source)).toBe(first);
    }
  });

  it('spreads different client addresses over the backends', async () => {
    const used = new Set<string>();
    for (const source of SOURCES) used.add(await backendFor(lbPort, source));
    expect(used.size).toBeGreaterThan(1);
  });

  it('marks a backend whose /healthz answers 503 DOWN, avoids it, and takes it back when healthy', async () => {
    const victim = await backendFor(lbPort, '127.0.0.100');
    const stub = stubs.get(victim);
    if (stub === undefined) throw new Error(`unknown backend ${victim}`);
    stub.healthy = false;
    await waitFor(async () => (await statusOf(HEALTH_BACKEND, victim)) === 'DOWN', 5_000, `${victim} DOWN`);
    expect(await statusOf(portBackend({ listen: lbPort, backend: dataPort }), victim)).toMatch(/^DOWN/);
    for (const source of SOURCES) expect(await backendFor(lbPort, source)).not.toBe(victim);

    stub.healthy = true;
    await waitFor(async () => (await statusOf(HEALTH_BACKEND, victim)) === 'UP', 5_000, `${victim} UP again`);
    expect(await backendFor(lbPort, '127.0.0.100')).toBe(victim);
  });

  it('drains a backend: open connections stay, new ones go elsewhere, ready undoes it', async () => {
    const open = await dial(lbPort, '127.0.0.100');
    sockets.push(open.socket);
    await setServerState(settings.adminSocket, HEALTH_BACKEND, open.backend, 'drain');
    await waitFor(
      async () =>
        (await statusOf(portBackend(settings.ports[0] ?? { listen: 0, backend: 0 }), open.backend)) ===
        'DRAIN',
      5_000,
      'the port backend to follow the drain',
    );
    for (const source of SOURCES) expect(await backendFor(lbPort, source)).not.toBe(open.backend);
    expect(await echo(open.socket, 'still')).toBe(`${open.backend}:still`);

    await setServerState(settings.adminSocket, HEALTH_BACKEND, open.backend, 'ready');
    expect(await statusOf(HEALTH_BACKEND, open.backend)).toBe('UP');
    expect(await backendFor(lbPort, '127.0.0.100')).toBe(open.backend);
  });

  it('refuses an unknown server with haproxy’s answer', async () => {
    await expect(
      setServerState(settings.adminSocket, HEALTH_BACKEND, 'app-9', 'maint'),
    ).rejects.toMatchObject({
      code: 'WSFLEET_LAB_SERVICE',
      message: expect.stringContaining('No such server'),
    });
  });

  it('reloads a changed backend list on SIGUSR2, keeping open connections and admin states', async () => {
    const open = await dial(lbPort, '127.0.0.100');
    sockets.push(open.socket);
    const kept = BACKENDS.filter((b) => b.name !== open.backend);
    const [maintained] = kept;
    if (maintained === undefined) throw new Error('no backend left');
    await setServerState(settings.adminSocket, HEALTH_BACKEND, maintained.name, 'maint');

    settings = settingsFor(kept);
    await writeHaproxyConfig(config, settings);
    await reloadHaproxy(config, settings);
    await waitFor(
      async () => (await serverStates(settings.adminSocket)).length === kept.length * 2,
      10_000,
      'the new worker with the new backend list',
    );

    expect(await statusOf(HEALTH_BACKEND, maintained.name)).toBe('MAINT');
    expect(await echo(open.socket, 'across the reload')).toBe(`${open.backend}:across the reload`);
    for (const source of SOURCES) {
      const backend = await backendFor(lbPort, source);
      expect(backend).not.toBe(open.backend);
      expect(backend).not.toBe(maintained.name);
    }
  });

  it('leaves the running configuration alone when the new one is refused', async () => {
    await writeFile(config, 'global\n    no-such-keyword\n');
    await expect(reloadHaproxy(config, settings)).rejects.toMatchObject({
      code: 'WSFLEET_LAB_SERVICE',
      message: expect.stringContaining('no-such-keyword'),
    });
    expect(haproxy?.exitCode).toBeNull();
    expect(await backendFor(lbPort, '127.0.0.100')).toMatch(/^app-/);
  });
});
