/**
 * The floor of the comparison: a bare `ws` WebSocketServer. By default it accepts connections and
 * does nothing else — what a connection costs here is what any Node server built on `ws` pays.
 * With `--fanout` it is also the simplest possible one-room pub/sub on one node (a client sends
 * `subscribe`, any other text is sent to every subscriber), the floor of fan-out latency.
 *
 *   node ws-node.mjs --host 127.0.0.1 --port 3000 [--fanout]
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { type WebSocket, WebSocketServer } from 'ws';

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    fanout: { type: 'boolean', default: false },
  },
});
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write('usage: ws-node --port <1-65535> [--host h]\n');
  process.exit(64);
}

const http = createServer((req, res) => {
  res.writeHead(req.url === '/healthz' ? 200 : 404).end();
});
const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
const subscribers = new Set<WebSocket>();
wss.on('connection', (ws) => {
  ws.on('error', () => ws.terminate());
  // Without --fanout a connection has no other listener, so its memory is the bare minimum.
  if (!values.fanout) return;
  ws.on('close', () => subscribers.delete(ws));
  ws.on('message', (data, isBinary) => {
    const frame = data as Buffer;
    if (!isBinary && frame.length === 9 && frame.toString() === 'subscribe') {
      subscribers.add(ws);
      ws.send('subscribed');
      return;
    }
    for (const sub of subscribers) sub.send(frame, { binary: false });
  });
});

http.listen(port, values.host, () => {
  process.stdout.write(`${JSON.stringify({ msg: 'listening', port })}\n`);
});

function shutdown(): void {
  for (const ws of wss.clients) ws.terminate();
  wss.close();
  http.close(() => process.exit(0));
  setTimeout(() => process.exit(1), 3_000).unref();
}
process.once('SIGTERM', shutdown);
process.once('SIGINT', shutdown);
