/**
 * The peer the bench compares wsfleet with: one Socket.IO 4 node, clustered over Redis with the
 * official @socket.io/redis-adapter, set up as its documentation recommends for production
 * (WebSocket transport only, no compression, no client bundle served). Clients `subscribe` to a
 * room and `publish` to a room; both events are acknowledged.
 *
 *   node socketio-node.mjs --host 127.0.0.1 --port 3000 --redis-url redis://127.0.0.1:6379 --node-name a
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    'redis-url': { type: 'string' },
    'node-name': { type: 'string', default: 'socketio' },
  },
});
const port = Number(values.port);
const redisUrl = values['redis-url'];
if (!Number.isInteger(port) || port < 1 || port > 65535 || redisUrl === undefined) {
  process.stderr.write(
    'usage: socketio-node --port <1-65535> --redis-url <url> [--host h] [--node-name n]\n',
  );
  process.exit(64);
}

const pubClient = new Redis(redisUrl);
const subClient = pubClient.duplicate();
let ready = false;

const http = createServer((req, res) => {
  if (req.url === '/healthz') {
    res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ok\n' : 'starting\n');
    return;
  }
  res.writeHead(404).end();
});

const io = new Server(http, {
  transports: ['websocket'],
  perMessageDeflate: false,
  httpCompression: false,
  serveClient: false,
  adapter: createAdapter(pubClient, subClient),
});

io.on('connection', (socket) => {
  socket.on('subscribe', (room: unknown, ack: unknown) => {
    if (typeof room === 'string') void socket.join(room);
    if (typeof ack === 'function') ack();
  });
  socket.on('publish', (room: unknown, data: unknown, ack: unknown) => {
    if (typeof room === 'string') io.to(room).emit('message', data);
    if (typeof ack === 'function') ack();
  });
});

await Promise.all([pubClient, subClient].map((c) => new Promise((resolve) => c.once('ready', resolve))));
http.listen(port, values.host, () => {
  ready = true;
  process.stdout.write(`${JSON.stringify({ msg: 'listening', node: values['node-name'], port })}\n`);
});

function shutdown(): void {
  // io.close() closes the clients and the HTTP server; the Redis clients go last.
  io.close(() => {
    pubClient.disconnect();
    subClient.disconnect();
    process.exit(0);
  });
  setTimeout(() => process.exit(1), 3_000).unref();
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
