/**
 * The deploy's values, checked one by one and turned into `WSFLEET_*` variables of the env file
 * of the daemon that reads them: the right type, no character an environment file cannot hold,
 * and list forms joined the way the daemons' options split them. Problems are collected, not
 * thrown, so the caller reports them all at once.
 */
import { envName, type Options } from '../daemons/shared/config.ts';
import { envValueProblem } from './env-file.ts';

/** One env file: the daemon that reads it, that daemon's options, and the variables so far. */
export interface EnvFile {
  readonly daemon: 'app' | 'cert-sync' | 'renewer' | 'app-secrets' | 'app-redis-auth';
  readonly options: Options;
  readonly variables: Array<[string, string]>;
}

/** A value quoted in a problem (never a secret's). */
export function show(value: unknown): string {
  return JSON.stringify(value);
}

/** Collects variables for one env file, checking each value's type and characters on the way. */
export class Collector {
  readonly problems: string[] = [];
  constructor(private readonly values: Readonly<Record<string, unknown>>) {}

  /** Adds option `key`'s variable to `file` from `values[from]`, when set. */
  text(file: EnvFile, key: string, from: string = key): void {
    const value = this.values[from];
    if (value === undefined) return;
    if (typeof value !== 'string') {
      this.problems.push(`\`${from}\` must be a string`);
      return;
    }
    this.add(file, key, from, value);
  }

  number(file: EnvFile, key: string): void {
    const value = this.values[key];
    if (value === undefined) return;
    if (typeof value !== 'number' || !Number.isFinite(value))
      this.problems.push(`\`${key}\` must be a number`);
    else this.add(file, key, key, String(value));
  }

  flag(file: EnvFile, key: string): void {
    const value = this.values[key];
    if (value === undefined) return;
    if (typeof value !== 'boolean') this.problems.push(`\`${key}\` must be true or false`);
    else this.add(file, key, key, String(value));
  }

  list(file: EnvFile, key: string, from: string, separator: string): void {
    const value = this.values[from];
    if (value === undefined) return;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
      this.problems.push(`\`${from}\` must be a list of strings`);
      return;
    }
    const bad = value.filter((v) => v === '' || /[\s,]/.test(v));
    if (bad.length > 0) {
      this.problems.push(
        `\`${from}\` items must be non-empty and hold no spaces or commas, got ${show(bad)}`,
      );
      return;
    }
    this.add(file, key, from, value.join(separator));
  }

  /** `certs`: a space-separated list of comma-separated name sets (`--cert`'s env form). */
  certs(file: EnvFile): void {
    const value = this.values.certs;
    if (!Array.isArray(value) || value.length === 0) {
      this.problems.push('`certs` must list at least one certificate (a list of names)');
      return;
    }
    const sets: string[] = [];
    for (const set of value) {
      if (!Array.isArray(set) || set.length === 0 || !set.every((n) => typeof n === 'string')) {
        this.problems.push(`\`certs\` entries must be non-empty lists of names, got ${show(set)}`);
        return;
      }
      const bad = set.filter((n: string) => n === '' || /[\s,]/.test(n));
      if (bad.length > 0) {
        this.problems.push(`\`certs\` names hold no spaces or commas, got ${show(bad)}`);
        return;
      }
      sets.push(set.join(','));
    }
    this.add(file, 'cert', 'certs', sets.join(' '));
  }

  /** Adds option `key`'s variable to `file` with `value`, derived from `values[from]`. */
  value(file: EnvFile, key: string, from: string, value: string): void {
    this.add(file, key, from, value);
  }

  private add(file: EnvFile, key: string, from: string, value: string): void {
    const problem = envValueProblem(value);
    if (problem !== undefined) {
      this.problems.push(`\`${from}\` ${problem}`);
      return;
    }
    if (!(key in file.options)) throw new Error(`${key} is not an option of ${file.daemon}`);
    file.variables.push([envName(key), value]);
  }
}
