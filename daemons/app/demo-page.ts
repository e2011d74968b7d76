/**
 * The demo page served at GET /: one self-contained HTML document (inline CSS and JS, nothing
 * fetched) that fits the CSP http-api.ts sends. It is also the reference browser client of the
 * protocol: it resumes every subscription from its last offset after a reconnect, so people can
 * copy its connection logic.
 *
 * Stable hooks for tests and for people building on it: #node, #session, #state[data-state],
 * #attempts, #channel-input, #subscribe-btn, #subscriptions li[data-channel][data-state],
 * #publish-channel, #publish-data, #publish-btn, #publish-status, #notices li[data-kind],
 * #log li[data-channel][data-offset].
 */

const STYLE = `
:root {
  color-scheme: light dark;
  --bg: #f6f7f9; --panel: #fff; --text: #1c2330; --muted: #5b6576; --border: #d8dde5;
  --accent: #2458d3; --accent-text: #fff; --ok: #137a3a; --warn: #9a5b00; --bad: #b3261e;
  --ok-bg: #e3f4e8; --warn-bg: #fff2d6; --bad-bg: #fde7e5; --code-bg: #f0f2f5;
  font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #12151b; --panel: #1b2029; --text: #e6e9ef; --muted: #9aa4b5; --border: #2e3644;
    --accent: #7aa2ff; --accent-text: #0b1020; --ok: #6fd69a; --warn: #f3c06b; --bad: #ff8d85;
    --ok-bg: #16301f; --warn-bg: #3a2c10; --bad-bg: #3d1a18; --code-bg: #141820;
  }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); }
header, main { max-width: 68rem; margin: 0 auto; padding: 1rem; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: .75rem 1.5rem; }
h1 { font-size: 1.4rem; margin: 0; }
h1 span { color: var(--muted); font-weight: 400; }
h2 { font-size: 1.05rem; margin: 0 0 .75rem; }
.status { display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; margin: 0; flex: 1 1 22rem; }
.status div { display: flex; gap: .4rem; align-items: baseline; }
.status dt { color: var(--muted); font-size: .85rem; }
.status dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
#session { font-weight: 400; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .85rem; }
#state { padding: .05rem .55rem; border-radius: 999px; font-size: .85rem; background: var(--warn-bg); color: var(--warn); }
#state[data-state="open"] { background: var(--ok-bg); color: var(--ok); }
#state[data-state="closed"] { background: var(--code-bg); color: var(--muted); }
main { display: grid; gap: 1rem; grid-template-columns: 1fr; padding-top: 0; }
@media (min-width: 48rem) { main { grid-template-columns: 1fr 1fr; } .wide { grid-column: 1 / -1; } }
section { background: var(--panel); border: 1px solid var(--border); border-radius: .6rem; padding: 1rem; min-width: 0; }
label { display: block; font-size: .85rem; color: var(--muted); margin: 0 0 .25rem; }
input, textarea, button { font: inherit; color: inherit; }
input, textarea {
  width: 100%; padding: .5rem .6rem; border: 1px solid var(--border); border-radius: .4rem; background: var(--bg);
}
textarea { resize: vertical; min-height: 4.5rem; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .9rem; }
button {
  padding: .5rem .9rem; border: 1px solid var(--accent); border-radius: .4rem; background: var(--accent);
  color: var(--accent-text); cursor: pointer; white-space: nowrap;
}
button.secondary { background: transparent; color: var(--accent); }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.row { display: flex; gap: .5rem; }
.field { margin-bottom: .75rem; }
.hint { margin: .25rem 0 0; font-size: .8rem; color: var(--muted); }
.actions { display: flex; flex-wrap: wrap; align-items: center; gap: .75rem; }
output { font-size: .85rem; color: var(--muted); }
output[data-kind="error"] { color: var(--bad); }
.section-head { display: flex; justify-content: space-between; align-items: center; gap: 1rem; margin-bottom: .75rem; }
.section-head h2 { margin: 0; }
ul, ol { list-style: none; margin: 0; padding: 0; }
#subscriptions { display: flex; flex-wrap: wrap; gap: .5rem; margin-top: .75rem; }
#subscriptions li {
  display: flex; align-items: center; gap: .4rem; padding: .2rem .25rem .2rem .7rem; border-radius: 999px;
  border: 1px solid var(--border); background: var(--bg); font-size: .9rem; max-width: 100%;
}
#subscriptions li[data-state="pending"] { border-style: dashed; color: var(--muted); }
#subscriptions .name { font-weight: 600; overflow-wrap: anywhere; }
#subscriptions .pos { color: var(--muted); font-size: .8rem; white-space: nowrap; }
#subscriptions button { padding: .1rem .5rem; border-radius: 999px; line-height: 1.2; }
.empty { color: var(--muted); font-size: .9rem; margin: .5rem 0 0; }
#notices li, #log li { display: grid; gap: .1rem .75rem; padding: .45rem .6rem; border-top: 1px solid var(--border); }
#notices li:first-child, #log li:first-child { border-top: 0; }
#notices li { grid-template-columns: auto 1fr; align-items: baseline; font-size: .9rem; }
#notices li[data-kind="missed"], #notices li[data-kind="gap"] { background: var(--warn-bg); color: var(--warn); border-radius: .3rem; }
#notices li[data-kind="error"] { background: var(--bad-bg); color: var(--bad); border-radius: .3rem; }
#log li { grid-template-columns: auto auto 1fr; align-items: baseline; }
time, .offset { color: var(--muted); font-size: .8rem; font-variant-numeric: tabular-nums; }
.channel { font-weight: 600; font-size: .85rem; overflow-wrap: anywhere; min-width: 0; }
.data {
  grid-column: 1 / -1; margin: 0; padding: .35rem .5rem; background: var(--code-bg); border-radius: .3rem;
  font: .85rem/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space: pre-wrap; overflow-wrap: anywhere;
}
@media (min-width: 36rem) { #log li { grid-template-columns: 5.5rem 7rem 4rem 1fr; } .data { grid-column: auto; } }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
`;

/*
 * The client: plain browser JS, kept free of backticks, ${ and backslashes so that it sits in a
 * template literal unchanged.
 * Every server-supplied value reaches the DOM through textContent or dataset, never as HTML.
 */
const SCRIPT = `
'use strict';
// Reconnect schedule: full jitter (a uniform delay up to min(cap, base * 2^attempt)), so that the
// clients of a failed node do not come back in waves. A connection that stays up STABLE_MS resets it.
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15000;
const STABLE_MS = 10000;
// Close code 1012: the node is restarting or draining; come back soon, spread over this window.
const RESTART_SPREAD_MS = 1000;
const LOG_LIMIT = 200;
const NOTICE_LIMIT = 50;
const REASONS = {
  too_old: 'they are older than the history the server keeps',
  epoch_changed: 'the channel history was reset',
  unavailable: 'the history could not be read',
};

const $ = (id) => document.getElementById(id);
const els = {
  node: $('node'), session: $('session'), state: $('state'), attempts: $('attempts'), connect: $('connect-btn'),
  subscribeForm: $('subscribe-form'), channel: $('channel-input'), subs: $('subscriptions'), subsEmpty: $('subs-empty'),
  publishForm: $('publish-form'), publishChannel: $('publish-channel'), publishData: $('publish-data'),
  publishStatus: $('publish-status'), notices: $('notices'), log: $('log'), logEmpty: $('log-empty'), clear: $('clear-btn'),
};

// channel -> { epoch, offset, live, el, posEl }: where each subscription resumes after a reconnect.
const subs = new Map();
// request id -> { kind: 'subscribe' | 'publish', channel }, for acks and errors.
const requests = new Map();
let ws = null;
let open = false;            // welcome received on the current socket
let wanted = true;           // false after the user pressed Disconnect
let attempt = 0;             // failed connects since the last stable connection
let totalAttempts = 0;
let nextId = 1;
let pingIntervalMs = 25000;
let awaitingPong = false;
let reconnectTimer = 0;
let stableTimer = 0;
let heartbeatTimer = 0;

function socketUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const token = new URLSearchParams(location.search).get('token');
  return scheme + '//' + location.host + '/ws' + (token ? '?token=' + encodeURIComponent(token) : '');
}

function setState(state, text) {
  els.state.dataset.state = state;
  els.state.textContent = text;
  els.connect.textContent = state === 'closed' ? 'Connect' : 'Disconnect';
}

function send(frame) {
  if (ws === null || ws.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(frame));
  return true;
}

function connect() {
  clearTimeout(reconnectTimer);
  setState('connecting', attempt > 0 ? 'connecting (attempt ' + attempt + ')' : 'connecting');
  let socket;
  try {
    socket = new WebSocket(socketUrl(), 'wsfleet');
  } catch (err) {
    notice('error', 'Cannot open a WebSocket: ' + err.message);
    setState('closed', 'disconnected');
    return;
  }
  ws = socket;
  socket.onmessage = (event) => { if (ws === socket) onFrame(event.data); };
  socket.onclose = (event) => { if (ws === socket) onClosed(event.code, event.reason); };
  // An error event is always followed by close, which handles it.
}

function onClosed(code, reason) {
  const wasOpen = open;
  ws = null;
  open = false;
  clearTimeout(stableTimer);
  clearInterval(heartbeatTimer);
  for (const sub of subs.values()) setLive(sub, false);
  for (const [id, req] of requests) {
    if (req.kind === 'publish') notice('error', 'Connection lost before the publish to ' + req.channel + ' was acknowledged; it may not have been delivered.');
    requests.delete(id);
  }
  if (wasOpen) notice('info', 'Disconnected (code ' + code + (reason ? ', ' + reason : '') + ').');
  if (!wanted) {
    setState('closed', 'disconnected');
    return;
  }
  const delay = code === 1012
    ? Math.random() * RESTART_SPREAD_MS
    : Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt);
  attempt++;
  setState('waiting', (code === 1012 ? 'node restarting, ' : '') + 'reconnecting in ' + (delay / 1000).toFixed(1) + ' s');
  reconnectTimer = setTimeout(() => {
    totalAttempts++;
    els.attempts.textContent = String(totalAttempts);
    connect();
  }, delay);
}

/** Drops a socket that stopped answering without waiting for a close handshake that will not come. */
function abandon(reason) {
  const socket = ws;
  if (socket === null) return;
  socket.onmessage = socket.onclose = null;
  socket.close(4000, reason);
  onClosed(4000, reason);
}

function startHeartbeat() {
  // Any frame counts as an answer. Background tabs throttle timers, so only a ping left
  // unanswered for a whole interval means the connection is gone, never elapsed time alone.
  awaitingPong = false;
  heartbeatTimer = setInterval(() => {
    if (awaitingPong) { abandon('no answer to ping'); return; }
    awaitingPong = send({ op: 'ping' });
  }, pingIntervalMs);
}

function onFrame(text) {
  awaitingPong = false;
  let frame;
  try {
    frame = JSON.parse(text);
  } catch {
    notice('error', 'The server sent a frame that is not JSON.');
    return;
  }
  if (frame === null || typeof frame !== 'object') return;
  switch (frame.op) {
    case 'welcome': onWelcome(frame); break;
    case 'subscribed': onSubscribed(frame); break;
    case 'message': onMessage(frame); break;
    case 'ack': onAck(frame); break;
    case 'error': onError(frame); break;
    default: break; // pong, unsubscribed, and ops this page does not know yet
  }
}

function onWelcome(frame) {
  open = true;
  els.node.textContent = String(frame.node);
  els.session.textContent = String(frame.session);
  if (typeof frame.pingInterval === 'number' && frame.pingInterval > 0) pingIntervalMs = frame.pingInterval * 1000;
  setState('open', 'connected');
  notice('info', 'Connected to node ' + frame.node + '.');
  startHeartbeat();
  stableTimer = setTimeout(() => { attempt = 0; }, STABLE_MS);
  for (const [channel, sub] of subs) subscribe(channel, sub);
}

function subscribe(channel, sub) {
  const id = 's' + nextId++;
  const frame = { op: 'subscribe', channel: channel, id: id };
  // Resume: the server replays what came after our offset in the same epoch, then goes live.
  if (sub.offset !== null) {
    frame.since = sub.offset;
    if (sub.epoch !== null) frame.epoch = sub.epoch;
  }
  if (send(frame)) requests.set(id, { kind: 'subscribe', channel: channel });
}

function onSubscribed(frame) {
  requests.delete(frame.id);
  const sub = subs.get(frame.channel);
  if (sub === undefined) return; // unsubscribed meanwhile
  if (frame.recovered === false) {
    notice('missed', 'Missed messages on ' + frame.channel + ': ' + (REASONS[frame.reason] || frame.reason || 'unknown reason') +
      '. Continuing from offset ' + frame.offset + '.', frame.channel);
  }
  sub.epoch = frame.epoch;
  sub.offset = frame.offset;
  sub.posEl.textContent = '@' + frame.offset;
  setLive(sub, true);
}

function onMessage(frame) {
  const sub = subs.get(frame.channel);
  if (sub === undefined || typeof frame.offset !== 'number') return;
  if (sub.offset !== null) {
    if (frame.offset <= sub.offset) return; // already shown
    if (frame.offset > sub.offset + 1) {
      notice('gap', 'Offsets ' + (sub.offset + 1) + '–' + (frame.offset - 1) + ' on ' + frame.channel + ' never arrived.', frame.channel);
    }
  }
  sub.offset = frame.offset;
  sub.posEl.textContent = '@' + frame.offset;
  addMessage(frame.channel, frame.offset, frame.data);
}

function onAck(frame) {
  requests.delete(frame.id);
  status('Published to ' + frame.channel + ' at offset ' + frame.offset + '.', 'ok');
}

function onError(frame) {
  const req = frame.id === undefined ? undefined : requests.get(frame.id);
  requests.delete(frame.id);
  const channel = frame.channel || (req && req.channel);
  notice('error', frame.code + ': ' + frame.message + (channel ? ' (' + channel + ')' : ''), channel);
  if (req && req.kind === 'publish') status('Not published: ' + frame.message, 'error');
  if (req && req.kind === 'subscribe' && subs.has(req.channel)) {
    if (frame.code === 'subscribe_failed') {
      // The broker was briefly unreachable: try again shortly, still from the same offset.
      setTimeout(() => { const sub = subs.get(req.channel); if (open && sub && !sub.live) subscribe(req.channel, sub); },
        1000 + Math.random() * 2000);
    } else {
      removeSub(req.channel); // forbidden, too many channels: retrying will not help
    }
  }
}

function addSub(channel) {
  const el = document.createElement('li');
  const name = document.createElement('span');
  const posEl = document.createElement('span');
  const remove = document.createElement('button');
  el.dataset.channel = channel;
  name.className = 'name';
  name.textContent = channel;
  posEl.className = 'pos';
  remove.type = 'button';
  remove.className = 'secondary';
  remove.textContent = '×';
  remove.setAttribute('aria-label', 'Unsubscribe from ' + channel);
  remove.addEventListener('click', () => {
    removeSub(channel);
    send({ op: 'unsubscribe', channel: channel });
    els.channel.focus();
  });
  el.append(name, posEl, remove);
  els.subs.append(el);
  els.subsEmpty.hidden = true;
  const sub = { epoch: null, offset: null, live: false, el: el, posEl: posEl };
  subs.set(channel, sub);
  setLive(sub, false);
  if (open) subscribe(channel, sub);
}

function removeSub(channel) {
  const sub = subs.get(channel);
  if (sub === undefined) return;
  subs.delete(channel);
  sub.el.remove();
  els.subsEmpty.hidden = subs.size > 0;
}

function setLive(sub, live) {
  sub.live = live;
  sub.el.dataset.state = live ? 'live' : 'pending';
  sub.el.title = live ? 'live' : 'waiting for the server';
}

function clock() {
  const now = new Date();
  const el = document.createElement('time');
  el.dateTime = now.toISOString();
  el.textContent = now.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  return el;
}

function span(className, text) {
  const el = document.createElement('span');
  el.className = className;
  el.textContent = text;
  return el;
}

function addMessage(channel, offset, data) {
  const li = document.createElement('li');
  li.dataset.channel = channel;
  li.dataset.offset = String(offset);
  const body = document.createElement('pre');
  body.className = 'data';
  body.textContent = JSON.stringify(data);
  li.append(clock(), span('channel', channel), span('offset', '#' + offset), body);
  els.log.prepend(li);
  while (els.log.children.length > LOG_LIMIT) els.log.lastElementChild.remove();
  els.logEmpty.hidden = true;
}

function notice(kind, text, channel) {
  const li = document.createElement('li');
  li.dataset.kind = kind;
  if (channel) li.dataset.channel = channel;
  li.append(clock(), span('text', text));
  els.notices.prepend(li);
  while (els.notices.children.length > NOTICE_LIMIT) els.notices.lastElementChild.remove();
}

function status(text, kind) {
  els.publishStatus.textContent = text;
  els.publishStatus.dataset.kind = kind;
}

els.subscribeForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const channel = els.channel.value.trim();
  if (subs.has(channel)) {
    notice('info', 'Already subscribed to ' + channel + '.', channel);
    return;
  }
  addSub(channel);
});

els.publishForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const channel = els.publishChannel.value.trim();
  const text = els.publishData.value;
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    data = text; // not JSON: send it as a JSON string
  }
  const id = 'p' + nextId++;
  if (!open || !send({ op: 'publish', channel: channel, data: data, id: id })) {
    status('Not connected; publish again once connected.', 'error');
    return;
  }
  requests.set(id, { kind: 'publish', channel: channel });
  status('Publishing…', 'pending');
});

els.connect.addEventListener('click', () => {
  if (els.state.dataset.state === 'closed') {
    wanted = true;
    attempt = 0;
    connect();
  } else {
    wanted = false;
    clearTimeout(reconnectTimer);
    if (ws !== null) ws.close(1000, 'closed by user');
    else setState('closed', 'disconnected');
  }
});

els.clear.addEventListener('click', () => {
  els.log.replaceChildren();
  els.logEmpty.hidden = false;
});

// Back online (a phone leaving a tunnel): skip the rest of the backoff wait.
window.addEventListener('online', () => {
  if (wanted && ws === null) connect();
});

connect();
`;

const BODY = String.raw`
<header>
  <h1>wsfleet <span>demo</span></h1>
  <dl class="status">
    <div><dt>Node</dt><dd id="node" data-testid="node">–</dd></div>
    <div><dt>State</dt><dd><span id="state" data-testid="state" data-state="connecting" role="status">connecting</span></dd></div>
    <div><dt>Reconnect attempts</dt><dd id="attempts" data-testid="attempts">0</dd></div>
    <div><dt>Session</dt><dd id="session" data-testid="session">–</dd></div>
  </dl>
  <button id="connect-btn" data-testid="connect-btn" type="button" class="secondary">Disconnect</button>
</header>
<main>
  <section aria-labelledby="subscribe-heading">
    <h2 id="subscribe-heading">Subscribe</h2>
    <form id="subscribe-form">
      <label for="channel-input">Channel</label>
      <div class="row">
        <input id="channel-input" data-testid="channel-input" name="channel" value="demo" required maxlength="200"
          pattern="[A-Za-z0-9_.:@\/=\-]+" title="Letters, digits and _ . : @ / = -"
          autocomplete="off" autocapitalize="off" spellcheck="false">
        <button id="subscribe-btn" data-testid="subscribe-btn" type="submit">Subscribe</button>
      </div>
    </form>
    <ul id="subscriptions" data-testid="subscriptions" aria-label="Subscribed channels"></ul>
    <p id="subs-empty" class="empty">Not subscribed to any channel yet.</p>
  </section>
  <section aria-labelledby="publish-heading">
    <h2 id="publish-heading">Publish</h2>
    <form id="publish-form">
      <div class="field">
        <label for="publish-channel">Channel</label>
        <input id="publish-channel" data-testid="publish-channel" name="channel" value="demo" required maxlength="200"
          pattern="[A-Za-z0-9_.:@\/=\-]+" title="Letters, digits and _ . : @ / = -"
          autocomplete="off" autocapitalize="off" spellcheck="false">
      </div>
      <div class="field">
        <label for="publish-data">Message</label>
        <textarea id="publish-data" data-testid="publish-data" name="data" rows="3" spellcheck="false"
          aria-describedby="publish-hint">{"text": "hello"}</textarea>
        <p id="publish-hint" class="hint">Valid JSON is sent as JSON; anything else as a string.</p>
      </div>
      <div class="actions">
        <button id="publish-btn" data-testid="publish-btn" type="submit">Publish</button>
        <output id="publish-status" data-testid="publish-status" for="publish-data" aria-live="polite"></output>
      </div>
    </form>
  </section>
  <section class="wide" aria-labelledby="notices-heading">
    <h2 id="notices-heading">Notices</h2>
    <ul id="notices" data-testid="notices" aria-live="polite"></ul>
  </section>
  <section class="wide" aria-labelledby="log-heading">
    <div class="section-head">
      <h2 id="log-heading">Messages <span class="hint">(newest first, last 200)</span></h2>
      <button id="clear-btn" data-testid="clear-btn" type="button" class="secondary">Clear</button>
    </div>
    <ol id="log" data-testid="log" role="log" aria-live="polite" aria-labelledby="log-heading"></ol>
    <p id="log-empty" class="empty">Messages on your channels show up here.</p>
  </section>
</main>
<noscript><p>This page needs JavaScript.</p></noscript>
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>wsfleet demo</title>
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${SCRIPT}</script>
</body>
</html>
`;

/** The demo page: a complete HTML document with inline CSS and JS, no external resources. */
export function demoPage(): string {
  return PAGE;
}
