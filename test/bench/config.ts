/**
 * The bench's settings, from BENCH_* environment variables, parsed once into a frozen object.
 * An empty value means unset; `BENCH_QUICK=1` swaps in small defaults (a smoke run of about a minute).
 */
import { z } from 'zod';

export const SYSTEM_IDS = ['wsfleet', 'socketio', 'ws'] as const;
export type SystemId = (typeof SYSTEM_IDS)[number];
export const PHASES = ['memory', 'throughput', 'rotation'] as const;

const count = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const seconds = z.coerce.number().min(0.5).max(60);

/** Full-size defaults, then the quick ones: [full, quick]. */
const DEFAULTS = {
  idleConnections: [10_000, 1_000],
  subscribers: [4_000, 400],
  publishers: [4, 2],
  window: [128, 128],
  seconds: [5, 2],
  warmupSeconds: [3, 1],
  latencySeconds: [5, 1],
  workers: [4, 2],
  gcSettleMs: [1_500, 300],
  rounds: [2, 1],
  quietWaitSeconds: [5, 0],
  rotationConnections: [1_000, 200],
  rotationSeconds: [5, 2],
} as const;

function schema(quick: boolean) {
  const d = <K extends keyof typeof DEFAULTS>(key: K): number => DEFAULTS[key][quick ? 1 : 0];
  return z.object({
    quick: z.boolean(),
    systems: z
      .string()
      .default(SYSTEM_IDS.join(','))
      .transform((s) => s.split(',').map((x) => x.trim()))
      .pipe(z.array(z.enum(SYSTEM_IDS)).min(1)),
    phases: z
      .string()
      .default(PHASES.join(','))
      .transform((s) => s.split(',').map((x) => x.trim()))
      .pipe(z.array(z.enum(PHASES)).min(1)),
    idleConnections: count(10, 19_000).default(d('idleConnections')),
    subscribers: count(2, 19_000).default(d('subscribers')),
    publishers: count(1, 64).default(d('publishers')),
    window: count(1, 100_000).default(d('window')),
    payloadBytes: count(40, 65_536).default(64),
    seconds: seconds.default(d('seconds')),
    warmupSeconds: seconds.default(d('warmupSeconds')),
    latencySeconds: seconds.default(d('latencySeconds')),
    /** Fraction of the measured saturation publish rate used for the latency run. */
    latencyLoad: z.coerce.number().gt(0).max(1).default(0.5),
    /** A fixed publish rate for the latency run instead (publications per second); 0: unset. */
    latencyRate: z.coerce.number().min(0).default(0),
    /** A low publish rate whose latency shows one fan-out without queueing; 0 skips that run. */
    floorRate: z.coerce.number().min(0).default(5),
    /**
     * Subscribers (split over both nodes) of a second fan-out run per system, with its own
     * saturation and latency at the same fraction of it: a scale whose per-publication fan-out
     * this machine can write within milliseconds. 0 skips that run.
     */
    latencySubscribers: z.coerce
      .number()
      .int()
      .min(0)
      .max(19_000)
      .refine((n) => n === 0 || n >= 2, 'at least 2 (one per node), or 0 to skip')
      .default(200),
    /** Open WebSockets through nginx while its certificate is rotated. */
    rotationConnections: count(1, 19_000).default(d('rotationConnections')),
    /** How long traffic goes on after the rotation before the connections are counted. */
    rotationSeconds: seconds.default(d('rotationSeconds')),
    workers: count(1, 16).default(d('workers')),
    /** Throughput runs per system, alternating the order of the systems from round to round. */
    rounds: count(1, 10).default(d('rounds')),
    /** Before each load run, wait at most this long for other jobs on the machine to quiet down. */
    quietWaitSeconds: z.coerce.number().min(0).max(60).default(d('quietWaitSeconds')),
    /** Wait after a forced GC before reading VmRSS, for freed pages to return to the kernel. */
    gcSettleMs: count(0, 30_000).default(d('gcSettleMs')),
    /** Extra loopback source addresses for client sockets (127.0.0.2 …) when ports run short. */
    sourceAddresses: z.boolean().default(false),
    profile: z.boolean().default(false),
    build: z.boolean().default(true),
    outDir: z.string().default('.bench'),
  });
}

/** Settings that cannot run; the message lists every problem. */
export class BenchConfigError extends Error {
  override readonly name = 'BenchConfigError';
}

export type BenchConfig = Readonly<z.output<ReturnType<typeof schema>>>;

const ENV_KEYS: Record<Exclude<keyof BenchConfig, 'quick'>, string> = {
  systems: 'BENCH_SYSTEMS',
  phases: 'BENCH_PHASES',
  idleConnections: 'BENCH_IDLE_CONNECTIONS',
  subscribers: 'BENCH_SUBSCRIBERS',
  publishers: 'BENCH_PUBLISHERS',
  window: 'BENCH_WINDOW',
  payloadBytes: 'BENCH_PAYLOAD_BYTES',
  seconds: 'BENCH_SECONDS',
  warmupSeconds: 'BENCH_WARMUP_SECONDS',
  latencySeconds: 'BENCH_LATENCY_SECONDS',
  latencyLoad: 'BENCH_LATENCY_LOAD',
  latencyRate: 'BENCH_LATENCY_RATE',
  floorRate: 'BENCH_FLOOR_RATE',
  latencySubscribers: 'BENCH_LATENCY_SUBSCRIBERS',
  rotationConnections: 'BENCH_ROTATION_CONNECTIONS',
  rotationSeconds: 'BENCH_ROTATION_SECONDS',
  workers: 'BENCH_WORKERS',
  rounds: 'BENCH_ROUNDS',
  quietWaitSeconds: 'BENCH_QUIET_WAIT_SECONDS',
  gcSettleMs: 'BENCH_GC_SETTLE_MS',
  sourceAddresses: 'BENCH_SOURCE_ADDRESSES',
  profile: 'BENCH_PROFILE',
  build: 'BENCH_BUILD',
  outDir: 'BENCH_OUT_DIR',
};

/** "1", "true", "yes" are true; "0", "false", "no" are false. */
function flag(value: string): boolean | string {
  if (/^(1|true|yes)$/i.test(value)) return true;
  if (/^(0|false|no)$/i.test(value)) return false;
  return value;
}

const BOOLEAN_KEYS = new Set(['sourceAddresses', 'profile', 'build']);

export function parseBenchConfig(env: NodeJS.ProcessEnv): BenchConfig {
  const quick = flag(env.BENCH_QUICK ?? '') === true;
  const raw: Record<string, unknown> = { quick };
  for (const [key, name] of Object.entries(ENV_KEYS)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    raw[key] = BOOLEAN_KEYS.has(key) ? flag(value) : value;
  }
  const result = schema(quick).safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const key = String(issue.path[0]) as keyof typeof ENV_KEYS;
      return `Expected \`${ENV_KEYS[key] ?? key}\` to be valid: ${issue.message}`;
    });
    throw new BenchConfigError(`Invalid bench settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  return Object.freeze(result.data);
}

/** The BENCH_* variables that were set, for the report's command line. */
export function benchEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] => entry[0].startsWith('BENCH_') && !!entry[1],
    ),
  );
}
