/**
 * Notices changes made by hand under `<dir>/live/` and in the version folders behind it, and
 * reports them per certificate name once they have settled (an operator copies fullchain.pem, then
 * privkey.pem: judging after the first would refuse a half-done change). Links are not followed —
 * chokidar keeps watching a link's old target after the link is swapped — so `versions/` is
 * watched as well, which covers a file edited through the link. cert-sync's own writes show up here
 * too; the applier tells them apart by content (they match what it installed), not by timing.
 */
import { relative, sep } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import type { Logger } from '../shared/logger.ts';
import { paths } from './install.ts';

export interface LiveWatcher {
  /** Resolves once the initial scan is done. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface LiveWatcherOptions {
  readonly dir: string;
  /** Quiet time after the last event before a name is reported. */
  readonly settleMs: number;
  readonly log: Logger;
  readonly onChange: (name: string) => void;
}

/** The certificate name an event path belongs to (live/<name>… or versions/<name>/…). */
export function nameOfPath(dir: string, path: string): string | undefined {
  const [area, name] = relative(dir, path).split(sep);
  if ((area !== 'live' && area !== 'versions') || name === undefined || name === '' || name.startsWith('.'))
    return undefined;
  return name;
}

export function createLiveWatcher({ dir, settleMs, log, onChange }: LiveWatcherOptions): LiveWatcher {
  const timers = new Map<string, NodeJS.Timeout>();
  let watcher: FSWatcher | undefined;
  let closed = false;

  function changed(path: string): void {
    const name = nameOfPath(dir, path);
    if (name === undefined || closed) return;
    clearTimeout(timers.get(name));
    timers.set(
      name,
      setTimeout(() => {
        timers.delete(name);
        if (!closed) onChange(name);
      }, settleMs),
    );
  }

  return {
    async start() {
      const w = watch([paths.live(dir), paths.versions(dir)], {
        ignoreInitial: true,
        followSymlinks: false,
        // live/<name>/<file> when live/<name> is a folder; versions/<name>/<version>/<file>.
        depth: 2,
      });
      watcher = w;
      w.on('all', (_event, path) => changed(path));
      w.on('error', (err) => log.warn({ err }, 'file watcher error'));
      await new Promise<void>((resolve) => w.once('ready', () => resolve()));
    },
    async close() {
      closed = true;
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
      await watcher?.close();
    },
  };
}
