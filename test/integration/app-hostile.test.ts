/**
 * Requests that once ended the whole process, sent to the real entry point (the bundle, spawned
 * the way systemd runs it): the node must answer them and keep serving everyone else.
 */
import { connect as netConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type DaemonProcess, spawnApp, startApp } from '../helpers/app.ts';
import { freePort } from '../helpers/net.ts';
import { connect, op, type TestClient } from '../helpers/ws-client.ts';

/** Sends raw bytes and resolves with everything the server wrote before it closed. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString());
    }, 5_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString());
    });
    socket.write(text);
  });
}

function nested(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}

describe('wsfleet app run under hostile requests', () => {
  const daemons: DaemonProcess[] = [];
  const clients: TestClient[] = [];

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(daemons.splice(0).map((d) => d.stop('SIGKILL')));
  });

  it('answers an upgrade for GET // with 404 and keeps serving', async () => {
    const port = await freePort();
    const daemon = await spawnApp(port);
    daemons.push(daemon);
    const bystander = await connect(daemon.url);
    clients.push(bystander);
    await bystander.next(op('welcome'));
    const answer = await rawRequest(
      port,
      'GET // HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 404 /);
    expect(daemon.child.exitCode).toBeNull();
    expect((await fetch(`${daemon.http}/healthz`)).status).toBe(200);
    bystander.send({ op: 'ping', id: 1 });
    expect(await bystander.next(op('pong'))).toEqual({ op: 'pong', id: 1 });
  });

  it('refuses a publish nested 5000 deep with data_too_deep and keeps serving', async () => {
    const port = await freePort();
    const daemon = await spawnApp(port);
    daemons.push(daemon);
    const attacker = await connect(daemon.url);
    const bystander = await connect(daemon.url);
    clients.push(attacker, bystander);
    await attacker.next(op('welcome'));
    await bystander.next(op('welcome'));
    const frame = `{"op":"publish","channel":"c","id":7,"data":${nested(5000)}}`;
    expect(frame.length).toBeLessThan(65_536);
    attacker.ws.send(frame);
    expect(await attacker.next(op('error'))).toMatchObject({ code: 'data_too_deep', id: 7 });
    expect(daemon.child.exitCode).toBeNull();
    expect((await fetch(`${daemon.http}/healthz`)).status).toBe(200);
    bystander.send({ op: 'ping', id: 2 });
    expect(await bystander.next(op('pong'))).toEqual({ op: 'pong', id: 2 });
  });
});

describe('app close with half-open sockets', () => {
  it('closes although a client whose upgrade was refused keeps its side open', async () => {
    const app = await startApp(['--drain-seconds', '0.2']);
    // allowHalfOpen: the client keeps its side open after the server's FIN, as a peer that
    // vanished or a hostile one does.
    const socket = netConnect({ port: app.port, host: '127.0.0.1', allowHalfOpen: true });
    try {
      const answered = new Promise<string>((resolve) =>
        socket.once('data', (c: Buffer) => resolve(c.toString())),
      );
      socket.write(
        'GET /not-ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
          'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
      );
      expect(await answered).toMatch(/^HTTP\/1\.1 404 /);
      // The client never ends its side; close() must not wait for it.
      await app.close();
    } finally {
      socket.destroy();
    }
  });
});
