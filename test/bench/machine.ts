/** The facts about the machine and the peers that a reader needs to weigh the figures. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';

export interface MachineFacts {
  readonly nproc: number;
  readonly cpu: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly openFilesLimit: string;
  readonly loadAverage: readonly number[];
  readonly redis: string;
  readonly packages: Readonly<Record<string, string>>;
}

function run(command: string, args: readonly string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8' }).trim();
  } catch {
    return 'missing';
  }
}

function packageVersion(root: string, name: string): string {
  try {
    const pkg = JSON.parse(readFileSync(`${root}node_modules/${name}/package.json`, 'utf8')) as {
      version?: string;
    };
    return pkg.version ?? '?';
  } catch {
    return 'missing';
  }
}

export function machineFacts(root: string): MachineFacts {
  return {
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? '?',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    openFilesLimit: run('sh', ['-c', 'ulimit -n']),
    loadAverage: loadavg().map((l) => Math.round(l * 100) / 100),
    redis: run('redis-server', ['--version']),
    packages: Object.fromEntries(
      ['socket.io', '@socket.io/redis-adapter', 'ioredis', 'ws'].map((p) => [p, packageVersion(root, p)]),
    ),
  };
}

export function describeMachine(m: MachineFacts): string[] {
  return [
    `machine: ${m.nproc} cores (${m.cpu}), ${m.memoryGiB} GiB, Linux ${m.kernel}, node ${m.node}, ` +
      `ulimit -n ${m.openFilesLimit}, load average ${m.loadAverage.join(' ')}`,
    `peers:   ${m.redis.split(' ').slice(0, 3).join(' ')}; ` +
      Object.entries(m.packages)
        .map(([p, v]) => `${p} ${v}`)
        .join(', '),
  ];
}
