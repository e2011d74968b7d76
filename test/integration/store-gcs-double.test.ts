/**
 * The GCS double (scripts/lab/gcs-double/server.ts) against the documented JSON API, with plain fetch:
 * the store's tests are only as good as the double is faithful.
 */
import { createHash } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { crc32c } from '../../scripts/lab/gcs-double/model.ts';
import { type GcsDouble, startGcsDouble } from '../../scripts/lab/gcs-double/server.ts';

const BUCKET = 'wsfleet-test';
const UNIT = 256 * 1024;

describe('GCS double', () => {
  let double: GcsDouble;
  let n = 0;
  const fresh = (what: string) => `${what}-${++n}`;

  beforeAll(async () => {
    double = await startGcsDouble();
  });
  afterAll(() => double.stop());
  afterEach(() => double.fail({ kind: 'none' }));

  const api = (path: string, init?: RequestInit) =>
    fetch(`${double.apiEndpoint}${path}`, { ...init, signal: AbortSignal.timeout(5_000) });
  const objectPath = (name: string, query = '') =>
    `/storage/v1/b/${BUCKET}/o/${encodeURIComponent(name)}${query === '' ? '' : `?${query}`}`;
  const uploadPath = (query: string) => `/upload/storage/v1/b/${BUCKET}/o?${query}`;

  async function mediaUpload(name: string, body: string, query = '') {
    return api(uploadPath(`uploadType=media&name=${encodeURIComponent(name)}${query}`), {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body,
    });
  }

  it('stores a media upload and serves its metadata and its bytes', async () => {
    const name = fresh('dir/media.txt');
    const res = await mediaUpload(name, 'hello');
    const resource = (await res.json()) as Record<string, string>;

    expect(res.status).toBe(200);
    expect(resource).toMatchObject({
      kind: 'storage#object',
      name,
      bucket: BUCKET,
      size: '5',
      contentType: 'text/plain',
      metageneration: '1',
      md5Hash: createHash('md5').update('hello').digest('base64'),
      crc32c: crc32c(Buffer.from('hello')),
    });
    expect(resource.generation).toMatch(/^[1-9][0-9]{15,}$/);
    expect(await (await api(objectPath(name))).json()).toEqual(resource);

    const media = await api(objectPath(name, 'alt=media'));
    expect(await media.text()).toBe('hello');
    expect(media.headers.get('x-goog-generation')).toBe(resource.generation);
    expect(media.headers.get('x-goog-hash')).toBe(`crc32c=${resource.crc32c},md5=${resource.md5Hash}`);
    expect(media.headers.get('x-goog-stored-content-encoding')).toBe('identity');
  });

  it('computes CRC32C (Castagnoli) as GCS does', () => {
    // The value Google's client documents for "data".
    expect(crc32c(Buffer.from('data'))).toBe('rth90Q==');
  });

  it('stores a multipart/related upload: JSON metadata, then the media', async () => {
    const name = fresh('multi.bin');
    const data = Buffer.from([0, 1, 2, 255, 13, 10, 45, 45]);
    const boundary = 'b0undary';
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n`),
      Buffer.from(JSON.stringify({ name, contentType: 'application/x-test', metadata: { a: '1' } })),
      Buffer.from(`\r\n--${boundary}\r\nContent-Type: application/octet-stream\r\n\r\n`),
      data,
      Buffer.from(`\r\n--${boundary}--`),
    ]);
    const res = await api(uploadPath('uploadType=multipart'), {
      method: 'POST',
      headers: { 'content-type': `multipart/related; boundary=${boundary}` },
      body,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      name,
      contentType: 'application/x-test',
      metadata: { a: '1' },
      size: '8',
    });
    expect(Buffer.from(await (await api(objectPath(name, 'alt=media'))).arrayBuffer()).equals(data)).toBe(
      true,
    );
  });

  it('refuses an upload whose declared MD5 does not match with 400, storing nothing', async () => {
    const name = fresh('bad-md5');
    const boundary = 'x';
    const body = `--${boundary}\r\nContent-Type: application/json\r\n\r\n${JSON.stringify({ name, md5Hash: 'AAAAAAAAAAAAAAAAAAAAAA==' })}\r\n--${boundary}\r\nContent-Type: text/plain\r\n\r\nhello\r\n--${boundary}--`;
    const res = await api(uploadPath('uploadType=multipart'), {
      method: 'POST',
      headers: { 'content-type': `multipart/related; boundary=${boundary}` },
      body,
    });
    expect(res.status).toBe(400);
    expect((await api(objectPath(name))).status).toBe(404);
  });

  it('runs a resumable upload in chunks: 308 with Range until the last chunk, then the object', async () => {
    const name = fresh('resumable.bin');
    const data = Buffer.alloc(2 * UNIT + 100, 7);
    const start = await api(uploadPath(`uploadType=resumable&name=${encodeURIComponent(name)}`), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-upload-content-type': 'application/x-test' },
      body: JSON.stringify({ metadata: { kind: 'test' } }),
    });
    const session = start.headers.get('location') ?? '';
    expect(start.status).toBe(200);
    expect(session).toMatch(/upload_id=/);
    const put = (range: string, body?: Buffer) =>
      fetch(session, {
        method: 'PUT',
        headers: { 'content-range': range },
        body,
        signal: AbortSignal.timeout(5_000),
      });

    const first = await put(`bytes 0-${UNIT - 1}/*`, data.subarray(0, UNIT));
    expect(first.status).toBe(308);
    expect(first.headers.get('range')).toBe(`bytes=0-${UNIT - 1}`);
    // A chunk that is not a whole number of 256 KiB units: only whole units are kept.
    const second = await put(`bytes ${UNIT}-${2 * UNIT + 9}/*`, data.subarray(UNIT, 2 * UNIT + 10));
    expect(second.headers.get('range')).toBe(`bytes=0-${2 * UNIT - 1}`);
    const status = await put('bytes */*');
    expect(status.status).toBe(308);
    expect(status.headers.get('range')).toBe(`bytes=0-${2 * UNIT - 1}`);
    expect(double.objects.has(`${BUCKET}/${name}`)).toBe(false);

    const last = await put(`bytes ${2 * UNIT}-${data.length - 1}/${data.length}`, data.subarray(2 * UNIT));
    const resource = (await last.json()) as Record<string, unknown>;
    expect(last.status).toBe(200);
    expect(resource).toMatchObject({ name, size: String(data.length), contentType: 'application/x-test' });
    expect(resource.metadata).toEqual({ kind: 'test' });
    expect(await (await put(`bytes */${data.length}`)).json()).toEqual(resource);
    expect(double.objects.get(`${BUCKET}/${name}`)?.data.equals(data)).toBe(true);
  });

  it('applies the preconditions of a resumable upload when it completes', async () => {
    const name = fresh('resumable-guarded');
    const start = await api(uploadPath(`uploadType=resumable&name=${name}&ifGenerationMatch=0`), {
      method: 'POST',
    });
    const session = start.headers.get('location') ?? '';
    await mediaUpload(name, 'someone else was first');
    const res = await fetch(session, { method: 'PUT', body: 'mine', signal: AbortSignal.timeout(5_000) });
    expect(res.status).toBe(412);
  });

  it('answers 412 with a GCS error body when ifGenerationMatch does not hold', async () => {
    const name = fresh('guarded');
    expect((await mediaUpload(name, 'one', '&ifGenerationMatch=0')).status).toBe(200);
    const again = await mediaUpload(name, 'two', '&ifGenerationMatch=0');
    expect(again.status).toBe(412);
    expect(await again.json()).toEqual({
      error: {
        code: 412,
        message: 'At least one of the pre-conditions you specified did not hold.',
        errors: [
          {
            message: 'At least one of the pre-conditions you specified did not hold.',
            domain: 'global',
            reason: 'conditionNotMet',
            locationType: 'header',
            location: 'If-Match',
          },
        ],
      },
    });
    expect((await mediaUpload(fresh('missing'), 'x', '&ifGenerationMatch=1')).status).toBe(412);
  });

  it('guards replace, get, patch and delete with generation and metageneration preconditions', async () => {
    const name = fresh('generations');
    const one = (await (await mediaUpload(name, 'one')).json()) as { generation: string };
    const two = (await (await mediaUpload(name, 'two', `&ifGenerationMatch=${one.generation}`)).json()) as {
      generation: string;
    };
    expect(BigInt(two.generation) > BigInt(one.generation)).toBe(true);
    expect((await mediaUpload(name, 'three', `&ifGenerationMatch=${one.generation}`)).status).toBe(412);

    expect((await api(objectPath(name, `ifGenerationMatch=${one.generation}`))).status).toBe(412);
    expect((await api(objectPath(name, `ifGenerationNotMatch=${two.generation}`))).status).toBe(304);
    expect((await api(objectPath(name, `generation=${one.generation}&alt=media`))).status).toBe(404);

    const patch = (query: string) =>
      api(objectPath(name, query), { method: 'PATCH', body: JSON.stringify({ metadata: { k: 'v' } }) });
    expect((await patch('ifMetagenerationMatch=2')).status).toBe(412);
    const patched = (await (await patch('ifMetagenerationMatch=1')).json()) as Record<string, unknown>;
    expect(patched).toMatchObject({ metageneration: '2', generation: two.generation, metadata: { k: 'v' } });

    expect(
      (await api(objectPath(name, `ifGenerationMatch=${one.generation}`), { method: 'DELETE' })).status,
    ).toBe(412);
    expect(
      (await api(objectPath(name, `ifGenerationMatch=${two.generation}`), { method: 'DELETE' })).status,
    ).toBe(204);
    const recreated = (await (await mediaUpload(name, 'four')).json()) as { generation: string };
    expect([one.generation, two.generation]).not.toContain(recreated.generation);
  });

  it('answers 404 with a GCS error body for missing objects and buckets', async () => {
    const missing = await api(objectPath('no/such/object'));
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({
      error: {
        code: 404,
        message: `No such object: ${BUCKET}/no/such/object`,
        errors: [{ reason: 'notFound' }],
      },
    });
    expect((await api(objectPath('no/such/object', 'alt=media'))).status).toBe(404);
    expect((await api(objectPath('no/such/object'), { method: 'DELETE' })).status).toBe(404);
    expect((await api('/storage/v1/b/no-such-bucket/o')).status).toBe(404);
    expect((await api('/storage/v1/b/no-such-bucket')).status).toBe(404);
    expect(await (await api(`/storage/v1/b/${BUCKET}`)).json()).toMatchObject({
      kind: 'storage#bucket',
      name: BUCKET,
    });
  });

  it('pages a listing with maxResults and pageToken, and collapses prefixes with a delimiter', async () => {
    const dir = fresh('list');
    const names = ['a', 'b/1', 'b/2', 'c', 'd/1', 'e'].map((s) => `${dir}/${s}`);
    for (const name of [...names].reverse()) await mediaUpload(name, name);
    await mediaUpload(`${dir}-other`, 'x');

    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const query = `prefix=${dir}/&maxResults=4${token === undefined ? '' : `&pageToken=${token}`}`;
      const page = (await (await api(`/storage/v1/b/${BUCKET}/o?${query}`)).json()) as {
        items?: { name: string }[];
        nextPageToken?: string;
      };
      seen.push(...(page.items ?? []).map((i) => i.name));
      token = page.nextPageToken;
      pages++;
    } while (token !== undefined);
    expect(seen).toEqual(names);
    expect(pages).toBe(2);

    const folders = (await (await api(`/storage/v1/b/${BUCKET}/o?prefix=${dir}/&delimiter=/`)).json()) as {
      items: { name: string }[];
      prefixes: string[];
    };
    expect(folders.items.map((i) => i.name)).toEqual([`${dir}/a`, `${dir}/c`, `${dir}/e`]);
    expect(folders.prefixes).toEqual([`${dir}/b/`, `${dir}/d/`]);
    const empty = await (await api(`/storage/v1/b/${BUCKET}/o?prefix=${dir}/none/`)).json();
    expect(empty).toEqual({ kind: 'storage#objects' });
  });

  it('answers injected errors to the next requests only, then serves again', async () => {
    await double.fail({ kind: 'status', status: 503, count: 2 });
    expect((await api(`/storage/v1/b/${BUCKET}`)).status).toBe(503);
    expect(await (await api(`/storage/v1/b/${BUCKET}`)).json()).toMatchObject({
      error: { code: 503, errors: [{ reason: 'backendError' }] },
    });
    expect((await api(`/storage/v1/b/${BUCKET}`)).status).toBe(200);
  });

  it('can hang requests and stop listening', async () => {
    await double.fail({ kind: 'hang', count: 1 });
    const hung = fetch(`${double.apiEndpoint}/storage/v1/b/${BUCKET}`, { signal: AbortSignal.timeout(300) });
    await expect(hung).rejects.toMatchObject({ name: 'TimeoutError' });
    expect((await api(`/storage/v1/b/${BUCKET}`)).status).toBe(200);

    await double.fail({ kind: 'down' });
    await expect(api(`/storage/v1/b/${BUCKET}`)).rejects.toThrow();
    await double.fail({ kind: 'none' });
    expect((await api(`/storage/v1/b/${BUCKET}`)).status).toBe(200);
  });
});
