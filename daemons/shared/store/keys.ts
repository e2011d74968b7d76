/**
 * Which keys every store accepts. The rules are the same for every backend so that code tested on
 * the file store cannot write a key that GCS would take and the file store would not:
 * `/`-separated segments, each 1–255 bytes, none starting with `.` (so no `.` or `..`, and room for
 * the file store's own files), no control characters, at most 1024 bytes in all (GCS's limit).
 */
import { StoreError } from './store-error.ts';

const MAX_KEY_BYTES = 1024;
const MAX_SEGMENT_BYTES = 255;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it rejects
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Why `segment` cannot be part of a key, or undefined when it can. */
function segmentProblem(segment: string): string | undefined {
  if (segment === '') return 'has an empty segment (leading, trailing or double `/`)';
  if (segment.startsWith('.')) return `has a segment starting with "." (${JSON.stringify(segment)})`;
  if (Buffer.byteLength(segment) > MAX_SEGMENT_BYTES)
    return `has a segment longer than ${MAX_SEGMENT_BYTES} bytes`;
  return undefined;
}

function keyProblem(key: string, isPrefix: boolean): string | undefined {
  if (CONTROL.test(key)) return 'contains NUL or another control character';
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) return `is longer than ${MAX_KEY_BYTES} bytes`;
  if (key.startsWith('/')) return 'is absolute';
  if (isPrefix && key === '') return undefined;
  const segments = key.split('/');
  // A prefix may end in `/` or in part of a segment; only whole segments before it are checked.
  const whole = isPrefix ? segments.slice(0, -1) : segments;
  for (const segment of whole) {
    const problem = segmentProblem(segment);
    if (problem !== undefined) return problem;
  }
  const last = segments[segments.length - 1] ?? '';
  if (isPrefix && last.startsWith('.'))
    return `ends in a segment starting with "." (${JSON.stringify(last)})`;
  return undefined;
}

/** Throws WSFLEET_STORE_INVALID unless `key` is a key every backend accepts. */
export function checkKey(key: string, url: string): void {
  const problem = keyProblem(key, false);
  if (problem !== undefined)
    throw new StoreError('WSFLEET_STORE_INVALID', `Refusing key ${JSON.stringify(key)}: it ${problem}`, {
      url,
      cause: { key },
    });
}

/** Throws WSFLEET_STORE_INVALID unless `prefix` could start a valid key ('' lists everything). */
export function checkPrefix(prefix: string, url: string): void {
  const problem = keyProblem(prefix, true);
  if (problem !== undefined)
    throw new StoreError(
      'WSFLEET_STORE_INVALID',
      `Refusing prefix ${JSON.stringify(prefix)}: it ${problem}`,
      {
        url,
        cause: { prefix },
      },
    );
}

/** Orders keys as GCS lists object names: by their UTF-8 bytes. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
