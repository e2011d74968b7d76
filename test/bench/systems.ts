/**
 * The systems under test and how to start one node of each: every node is a plain `node` process
 * with the same flags (an inspector on a loopback port for GC and profiles), its output in a log
 * file, ready when `GET /healthz` answers 200.
 */
import { DIALECTS, type DialectName } from './dialects.ts';
import { freePort, type Spawned, spawnLogged, stopProcess, waitHealthy } from './processes.ts';

export const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 20_000;

export interface ServerNode {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  readonly inspectorPort: number;
  readonly logFile: string;
  stop(): Promise<void>;
}

export interface System {
  readonly id: 'wsfleet' | 'socketio' | 'ws';
  readonly label: string;
  readonly dialect: DialectName;
  /** False for the raw `ws` reference: one node, no cluster, so no cross-node runs. */
  readonly hasChannels: boolean;
  startNode(name: string, redisUrl: string, logDir: string): Promise<ServerNode>;
}

/** The WebSocket URL clients of `system` use to reach `node`. */
export function nodeUrl(system: System, node: ServerNode): string {
  return DIALECTS[system.dialect].url(HOST, node.port);
}

async function startNode(
  name: string,
  script: string,
  args: (port: number) => string[],
  logDir: string,
): Promise<ServerNode> {
  const port = await freePort(HOST);
  const inspectorPort = await freePort(HOST);
  const logFile = `${logDir}/${name}.log`;
  const spawned: Spawned = spawnLogged(
    process.execPath,
    [`--inspect=${HOST}:${inspectorPort}`, script, ...args(port)],
    logFile,
  );
  try {
    await waitHealthy(spawned, HOST, port, READY_TIMEOUT_MS);
  } catch (err) {
    await stopProcess(spawned.child);
    throw new Error(`${name} did not start: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { name, port, pid: spawned.pid, inspectorPort, logFile, stop: () => stopProcess(spawned.child) };
}

/** `extraArgs` go after the bench's own flags (the rotation run adds `--api-key`). */
export function wsfleetSystem(bundle: string, extraArgs: readonly string[] = []): System {
  return {
    id: 'wsfleet',
    label: 'wsfleet',
    dialect: 'wsfleet',
    hasChannels: true,
    startNode: (name, redisUrl, logDir) =>
      startNode(
        name,
        bundle,
        (port) => [
          'app',
          'run',
          '--host',
          HOST,
          '--port',
          String(port),
          '--redis-url',
          redisUrl,
          '--node-name',
          name,
          // The bench's own limits must not be what it measures.
          '--max-connections',
          '1000000',
          '--rate-limit',
          '1000000',
          '--rate-burst',
          '1000000',
          // Only shutdown waits on it: the bench has closed its clients by then.
          '--drain-seconds',
          '1',
          ...extraArgs,
        ],
        logDir,
      ),
  };
}

export function socketioSystem(script: string): System {
  return {
    id: 'socketio',
    label: 'Socket.IO 4 + redis-adapter',
    dialect: 'socketio',
    hasChannels: true,
    startNode: (name, redisUrl, logDir) =>
      startNode(
        name,
        script,
        (port) => ['--host', HOST, '--port', String(port), '--redis-url', redisUrl, '--node-name', name],
        logDir,
      ),
  };
}

/** `fanout` starts it as the one-node pub/sub floor of latency rather than the memory floor. */
export function wsSystem(script: string, fanout = false): System {
  return {
    id: 'ws',
    label: fanout ? 'raw ws broadcast (floor)' : 'raw ws (floor)',
    dialect: 'ws',
    hasChannels: false,
    startNode: (name, _redisUrl, logDir) =>
      startNode(
        name,
        script,
        (port) => ['--host', HOST, '--port', String(port), ...(fanout ? ['--fanout'] : [])],
        logDir,
      ),
  };
}
