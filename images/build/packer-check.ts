/** `packer fmt -check`, `packer validate` and `packer init`, each bounded, failures quoted whole. */
import { ImageError } from './errors.ts';
import { type PackerCommand, runPacker } from './packer-process.ts';

function quote(result: { stdout: string; stderr: string }): string {
  return [result.stdout, result.stderr]
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .join('\n');
}

/** `-var k=v` for each variable, in key order. */
export function varArgs(vars: Readonly<Record<string, string>>): string[] {
  return Object.keys(vars)
    .sort()
    .flatMap((key) => ['-var', `${key}=${vars[key] as string}`]);
}

/** Throws WSFLEET_IMAGE_INVALID with packer's diff when a file under `dir` is not canonical. */
export async function fmtCheck(cmd: PackerCommand, dir: string, timeoutMs = 30_000): Promise<void> {
  const result = await runPacker(cmd, ['fmt', '-check', '-diff', dir], { timeoutMs });
  if (result.exitCode === 0) return;
  const why = result.timedOut ? `no answer within ${timeoutMs} ms` : quote(result);
  throw new ImageError(
    'WSFLEET_IMAGE_INVALID',
    `packer fmt -check ${dir}: not formatted (run \`packer fmt ${dir}\`):\n${why}`,
  );
}

/** Throws WSFLEET_IMAGE_INVALID quoting packer when the template does not validate. */
export async function validate(
  cmd: PackerCommand,
  dir: string,
  vars: Readonly<Record<string, string>>,
  timeoutMs = 60_000,
): Promise<void> {
  const result = await runPacker(cmd, ['validate', ...varArgs(vars), dir], { timeoutMs });
  if (result.exitCode === 0) return;
  const why = result.timedOut ? `no answer within ${timeoutMs} ms` : quote(result);
  throw new ImageError('WSFLEET_IMAGE_INVALID', `packer validate ${dir}:\n${why}`);
}

/** Installs the plugins the template requires (packer ≥ 1.7 only). */
export async function init(cmd: PackerCommand, dir: string, timeoutMs = 300_000): Promise<void> {
  const result = await runPacker(cmd, ['init', dir], { timeoutMs });
  if (result.exitCode === 0) return;
  const why = result.timedOut ? `no answer within ${timeoutMs} ms` : quote(result);
  throw new ImageError(
    'WSFLEET_PACKER_UNAVAILABLE',
    `packer init ${dir} could not install the plugins:\n${why}`,
  );
}
