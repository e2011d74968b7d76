/**
 * Redis the way Memorystore serves it with in-transit encryption and AUTH: a real redis-server
 * on a TLS port only, asking for a password. The broker trusts only the CA it is given (the
 * server is authenticated) and sends the AUTH string from a file.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Broker, BrokerListener } from '../../daemons/app/broker.ts';
import { createRedisBroker } from '../../daemons/app/redis-broker.ts';
import { redisConnectionOf } from '../../daemons/app/redis-connection.ts';
import { createLogger } from '../../daemons/shared/logger.ts';
import { type Authority, type CertFactory, createCertFactory } from '../helpers/certs.ts';
import { type RedisServer, startRedis } from '../helpers/redis.ts';
import { waitFor } from '../helpers/wait.ts';

const PASSWORD = 'a3f1c0de-memorystore-auth-string';
const WAIT_MS = 10_000;

let certs: CertFactory;
let ca: Authority;
let otherCa: Authority;
let redis: RedisServer;
let dir: string;
const brokers: Broker[] = [];

beforeAll(async () => {
  certs = await createCertFactory();
  dir = await mkdtemp(join(tmpdir(), 'wsfleet-redis-tls-'));
  ca = await certs.root('Memorystore Pretend Server CA');
  otherCa = await certs.root('Someone Else CA');
  const leaf = await certs.leaf(ca, ['127.0.0.1']);
  redis = await startRedis({ tls: leaf, password: PASSWORD, appendonly: false });
  await writeFile(join(dir, 'ca.pem'), ca.certPem);
  await writeFile(join(dir, 'other-ca.pem'), otherCa.certPem);
  await writeFile(join(dir, 'auth'), `${PASSWORD}\n`, { mode: 0o600 });
  await writeFile(join(dir, 'wrong-auth'), 'not-the-auth-string\n', { mode: 0o600 });
}, 30_000);

afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

afterAll(async () => {
  await redis?.stop();
  await certs?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

interface Node {
  readonly broker: Broker;
  readonly received: string[];
  readonly lines: Record<string, unknown>[];
  readonly started: Promise<void>;
}

function node(caFile: string, passwordFile: string, url = redis.url): Node {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({
    name: 'test',
    level: 'debug',
    destination: { write: (line: string) => void lines.push(JSON.parse(line)) },
  });
  const received: string[] = [];
  const listener: BrokerListener = {
    publication: (_channel, { payload }) => void received.push(payload.toString()),
    reset: () => undefined,
    health: () => undefined,
  };
  const connection = redisConnectionOf({
    redisUrl: url,
    redisCaFile: join(dir, caFile),
    redisPasswordFile: join(dir, passwordFile),
  });
  const broker = createRedisBroker({
    ...connection,
    limits: { historySize: 100, historyTtlMs: 60_000 },
    log,
  });
  brokers.push(broker);
  const started = broker.start(listener);
  started.catch(() => undefined);
  return { broker, received, lines, started };
}

/** The error of the broker's first "reconnecting" log line, once there is one. */
async function connectError(n: Node): Promise<Record<string, unknown>> {
  const line = await waitFor(
    () => n.lines.find((l) => l.msg === 'redis connection lost, reconnecting' && l.err !== undefined),
    WAIT_MS,
    'a failed connection to be logged',
  );
  return line.err as Record<string, unknown>;
}

describe('Redis broker over TLS with AUTH (Memorystore in-transit encryption)', () => {
  it('carries publications between nodes over rediss:// with the server CA and the AUTH string', async () => {
    const a = node('ca.pem', 'auth');
    const b = node('ca.pem', 'auth');
    await Promise.all([a.started, b.started]);
    expect(redis.url).toMatch(/^rediss:\/\//);
    await b.broker.subscribe('room');
    const { offset } = await a.broker.publish('room', '"over tls"');
    await waitFor(() => b.received.some((m) => m.includes('"over tls"')), WAIT_MS, 'the publication');
    expect(offset).toBe(1);
    expect(a.broker.healthy()).toBe(true);
    // The AUTH string is never in a log line.
    expect(JSON.stringify([...a.lines, ...b.lines])).not.toContain(PASSWORD);
  });

  it('refuses a server whose certificate another CA signed, and stays unhealthy', async () => {
    const n = node('other-ca.pem', 'auth');
    const err = await connectError(n);
    expect(String(err.code)).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
    expect(n.broker.healthy()).toBe(false);
    await expect(n.broker.publish('room', '"x"')).rejects.toMatchObject({
      code: 'WSFLEET_REDIS_UNAVAILABLE',
    });
  });

  it('refuses a server whose certificate names another address', async () => {
    const n = node('ca.pem', 'auth', redis.url.replace('127.0.0.1', 'localhost'));
    const err = await connectError(n);
    expect(err.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(n.broker.healthy()).toBe(false);
  });

  it('stays unhealthy with a wrong AUTH string, which it never logs', async () => {
    const n = node('ca.pem', 'wrong-auth');
    const err = await connectError(n);
    expect(String(err.message)).toMatch(/WRONGPASS|NOAUTH/);
    expect(n.broker.healthy()).toBe(false);
    expect(JSON.stringify(n.lines)).not.toContain('not-the-auth-string');
  });
});

/**
 * Memorystore's server certificate names the instance's IP as its subject's CN, and the app
 * connects by that IP: a certificate without an IP SAN (without any SAN) is taken when its CN is
 * the address connected to and its chain leads to the instance's own CA; Node's check alone
 * refuses it (ERR_TLS_CERT_ALTNAME_INVALID).
 */
describe('a server certificate that names its IP only as its CN (as Memorystore’s)', () => {
  const servers: RedisServer[] = [];

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  async function serverNamed(cn: string): Promise<RedisServer> {
    const leaf = await certs.leaf(ca, [cn], { san: false });
    const server = await startRedis({ tls: leaf, password: PASSWORD, appendonly: false });
    servers.push(server);
    return server;
  }

  it('connects when the CN is the address connected to and the chain is the instance CA’s', async () => {
    const server = await serverNamed('127.0.0.1');
    const n = node('ca.pem', 'auth', server.url);
    await waitFor(() => n.broker.healthy() || undefined, WAIT_MS, 'a connection to the server');
    await n.broker.subscribe('room');
    await n.broker.publish('room', '"cn only"');
    await waitFor(() => n.received.some((m) => m.includes('"cn only"')), WAIT_MS, 'the publication');
    expect(n.broker.healthy()).toBe(true);
  });

  it('refuses one whose CN is another address', async () => {
    const server = await serverNamed('10.30.0.3');
    const n = node('ca.pem', 'auth', server.url);
    const err = await connectError(n);
    expect(err.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(n.broker.healthy()).toBe(false);
  });

  it('refuses one whose CN is the address but whose chain another CA signed', async () => {
    const server = await serverNamed('127.0.0.1');
    const n = node('other-ca.pem', 'auth', server.url);
    const err = await connectError(n);
    expect(String(err.code)).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
    expect(n.broker.healthy()).toBe(false);
  });
});
