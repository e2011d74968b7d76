/**
 * A TCP port forward from the host's namespace into a lab network namespace. Node cannot enter
 * a namespace, but a listening socket stays in the namespace it was made in: the forward listens
 * here, starts `wsfleet lab forwarder` inside the namespace (`ip netns exec`) and hands it the
 * listening socket over IPC. The forwarder accepts on the host's port and connects to the target
 * from inside, from `sourceAddress` when given (a lab client address, say). It exits when this
 * process goes away, so nothing is left behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { LabError } from './errors.ts';
import type { ForwardReply, ForwardRequest } from './forwarder-command.ts';

export interface ForwardOptions {
  /** The network namespace the target is in (`ip netns` name). */
  readonly netns: string;
  /** Where connections go, as seen from inside the namespace. */
  readonly target: { readonly host: string; readonly port: number };
  /** The address inside the namespace that connections to the target come from. */
  readonly sourceAddress?: string;
  /** Where to listen in the host's namespace (default 127.0.0.1, a free port). */
  readonly listen?: { readonly host?: string; readonly port?: number };
  /** The wsfleet bundle (dist/wsfleet.js) that runs the child. */
  readonly bundle: string;
}

export interface Forward {
  readonly port: number;
  readonly host: string;
  /** Stops the forwarder (its connections are dropped) and waits until it has exited. */
  close(): Promise<void>;
}

/** Starting the forwarder is a node start plus one IPC round trip. */
const START_TIMEOUT_MS = 10_000;
/** The forwarder exits on disconnect at once; past this it is killed. */
const CLOSE_TIMEOUT_MS = 3_000;
const STDERR_KEPT = 4096;

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Sends the request with the listening socket; resolves when the forwarder says it is serving. */
function handOver(child: ChildProcess, server: Server, request: ForwardRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => done(new Error(`no answer within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    const onExit = (code: number | null, signal: string | null) =>
      done(new Error(`the forwarder exited (${signal ?? `code ${code}`}) before serving`));
    const onMessage = (reply: ForwardReply) =>
      done(reply.type === 'ready' ? undefined : new Error(`the forwarder refused: ${reply.message}`));
    function done(err?: Error): void {
      clearTimeout(timer);
      child.off('exit', onExit);
      child.off('error', done);
      child.off('message', onMessage);
      if (err === undefined) resolve();
      else reject(err);
    }
    child.on('exit', onExit);
    child.on('error', done);
    child.on('message', onMessage);
    // This process's copy is closed once sent: from then on only the forwarder accepts.
    child.send(request, server, (err) => {
      if (err) done(err);
      else server.close();
    });
  });
}

export async function startForward(o: ForwardOptions): Promise<Forward> {
  const host = o.listen?.host ?? '127.0.0.1';
  const what = `the forward from ${host}:${o.listen?.port ?? 0} to ${o.target.host}:${o.target.port} in ${o.netns}`;
  const server = createServer();
  // Nobody knows the port before startForward returns; anything accepted here meanwhile is dropped.
  server.on('connection', (socket) => socket.destroy());
  try {
    await listen(server, o.listen?.port ?? 0, host);
  } catch (err) {
    throw new LabError('WSFLEET_LAB_SERVICE', `${what} cannot listen: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const { port } = server.address() as AddressInfo;
  const child = spawn('ip', ['netns', 'exec', o.netns, process.execPath, o.bundle, 'lab', 'forwarder'], {
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
  });
  // Kept for the error while starting, passed through once serving.
  let stderr = '';
  let serving = false;
  child.stderr?.on('data', (chunk: Buffer) => {
    if (serving) process.stderr.write(chunk);
    else stderr = (stderr + chunk.toString()).slice(-STDERR_KEPT);
  });
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => child.pid === undefined && resolve());
  });
  const request: ForwardRequest = {
    type: 'forward',
    target: { host: o.target.host, port: o.target.port },
    ...(o.sourceAddress === undefined ? {} : { sourceAddress: o.sourceAddress }),
  };

  let closing: Promise<void> | undefined;
  function close(): Promise<void> {
    closing ??= (async () => {
      server.close();
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), CLOSE_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    })();
    return closing;
  }

  try {
    await handOver(child, server, request);
  } catch (err) {
    await close();
    const said = stderr.trim() === '' ? '' : `\n${stderr.trim()}`;
    throw new LabError('WSFLEET_LAB_SERVICE', `${what} did not start: ${(err as Error).message}${said}`, {
      cause: err,
    });
  }
  serving = true;
  return { port, host, close };
}
