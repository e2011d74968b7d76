/**
 * Progress of a deploy, rollout or teardown: one line per step with the time since the start,
 * as the image builds print theirs.
 */
import { formatElapsed } from '../../images/build/progress.ts';

export interface Progress {
  step(text: string): void;
}

export function createProgress(write: (text: string) => void, now: () => number = Date.now): Progress {
  const start = now();
  return {
    step(text) {
      write(`[${formatElapsed(now() - start).padStart(5)}] ${text}\n`);
    },
  };
}
