import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { textFrame } from '../../daemons/app/frame.ts';

describe('#textFrame', () => {
  let server: Server;
  let port: number;
  const wss = new WebSocketServer({ noServer: true });
  let sendRaw: (socket: Duplex) => void = () => {};

  beforeAll(async () => {
    server = createServer();
    server.on('upgrade', (req, socket, head) => wss.handleUpgrade(req, socket, head, () => sendRaw(socket)));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    wss.close();
    await new Promise((r) => server.close(r));
  });

  /** What a real ws client makes of our bytes written straight to the socket. */
  function receive(frame: Buffer): Promise<string> {
    sendRaw = (socket) => socket.write(frame);
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}`);
      ws.on('message', (data, isBinary) => {
        ws.terminate();
        if (isBinary) reject(new Error('binary frame'));
        else resolve(data.toString());
      });
      ws.on('error', reject);
    });
  }

  it.each([0, 1, 125, 126, 127, 65535, 65536, 200_000])(
    'frames a %d-byte payload that ws parses back',
    async (n) => {
      const payload = Buffer.from('é'.repeat(Math.floor(n / 2)) + 'x'.repeat(n % 2));
      expect(payload.length).toBe(n);
      expect(await receive(textFrame(payload))).toBe(payload.toString());
    },
  );

  it('uses the shortest length encoding', () => {
    expect(textFrame(Buffer.alloc(125)).length).toBe(127);
    expect(textFrame(Buffer.alloc(126)).length).toBe(130);
    expect(textFrame(Buffer.alloc(65536)).length).toBe(65546);
  });
});
