/**
 * The readable side of a packer run: steps (packer's own and the provisioning scripts' `==> …`
 * lines) and errors, each with the time since the start; other output only with --verbose, but
 * the last lines of it are kept to show when the build fails.
 */
import { cleanUiLine, type PackerEvent } from './machine-readable.ts';

export interface Progress {
  /** A step of the wrapper itself (staging, fetching the runtime). */
  step(text: string): void;
  event(event: PackerEvent): void;
  /** The last output lines that were not shown (all shown with --verbose), oldest first. */
  hidden(): readonly string[];
}

export interface ProgressOptions {
  readonly write: (text: string) => void;
  readonly now?: () => number;
  readonly verbose?: boolean;
  /** How many hidden output lines to keep for a failure report. */
  readonly tailLines?: number;
}

/** `m:ss` or `h:mm:ss`. */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

export function createProgress({
  write,
  now = Date.now,
  verbose = false,
  tailLines = 30,
}: ProgressOptions): Progress {
  const start = now();
  const kept: string[] = [];

  function hide(text: string): void {
    if (verbose) {
      print('    ', text);
      return;
    }
    kept.push(text);
    if (kept.length > tailLines) kept.shift();
  }

  function print(mark: string, text: string): void {
    write(`[${formatElapsed(now() - start).padStart(5)}] ${mark}${text}\n`);
  }

  return {
    step(text) {
      print('', text);
    },
    event(event) {
      switch (event.kind) {
        case 'ui':
          for (const raw of event.text.split('\n')) {
            if (raw.trim() === '') continue;
            const { text, step } = cleanUiLine(raw);
            if (event.level === 'error') print('ERROR ', text);
            else if (step || event.level === 'say') print('', text);
            else hide(text);
          }
          break;
        case 'text':
          hide(event.text);
          break;
        case 'artifact':
          print('', `artifact of ${event.artifact.build}: ${event.artifact.id ?? '(no id)'}`);
          break;
        case 'build-error':
          // Already printed as a UI error; kept for the summary.
          break;
      }
    },
    hidden() {
      return [...kept];
    },
  };
}
