import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashInputs, type InputEntry, listTree, shortHash } from '../../images/build/inputs.ts';
import { imageName, versionStamp } from '../../images/build/templates.ts';

describe('image inputs', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'wsfleet-inputs-'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function file(relative: string, content: string): Promise<string> {
    const path = join(dir, relative);
    await mkdir(join(path, '..'), { recursive: true });
    await writeFile(path, content);
    return path;
  }

  describe('listTree', () => {
    it('lists every file under a folder by its prefixed relative name, sorted', async () => {
      await file('p/b.sh', 'b');
      await file('p/files/z.cfg', 'z');
      await file('p/a.sh', 'a');
      const names = (await listTree(join(dir, 'p'), 'provision')).map((e) => e.name);
      expect(names).toEqual(['provision/a.sh', 'provision/b.sh', 'provision/files/z.cfg']);
    });

    it('lists nothing for a folder that does not exist', async () => {
      expect(await listTree(join(dir, 'missing'), 'polkit')).toEqual([]);
    });
  });

  describe('hashInputs', () => {
    async function entries(files: Record<string, string>): Promise<InputEntry[]> {
      const out: InputEntry[] = [];
      for (const [name, content] of Object.entries(files))
        out.push({ name, path: await file(`x/${name}`, content) });
      return out;
    }

    it('is the same for the same files, whatever their order and folder', async () => {
      const a = await entries({ 'a.sh': 'one', 'b/c.conf': 'two' });
      const elsewhere = [
        { name: 'b/c.conf', path: await file('y/c.conf', 'two') },
        { name: 'a.sh', path: await file('y/a.sh', 'one') },
      ];
      expect(await hashInputs(a)).toBe(await hashInputs(elsewhere));
      expect(await hashInputs(a)).toMatch(/^[0-9a-f]{64}$/);
    });

    it.each([
      ['a byte of a file', { 'a.sh': 'onE', 'b/c.conf': 'two' }, {}],
      ['the name of a file', { 'a2.sh': 'one', 'b/c.conf': 'two' }, {}],
      ['a file more', { 'a.sh': 'one', 'b/c.conf': 'two', d: '' }, {}],
      ['a value', { 'a.sh': 'one', 'b/c.conf': 'two' }, { role: 'renewer' }],
    ])('changes with %s', async (_what, files, values: Record<string, string>) => {
      const base = await hashInputs(await entries({ 'a.sh': 'one', 'b/c.conf': 'two' }), { role: 'app' });
      await rm(join(dir, 'x'), { recursive: true, force: true });
      const changed = await hashInputs(await entries(files), { role: 'app', ...values });
      expect(changed).not.toBe(base);
    });

    it('keeps names and contents apart: moving bytes between them changes the hash', async () => {
      const one = await hashInputs([{ name: 'ab', path: await file('1', 'c') }]);
      const two = await hashInputs([{ name: 'a', path: await file('2', 'bc') }]);
      expect(one).not.toBe(two);
      expect(await hashInputs([], { a: 'bc' })).not.toBe(await hashInputs([], { ab: 'c' }));
    });

    it('refuses a name listed twice', async () => {
      const path = await file('d', 'x');
      await expect(
        hashInputs([
          { name: 'n', path },
          { name: 'n', path },
        ]),
      ).rejects.toThrow('listed twice');
    });
  });

  it('uses the first 12 hex digits in image names', () => {
    expect(shortHash('0123456789abcdef'.repeat(4))).toBe('0123456789ab');
  });

  describe('imageName', () => {
    it.each([
      ['0.1.0', 'wsfleet-app-0-1-0-0123456789ab'],
      ['1.2.3-Beta.1', 'wsfleet-app-1-2-3-beta-1-0123456789ab'],
    ])('stamps version %s as the templates do', (version, name) => {
      expect(imageName('app', version, '0123456789ab')).toBe(name);
      expect(name).toMatch(/^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$/);
    });

    it('keeps only GCE name characters', () => {
      expect(versionStamp('2.0.0+build_7')).toBe('2-0-0-build-7');
    });
  });
});
