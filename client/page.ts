/**
 * Signals from the page the client runs in: it became visible again, or the device came back
 * online. Browsers throttle timers in hidden tabs and do not notice a dead TCP connection for
 * minutes, so these are the moments to check the connection at once. In Node there are none.
 */
export interface PageSignals {
  /** Calls `fn` when the page turns visible; returns the function that stops it. */
  onVisible(fn: () => void): () => void;
  /** Calls `fn` when the device comes back online; returns the function that stops it. */
  onOnline(fn: () => void): () => void;
}

interface EventSource {
  addEventListener(type: string, fn: () => void): void;
  removeEventListener(type: string, fn: () => void): void;
}

const noop = () => undefined;

/** The signals of the current page, or none outside a browser (Node, a worker). */
export function browserSignals(): PageSignals {
  const doc = (globalThis as { document?: EventSource & { visibilityState?: string } }).document;
  const listen = (target: EventSource | undefined, type: string, fn: () => void) => {
    if (doc === undefined || target === undefined) return noop;
    target.addEventListener(type, fn);
    return () => target.removeEventListener(type, fn);
  };
  return {
    onVisible: (fn) => listen(doc, 'visibilitychange', () => doc?.visibilityState === 'visible' && fn()),
    onOnline: (fn) => listen(globalThis as unknown as EventSource, 'online', fn),
  };
}
