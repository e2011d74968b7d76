/**
 * The demo page's DOM: the elements it updates and the lists it appends to. Every value from the
 * server reaches the DOM through textContent or dataset, never as HTML.
 */

const LOG_LIMIT = 200;
const NOTICE_LIMIT = 50;

function element<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`the demo page has no #${id}`);
  return el as T;
}

export const els = {
  node: element('node'),
  session: element('session'),
  state: element('state'),
  attempts: element('attempts'),
  connect: element<HTMLButtonElement>('connect-btn'),
  subscribeForm: element<HTMLFormElement>('subscribe-form'),
  channel: element<HTMLInputElement>('channel-input'),
  subs: element('subscriptions'),
  subsEmpty: element('subs-empty'),
  publishForm: element<HTMLFormElement>('publish-form'),
  publishChannel: element<HTMLInputElement>('publish-channel'),
  publishData: element<HTMLTextAreaElement>('publish-data'),
  publishStatus: element<HTMLOutputElement>('publish-status'),
  notices: element('notices'),
  log: element('log'),
  logEmpty: element('log-empty'),
  clear: element<HTMLButtonElement>('clear-btn'),
};

/** connecting, open, waiting (for the next attempt) or closed; the header shows `text`. */
export function setState(state: 'connecting' | 'open' | 'waiting' | 'closed', text: string): void {
  els.state.dataset.state = state;
  els.state.textContent = text;
  els.connect.textContent = state === 'closed' ? 'Connect' : 'Disconnect';
}

function timeNow(): HTMLTimeElement {
  const now = new Date();
  const el = document.createElement('time');
  el.dateTime = now.toISOString();
  el.textContent = now.toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
  return el;
}

function span(className: string, text: string): HTMLSpanElement {
  const el = document.createElement('span');
  el.className = className;
  el.textContent = text;
  return el;
}

function trim(list: HTMLElement, limit: number): void {
  while (list.children.length > limit) list.lastElementChild?.remove();
}

export function addMessage(channel: string, offset: number, data: unknown): void {
  const li = document.createElement('li');
  li.dataset.channel = channel;
  li.dataset.offset = String(offset);
  const body = document.createElement('pre');
  body.className = 'data';
  body.textContent = JSON.stringify(data);
  li.append(timeNow(), span('channel', channel), span('offset', `#${offset}`), body);
  els.log.prepend(li);
  trim(els.log, LOG_LIMIT);
  els.logEmpty.hidden = true;
}

/** A line under Notices: info, missed, gap or error. */
export function notice(kind: 'info' | 'missed' | 'gap' | 'error', text: string, channel?: string): void {
  const li = document.createElement('li');
  li.dataset.kind = kind;
  if (channel !== undefined) li.dataset.channel = channel;
  li.append(timeNow(), span('text', text));
  els.notices.prepend(li);
  trim(els.notices, NOTICE_LIMIT);
}

export function status(text: string, kind: 'pending' | 'ok' | 'error'): void {
  els.publishStatus.textContent = text;
  els.publishStatus.dataset.kind = kind;
}

/** One chip under Subscribe: the channel, its position and an unsubscribe button. */
export interface SubscriptionChip {
  setLive(live: boolean): void;
  setOffset(offset: number): void;
  remove(): void;
}

export function addChip(channel: string, onRemove: () => void): SubscriptionChip {
  const li = document.createElement('li');
  const pos = span('pos', '');
  const remove = document.createElement('button');
  li.dataset.channel = channel;
  remove.type = 'button';
  remove.className = 'secondary';
  remove.textContent = '×';
  remove.setAttribute('aria-label', `Unsubscribe from ${channel}`);
  remove.addEventListener('click', () => {
    onRemove();
    els.channel.focus();
  });
  li.append(span('name', channel), pos, remove);
  els.subs.append(li);
  els.subsEmpty.hidden = true;
  const chip: SubscriptionChip = {
    setLive(live) {
      li.dataset.state = live ? 'live' : 'pending';
      li.title = live ? 'live' : 'waiting for the server';
    },
    setOffset(offset) {
      pos.textContent = `@${offset}`;
    },
    remove() {
      li.remove();
      els.subsEmpty.hidden = els.subs.children.length > 0;
    },
  };
  chip.setLive(false);
  return chip;
}
