/**
 * Opens the object store a URL names: `gs://bucket[/prefix]` (GCS) or `file:///absolute/path`
 * (one machine). Anything else is WSFLEET_STORE_URL, naming the accepted forms.
 */
import { fileURLToPath } from 'node:url';
import { WsfleetError } from '../errors.ts';
import { createFileStore, type FileStoreOptions } from './file-store.ts';
import { createGcsStore, type GcsStoreOptions } from './gcs-store.ts';
import type { ObjectStore } from './object-store.ts';

export interface OpenStoreOptions {
  readonly gcs?: Omit<GcsStoreOptions, 'bucket' | 'prefix'>;
  readonly file?: FileStoreOptions;
}

const FORMS = 'gs://BUCKET[/PREFIX] or file:///ABSOLUTE/PATH';
// Bucket names: 3–63 characters of a-z 0-9 - _ . (up to 222 with dots), starting and ending alphanumeric.
const BUCKET = /^[a-z0-9](?:[a-z0-9._-]{1,220})[a-z0-9]$/;

function refuse(url: string, why: string, cause?: unknown): never {
  // Never echo credentials someone put into a URL by mistake.
  const shown = JSON.stringify(url.replace(/\/\/[^/@]*@/, '//…@').slice(0, 200));
  throw new WsfleetError('WSFLEET_STORE_URL', `Expected the store URL to be ${FORMS}, got ${shown}: ${why}`, {
    cause: cause ?? { url: shown },
  });
}

export function openStore(url: string, options: OpenStoreOptions = {}): ObjectStore {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    return refuse(url, 'not a URL', err);
  }
  if (parsed.protocol === 'gs:') {
    if (
      parsed.username !== '' ||
      parsed.password !== '' ||
      parsed.port !== '' ||
      parsed.search ||
      parsed.hash
    )
      refuse(url, 'a gs:// URL has only a bucket and a path');
    const bucket = parsed.hostname;
    if (!BUCKET.test(bucket) || (!bucket.includes('.') && bucket.length > 63))
      refuse(url, `${JSON.stringify(bucket)} is not a bucket name`);
    const prefix = decodeURIComponent(parsed.pathname).replace(/^\/+|\/+$/g, '');
    try {
      return createGcsStore({ ...options.gcs, bucket, prefix });
    } catch (err) {
      return refuse(
        url,
        `the prefix is not allowed (${err instanceof Error ? err.message : String(err)})`,
        err,
      );
    }
  }
  if (parsed.protocol === 'file:') {
    if (parsed.hostname !== '' && parsed.hostname !== 'localhost') refuse(url, 'a file:// URL names no host');
    if (parsed.search || parsed.hash) refuse(url, 'a file:// URL has only a path');
    const root = fileURLToPath(parsed).replace(/\/+$/, '');
    if (root === '') refuse(url, 'the store cannot be the root folder');
    return createFileStore(root, options.file);
  }
  return refuse(url, `the scheme ${JSON.stringify(parsed.protocol)} is not supported`);
}
