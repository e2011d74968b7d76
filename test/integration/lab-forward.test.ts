/**
 * The lab's port forward into a network namespace, with a real namespace (made and deleted here;
 * its addresses exist only inside it) and a target server running in it. Needs root.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Forward, startForward } from '../../scripts/lab/forward.ts';
import { BUNDLE, spawnCli } from '../helpers/app.ts';
import { waitFor } from '../helpers/wait.ts';

const NETNS = `wsfleet-tfwd-${process.pid}`;
const TARGET = { host: '10.250.0.1', port: 7000 };
const SOURCE = '10.250.0.2';

// The target: says which address each connection came from, answers `echo:` + what it got, and
// after the client's end sends `bye` and ends too (half-close both ways).
const ECHO = `
const net = require('node:net');
net.createServer({ allowHalfOpen: true }, (c) => {
  process.stdout.write(JSON.stringify({ peer: c.remoteAddress }) + '\\n');
  c.on('data', (d) => c.write('echo:' + d));
  c.on('end', () => c.end('bye'));
}).listen(${TARGET.port}, '${TARGET.host}', () => process.stdout.write('listening\\n'));
`;

async function ipIn(args: string[]): Promise<void> {
  await execa('ip', args, { timeout: 10_000 });
}

/** Connects, sends `data`, half-closes, and collects everything until the far end closes. */
async function exchange(port: number, data: string): Promise<string> {
  const socket: Socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    // Half-close once the answer is in: the target's `bye` then proves the end came through.
    if (Buffer.concat(chunks).toString() === `echo:${data}`) socket.end();
  });
  socket.write(data);
  await Promise.race([
    once(socket, 'end'),
    new Promise((_, reject) => setTimeout(() => reject(new Error('no end within 5 s')), 5_000)),
  ]);
  socket.destroy();
  return Buffer.concat(chunks).toString();
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

async function pidsIn(netns: string): Promise<number[]> {
  const { stdout } = await execa('ip', ['netns', 'pids', netns], { timeout: 10_000 });
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number);
}

describe('startForward', () => {
  let target: ChildProcess | undefined;
  const peers: string[] = [];

  beforeAll(async () => {
    await ipIn(['netns', 'add', NETNS]);
    await ipIn(['-n', NETNS, 'link', 'set', 'lo', 'up']);
    await ipIn(['-n', NETNS, 'addr', 'add', `${TARGET.host}/32`, 'dev', 'lo']);
    await ipIn(['-n', NETNS, 'addr', 'add', `${SOURCE}/32`, 'dev', 'lo']);
    const echo = spawn('ip', ['netns', 'exec', NETNS, process.execPath, '-e', ECHO], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    target = echo;
    let listening = false;
    echo.stdout?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (line === 'listening') listening = true;
        else if (line.startsWith('{')) peers.push((JSON.parse(line) as { peer: string }).peer);
      }
    });
    await waitFor(() => listening, 10_000, 'the target server in the namespace');
  });

  afterAll(async () => {
    if (target !== undefined && target.exitCode === null) {
      target.kill('SIGKILL');
      await once(target, 'exit');
    }
    await execa('ip', ['netns', 'delete', NETNS], { reject: false, timeout: 10_000 });
  });

  it('carries data both ways from the source address asked for, half-close included', async () => {
    const forward = await startForward({
      netns: NETNS,
      target: TARGET,
      sourceAddress: SOURCE,
      bundle: BUNDLE,
    });
    try {
      expect(forward.host).toBe('127.0.0.1');
      peers.length = 0;
      expect(await exchange(forward.port, 'ping')).toBe('echo:pingbye');
      expect(await exchange(forward.port, 'again')).toBe('echo:againbye');
      expect(peers).toEqual([SOURCE, SOURCE]);
    } finally {
      await forward.close();
    }
  });

  it('refuses the port once closed, and its forwarder has exited', async () => {
    const forward: Forward = await startForward({ netns: NETNS, target: TARGET, bundle: BUNDLE });
    expect(await pidsIn(NETNS)).toHaveLength(2);
    // An open connection does not hold the close up.
    const open = connect({ host: '127.0.0.1', port: forward.port });
    open.on('error', () => {});
    await once(open, 'connect');
    const started = Date.now();
    await forward.close();
    expect(Date.now() - started).toBeLessThan(3_000);
    await forward.close();
    expect(await refused(forward.port)).toBe(true);
    expect(await pidsIn(NETNS)).toEqual([target?.pid]);
    open.destroy();
  });

  it('drops a connection whose target refuses it', async () => {
    const forward = await startForward({
      netns: NETNS,
      target: { host: TARGET.host, port: 7001 },
      bundle: BUNDLE,
    });
    try {
      const socket = connect({ host: '127.0.0.1', port: forward.port });
      await once(socket, 'close');
    } finally {
      await forward.close();
    }
  });

  it('fails with WSFLEET_LAB_SERVICE for a namespace that does not exist', async () => {
    await expect(
      startForward({ netns: `${NETNS}-missing`, target: TARGET, bundle: BUNDLE }),
    ).rejects.toMatchObject({
      code: 'WSFLEET_LAB_SERVICE',
      message: expect.stringContaining('did not start'),
    });
  });
});

describe('wsfleet lab forwarder', () => {
  it('exits 64 when started without an IPC channel', async () => {
    const p = spawnCli(['lab', 'forwarder']);
    const { code } = await p.exited;
    expect(code).toBe(64);
    expect(p.stderr.join('')).toContain('needs the IPC channel');
  });

  it('exits when the process that started it goes away', async () => {
    const child = spawn(process.execPath, [BUNDLE, 'lab', 'forwarder'], {
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const exited = once(child, 'exit');
    await waitFor(() => child.connected, 5_000, 'the IPC channel');
    child.disconnect();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    const [code] = await exited;
    clearTimeout(timer);
    expect(code).toBe(0);
  });
});
