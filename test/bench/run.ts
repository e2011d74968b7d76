/**
 * `npm run bench`: wsfleet against Socket.IO 4 + @socket.io/redis-adapter, side by side in one
 * run on one Redis, two nodes each, loaded by the same raw `ws` clients in separate processes;
 * a bare `ws` server is the floor of memory and of fan-out latency. Also rotates the certificate
 * of a real nginx in front of wsfleet under open WebSockets (reload; restart as the peer). Prints
 * tables with ratios and the goals, and writes everything to <BENCH_OUT_DIR>/results.json. Sizes
 * come from BENCH_* variables (config.ts); BENCH_QUICK=1 is a smoke-sized run.
 */
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { BUNDLE, build, ROOT } from '../../scripts/build.ts';
import { bundleEntryPoints } from './bundle.ts';
import { SubscriberPool } from './client-pool.ts';
import { type BenchConfig, BenchConfigError, benchEnv, parseBenchConfig } from './config.ts';
import { type FloorResult, measureFanoutFloor } from './floor-scenario.ts';
import { evaluateGoals, summarizeSystems } from './goals.ts';
import { describeMachine, machineFacts } from './machine.ts';
import { type MemoryResult, measureMemory } from './memory-scenario.ts';
import { killAllNow, waitForQuiet } from './processes.ts';
import { type ProfileSummary, summarizeProfile } from './profile.ts';
import { type BenchRedis, startRedis } from './redis.ts';
import { BUSY_CORES, renderReport } from './render.ts';
import type { Failure, Results } from './report.ts';
import { measureRotation, type RotationResult } from './rotation-scenario.ts';
import { type System, socketioSystem, wsfleetSystem, wsSystem } from './systems.ts';
import { measureThroughput, type ThroughputResult } from './throughput-scenario.ts';

/** A hard stop far above the expected run time, so that nothing is ever left running. */
const WATCHDOG_MS = 12 * 60_000;

const say = (text = ''): void => {
  process.stdout.write(`${text}\n`);
};

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Builds dist/wsfleet.js from the current sources, as the tests do. */
async function prepareWsfleet(rebuild: boolean): Promise<{ bundle: string } | { error: string }> {
  if (!existsSync(`${ROOT}daemons/app/main.ts`)) return { error: 'daemons/app/main.ts does not exist yet' };
  if (rebuild) {
    try {
      await build();
    } catch (err) {
      return { error: `scripts/build.ts failed: ${errorText(err).split('\n').slice(0, 6).join(' ')}` };
    }
  }
  return existsSync(BUNDLE) ? { bundle: BUNDLE } : { error: `${BUNDLE} does not exist` };
}

async function quiet(config: BenchConfig): Promise<void> {
  const cores = await waitForQuiet(BUSY_CORES, config.quietWaitSeconds * 1000);
  if (cores > BUSY_CORES)
    say(`  the machine is busy (${cores.toFixed(2)} cores in use by others); measuring anyway`);
}

interface Scripts {
  readonly 'ws-node': string;
  readonly 'socketio-node': string;
  readonly 'subscriber-worker': string;
  readonly 'publisher-worker': string;
  readonly 'rotation-worker': string;
}

async function measureAll(
  config: BenchConfig,
  scripts: Scripts,
  systems: readonly System[],
  wsfleetBundle: string | undefined,
  redis: BenchRedis,
  pool: SubscriberPool,
  outDir: string,
  logDir: string,
  failures: Failure[],
): Promise<Omit<Results, 'failures'>> {
  const memory: MemoryResult[] = [];
  const floor: FloorResult[] = [];
  const throughput: ThroughputResult[] = [];
  const latencyScale: ThroughputResult[] = [];
  const rotation: RotationResult[] = [];
  const profiles: Record<string, { A: ProfileSummary; B: ProfileSummary }> = {};
  const attempt = async (
    system: string,
    phase: Failure['phase'],
    task: () => Promise<void>,
  ): Promise<void> => {
    try {
      await task();
    } catch (err) {
      failures.push({ system, phase, error: errorText(err) });
      say(`  failed: ${errorText(err)}`);
      await pool.close().catch(() => undefined);
    }
  };

  for (const system of config.phases.includes('memory') ? systems : []) {
    await redis.flushAll();
    say(`memory: ${system.label} …`);
    await attempt(system.id, 'memory', async () => {
      memory.push(
        await measureMemory(system, pool, config.idleConnections, redis.url, logDir, config.gcSettleMs),
      );
    });
  }

  const runsThroughput = config.phases.includes('throughput');
  if (runsThroughput && config.systems.includes('ws') && config.floorRate > 0) {
    const system = wsSystem(scripts['ws-node'], true);
    say(`fan-out floor: ${system.label} …`);
    await quiet(config);
    await attempt(system.id, 'floor', async () => {
      floor.push(
        await measureFanoutFloor(
          system,
          pool,
          scripts['publisher-worker'],
          Math.ceil(config.subscribers / 2),
          config.floorRate,
          config.latencySeconds,
          config.payloadBytes,
          logDir,
        ),
      );
    });
  }

  const clustered = runsThroughput ? systems.filter((s) => s.hasChannels) : [];
  // Alternate the order so that drift on the machine does not always favour the same system.
  const order = (round: number): System[] => (round % 2 === 1 ? clustered : [...clustered].reverse());
  for (let round = 1; round <= config.rounds; round++) {
    for (const system of order(round)) {
      await redis.flushAll();
      say(`throughput and latency: ${system.label}${config.rounds > 1 ? `, round ${round}` : ''} …`);
      await quiet(config);
      await attempt(system.id, 'throughput', async () => {
        const result = await measureThroughput(
          system,
          pool,
          scripts['publisher-worker'],
          redis,
          config,
          logDir,
          round,
        );
        if (result.profiles !== undefined) {
          const name = `${outDir}/${system.id}-round${round}`;
          writeFileSync(`${name}-A.cpuprofile`, JSON.stringify(result.profiles.A));
          writeFileSync(`${name}-B.cpuprofile`, JSON.stringify(result.profiles.B));
          profiles[`${system.id} round ${round}`] = {
            A: summarizeProfile(result.profiles.A),
            B: summarizeProfile(result.profiles.B),
          };
        }
        throughput.push(result);
      });
    }
    // The same runs at a scale whose fan-out this machine can write within milliseconds, each
    // with its own saturation, so that its latency run is at a fraction of that scale's own load.
    for (const system of config.latencySubscribers > 0 ? order(round) : []) {
      await redis.flushAll();
      say(
        `latency at ${config.latencySubscribers} subscribers: ${system.label}` +
          `${config.rounds > 1 ? `, round ${round}` : ''} …`,
      );
      await quiet(config);
      await attempt(system.id, 'latency', async () => {
        latencyScale.push(
          await measureThroughput(
            system,
            pool,
            scripts['publisher-worker'],
            redis,
            { ...config, subscribers: config.latencySubscribers, profile: false },
            logDir,
            round,
          ),
        );
      });
    }
  }

  if (config.phases.includes('rotation') && wsfleetBundle === undefined) {
    say('rotation: not measured, it needs wsfleet');
  }
  if (config.phases.includes('rotation') && wsfleetBundle !== undefined) {
    for (const method of ['reload', 'restart'] as const) {
      await redis.flushAll();
      say(`rotation under ${config.rotationConnections} WebSockets through nginx: ${method} …`);
      await attempt('wsfleet', 'rotation', async () => {
        rotation.push(
          await measureRotation(method, {
            bundle: wsfleetBundle,
            clientScript: scripts['rotation-worker'],
            redisUrl: redis.url,
            clientProcesses: config.workers,
            connections: config.rotationConnections,
            afterSeconds: config.rotationSeconds,
            logDir,
          }),
        );
      });
    }
  }
  return {
    memory,
    floor,
    throughput: throughput.map(({ profiles: _profiles, ...rest }) => rest),
    latencyScale: latencyScale.map(({ profiles: _profiles, ...rest }) => rest),
    rotation,
    profiles,
  };
}

async function main(): Promise<number> {
  const config = parseBenchConfig(process.env);
  const outDir = resolve(ROOT, config.outDir);
  const logDir = `${outDir}/logs`;
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });

  const env = benchEnv(process.env);
  const command = [...Object.entries(env).map(([k, v]) => `${k}=${v}`), 'tsx test/bench/run.ts'].join(' ');
  const machine = machineFacts(ROOT);
  say(`command: ${command}${config.quick ? '   (quick mode)' : ''}`);
  for (const line of describeMachine(machine)) say(line);
  say(
    `sizes:   ${config.idleConnections} idle connections; ${config.subscribers} subscribers (half per node), ` +
      `${config.publishers} publishers on node A, window ${config.window}, payload ${config.payloadBytes} B; ` +
      `${config.warmupSeconds}+${config.seconds} s saturation, ${config.latencySeconds} s per latency run; ` +
      `${config.rounds} round(s); ${config.workers} client processes; ` +
      `latency also at ${config.latencySubscribers} subscribers; ` +
      `rotation under ${config.rotationConnections} WebSockets, ${config.rotationSeconds} s after it`,
  );
  say();

  const scripts = await bundleEntryPoints(`${outDir}/build`);
  const failures: Failure[] = [];
  const systems: System[] = [];
  let wsfleetBundle: string | undefined;
  if (config.systems.includes('ws')) systems.push(wsSystem(scripts['ws-node']));
  if (config.systems.includes('socketio')) systems.push(socketioSystem(scripts['socketio-node']));
  if (config.systems.includes('wsfleet')) {
    const prepared = await prepareWsfleet(config.build);
    if ('error' in prepared) {
      failures.push({ system: 'wsfleet', phase: 'memory', error: prepared.error });
      say(`wsfleet: not measured: ${prepared.error}`);
    } else {
      wsfleetBundle = prepared.bundle;
      systems.push(wsfleetSystem(prepared.bundle));
    }
  }

  const started = performance.now();
  let redis: BenchRedis | undefined;
  let pool: SubscriberPool | undefined;
  let measured: Omit<Results, 'failures'>;
  try {
    redis = await startRedis();
    pool = new SubscriberPool(scripts['subscriber-worker'], config.workers, logDir, config.sourceAddresses);
    measured = await measureAll(
      config,
      scripts,
      systems,
      wsfleetBundle,
      redis,
      pool,
      outDir,
      logDir,
      failures,
    );
  } finally {
    await pool?.stop().catch(() => undefined);
    await redis?.stop().catch(() => undefined);
    killAllNow();
  }

  const results: Results = { ...measured, failures };
  const summaries = summarizeSystems(results.throughput);
  const latencySummaries = summarizeSystems(results.latencyScale);
  const goals = evaluateGoals(results, summaries, latencySummaries, config);
  say();
  say(renderReport(config, results, [...summaries, ...latencySummaries], goals));

  const wallSeconds = (performance.now() - started) / 1000;
  const file = `${outDir}/results.json`;
  const bundleInfo =
    wsfleetBundle === undefined ? null : { path: wsfleetBundle, mtime: statSync(wsfleetBundle).mtime };
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        command,
        argv: process.argv,
        env,
        date: new Date().toISOString(),
        machine,
        wsfleetBundle: bundleInfo,
        config,
        goals,
        summaries,
        latencySummaries,
        ...results,
        wallSeconds,
      },
      null,
      2,
    )}\n`,
  );
  say();
  say(`results: ${file}; logs: ${logDir}; wall time ${wallSeconds.toFixed(0)} s`);
  return failures.length === 0 ? 0 : 1;
}

process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    killAllNow();
    process.exit(130);
  });
}
setTimeout(() => {
  process.stderr.write(`bench: still running after ${WATCHDOG_MS / 60_000} min; stopping everything\n`);
  killAllNow();
  process.exit(1);
}, WATCHDOG_MS).unref();

try {
  process.exitCode = await main();
} catch (err) {
  killAllNow();
  if (err instanceof BenchConfigError) {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exitCode = 78; // EX_CONFIG, as the daemons exit on bad settings
  } else {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  }
}
