/**
 * The demo page served at GET /, built on wsfleet/client: the node it is connected to, channels,
 * live messages, notices for missed messages, and the reconnect state. esbuild bundles it into
 * the page at build time (scripts/build.ts).
 *
 * Stable hooks for tests and for people building on it: #node, #session, #state[data-state],
 * #attempts, #channel-input, #subscribe-btn, #subscriptions li[data-channel][data-state],
 * #publish-channel, #publish-data, #publish-btn, #publish-status[data-kind], #notices
 * li[data-kind], #log li[data-channel][data-offset].
 */
import { connect, type Position, type Subscription, type WsfleetClient } from '../client/index.ts';
import { addChip, addMessage, els, notice, type SubscriptionChip, setState, status } from './view.ts';

const REASONS: Record<string, string> = {
  too_old: 'they are older than the history the server keeps',
  epoch_changed: 'the channel history was reset',
  unavailable: 'the history could not be read',
};

interface Entry {
  readonly chip: SubscriptionChip;
  sub: Subscription;
}

/** Subscriptions by channel; they outlive a client the user disconnects, with their positions. */
const entries = new Map<string, Entry>();
let client: WsfleetClient | undefined;
let attempts = 0;

function socketUrl(): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

function track(
  channel: string,
  chip: SubscriptionChip,
  from: Position | undefined,
  c: WsfleetClient,
): Subscription {
  const sub = c.subscribe(channel, from === undefined ? {} : { since: from.offset, epoch: from.epoch });
  sub.on('subscribed', ({ offset }) => {
    chip.setOffset(offset);
    chip.setLive(true);
  });
  sub.on('missed', (m) => {
    const why = m.reason === 'gap' ? 'offsets were skipped' : (REASONS[m.reason] ?? m.reason);
    notice(
      m.reason === 'gap' ? 'gap' : 'missed',
      `Missed messages on ${m.channel}: ${why}. Continuing from offset ${m.offset}.`,
      m.channel,
    );
  });
  sub.on('message', (m) => {
    chip.setOffset(m.offset);
    addMessage(m.channel, m.offset, m.data);
  });
  sub.on('error', (err) => {
    notice('error', `${err.code}: ${err.message} (${channel})`, channel);
    chip.remove();
    entries.delete(channel);
  });
  return sub;
}

function start(): void {
  const token = new URLSearchParams(location.search).get('token');
  const c = connect(socketUrl(), token === null || token === '' ? {} : { token });
  client = c;
  c.on('connecting', ({ attempt }) => {
    if (client !== c) return;
    setState('connecting', attempt > 0 ? `connecting (attempt ${attempt})` : 'connecting');
  });
  c.on('connected', ({ node, session }) => {
    if (client !== c) return;
    els.node.textContent = node;
    els.session.textContent = session;
    setState('open', 'connected');
    notice('info', `Connected to node ${node}.`);
  });
  c.on('disconnected', ({ code, reason, reconnectInMs }) => {
    if (client !== c) return;
    for (const entry of entries.values()) entry.chip.setLive(false);
    notice('info', `Disconnected (code ${code}${reason === '' ? '' : `, ${reason}`}).`);
    if (reconnectInMs === undefined) {
      setState('closed', 'disconnected');
      return;
    }
    const restarting = code === 1012 ? 'node restarting, ' : '';
    setState('waiting', `${restarting}reconnecting in ${(reconnectInMs / 1000).toFixed(1)} s`);
    attempts++;
    els.attempts.textContent = String(attempts);
  });
  c.on('error', (err) => {
    if (client === c) notice('error', `${err.code}: ${err.message}`);
  });
  for (const [channel, entry] of entries) entry.sub = track(channel, entry.chip, entry.sub.position, c);
}

function stop(): void {
  const c = client;
  client = undefined;
  c?.close();
  for (const entry of entries.values()) entry.chip.setLive(false);
  setState('closed', 'disconnected');
}

els.subscribeForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const channel = els.channel.value.trim();
  if (entries.has(channel)) {
    notice('info', `Already subscribed to ${channel}.`, channel);
    return;
  }
  if (client === undefined) {
    notice('error', 'Connect first.');
    return;
  }
  const chip = addChip(channel, () => {
    entries.get(channel)?.sub.unsubscribe();
    entries.delete(channel);
    chip.remove();
  });
  try {
    entries.set(channel, { chip, sub: track(channel, chip, undefined, client) });
  } catch (err) {
    chip.remove();
    notice('error', err instanceof Error ? err.message : String(err), channel);
  }
});

els.publishForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const channel = els.publishChannel.value.trim();
  const text = els.publishData.value;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    data = text; // not JSON: send it as a JSON string
  }
  if (client === undefined || client.state !== 'connected') {
    status('Not connected; publish again once connected.', 'error');
    return;
  }
  status('Publishing…', 'pending');
  client.publish(channel, data).then(
    ({ offset }) => status(`Published to ${channel} at offset ${offset}.`, 'ok'),
    (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      status(`Not published: ${message}`, 'error');
      notice('error', `${message} (${channel})`, channel);
    },
  );
});

els.connect.addEventListener('click', () => {
  if (client === undefined) start();
  else stop();
});

els.clear.addEventListener('click', () => {
  els.log.replaceChildren();
  els.logEmpty.hidden = false;
});

start();
