import { describe, expect, it } from 'vitest';
import { endpointNeedsAuth } from '../../daemons/shared/store/gcs-store.ts';
import { openStore } from '../../daemons/shared/store/open-store.ts';

describe('openStore', () => {
  it.each([
    { url: 'gs://wsfleet-certs', opened: 'gs://wsfleet-certs' },
    { url: 'gs://wsfleet-certs/', opened: 'gs://wsfleet-certs' },
    { url: 'gs://wsfleet-certs/prod/eu/', opened: 'gs://wsfleet-certs/prod/eu' },
    { url: 'gs://certs.example.com/x', opened: 'gs://certs.example.com/x' },
    { url: 'file:///var/lib/wsfleet/store', opened: 'file:///var/lib/wsfleet/store' },
    { url: 'file:///var/lib/wsfleet/store/', opened: 'file:///var/lib/wsfleet/store' },
    { url: 'file://localhost/srv/store', opened: 'file:///srv/store' },
  ])('opens $url as $opened', ({ url, opened }) => {
    expect(openStore(url).url).toBe(opened);
  });

  it.each([
    { url: 'https://storage.googleapis.com/bucket' },
    { url: 's3://bucket' },
    { url: '/var/lib/wsfleet/store' },
    { url: 'relative/store' },
    { url: '' },
    { url: 'gs://' },
    { url: 'gs://Upper-Case' },
    { url: 'gs://ab' },
    { url: 'gs://-bucket' },
    { url: 'gs://bucket/a//b' },
    { url: 'gs://bucket/.hidden' },
    { url: 'gs://bucket?x=1' },
    { url: 'gs://bucket:443/x' },
    { url: 'file://otherhost/srv/store' },
    { url: 'file:///' },
  ])('refuses $url with WSFLEET_STORE_URL naming the accepted forms', ({ url }) => {
    expect(() => openStore(url)).toThrow(
      expect.objectContaining({
        code: 'WSFLEET_STORE_URL',
        message: expect.stringContaining('gs://BUCKET[/PREFIX] or file:///ABSOLUTE/PATH'),
      }),
    );
  });

  it('never repeats credentials written into a URL', () => {
    let message = '';
    try {
      openStore('gs://user:s3cret@bucket/x');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('gs://…@bucket/x');
    expect(message).not.toContain('s3cret');
  });
});

describe('endpointNeedsAuth', () => {
  it.each([
    ['https://storage.googleapis.com', true],
    ['https://10.0.0.3:4443', true],
    ['http://10.0.0.3:4443', false],
    ['http://127.0.0.1:4443', false],
    ['https://127.0.0.1:4443', false],
    ['https://localhost', false],
  ])('sends Google credentials to %s: %s', (endpoint, auth) => {
    expect(endpointNeedsAuth(endpoint)).toBe(auth);
  });
});
