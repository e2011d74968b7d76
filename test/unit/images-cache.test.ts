import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildCached, ENTRY_FILE, lookupCache } from '../../images/build/cache.ts';

const KEY = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';

describe('local build cache', () => {
  let cache: string;
  let builds: number;

  beforeEach(async () => {
    cache = await mkdtemp(join(tmpdir(), 'wsfleet-cache-'));
    builds = 0;
  });

  afterEach(async () => {
    await rm(cache, { recursive: true, force: true });
  });

  async function build(dir: string): Promise<{ image: string }> {
    builds++;
    await writeFile(join(dir, 'rootfs.tar'), `build ${builds}`);
    return { image: `rootfs-${builds}` };
  }

  describe('#buildCached', () => {
    it('builds on a miss and keeps the output under the key', async () => {
      const result = await buildCached(cache, KEY, build);
      expect(result).toEqual({ dir: join(cache, KEY), manifest: { image: 'rootfs-1' }, hit: false });
      expect(await readFile(join(cache, KEY, 'rootfs.tar'), 'utf8')).toBe('build 1');
    });

    it('does not build again when the same inputs were built', async () => {
      await buildCached(cache, KEY, build);
      const again = await buildCached(cache, KEY, build);
      expect(again).toEqual({ dir: join(cache, KEY), manifest: { image: 'rootfs-1' }, hit: true });
      expect(builds).toBe(1);
    });

    it('builds again for other inputs', async () => {
      await buildCached(cache, KEY, build);
      const other = await buildCached(cache, `f${KEY.slice(1)}`, build);
      expect(other.hit).toBe(false);
      expect(builds).toBe(2);
    });

    it('leaves nothing behind when the build fails, so the next call builds', async () => {
      await expect(
        buildCached(cache, KEY, async (dir) => {
          await writeFile(join(dir, 'half'), 'x');
          throw new Error('mmdebstrap failed');
        }),
      ).rejects.toThrow('mmdebstrap failed');
      expect(await readdir(cache)).toEqual([]);
      expect(await lookupCache(cache, KEY)).toBeUndefined();
      expect((await buildCached(cache, KEY, build)).hit).toBe(false);
    });

    it('replaces a folder under the key that holds no valid entry', async () => {
      await mkdir(join(cache, KEY));
      await writeFile(join(cache, KEY, 'rootfs.tar'), 'debris');
      await writeFile(join(cache, KEY, ENTRY_FILE), '{"format":"wsfleet.image-cache-entry/1","key":"other"}');
      const result = await buildCached(cache, KEY, build);
      expect(result.hit).toBe(false);
      expect(await readFile(join(cache, KEY, 'rootfs.tar'), 'utf8')).toBe('build 1');
    });

    it('keeps the first of two builds of the same inputs at once, and gives it to both', async () => {
      let release = () => {};
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const slow = buildCached(cache, KEY, async (dir) => {
        await gate;
        return build(dir);
      });
      const fast = await buildCached(cache, KEY, build);
      release();
      const late = await slow;
      expect(fast.hit).toBe(false);
      expect(late).toEqual({ dir: join(cache, KEY), manifest: fast.manifest, hit: true });
      expect(await readdir(cache)).toEqual([KEY]);
    });

    it('refuses a key that is not a hex hash', async () => {
      await expect(buildCached(cache, '../etc', build)).rejects.toThrow('hex hash');
    });
  });

  describe('#lookupCache', () => {
    it('finds nothing in an empty or missing cache', async () => {
      expect(await lookupCache(cache, KEY)).toBeUndefined();
      expect(await lookupCache(join(cache, 'nope'), KEY)).toBeUndefined();
    });

    it('ignores an entry file that does not parse', async () => {
      await mkdir(join(cache, KEY));
      await writeFile(join(cache, KEY, ENTRY_FILE), '{');
      expect(await lookupCache(cache, KEY)).toBeUndefined();
    });
  });
});
