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

/** The signals of the current page, or none outside a browser. */
export function browserSignals(): PageSignals {
  const g = globalThis as {
    document?: EventSource & { visibilityState?: string };
    addEventListener?: unknown;
  };
  const doc = g.document;
  const win = typeof g.addEventListener === 'function' ? (globalThis as unknown as EventSource) : undefined;
  return {
    onVisible(fn) {
      if (doc === undefined) return noop;
      const listener = () => {
        if (doc.visibilityState === 'visible') fn();
      };
      doc.addEventListener('visibilitychange', listener);
      return () => doc.removeEventListener('visibilitychange', listener);
    },
    onOnline(fn) {
      if (win === undefined || doc === undefined) return noop;
      win.addEventListener('online', fn);
      return () => win.removeEventListener('online', fn);
    },
  };
}
