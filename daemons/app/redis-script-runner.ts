/**
 * Running the broker's Lua scripts on a connection, and the two that read or move a channel's
 * position.
 */
import type { Redis } from 'ioredis';
import type { Position } from './broker.ts';
import { newEpoch } from './memory-broker.ts';
import { metaKey, POSITION, ROTATE, type Script, streamKey, toPosition } from './redis-scripts.ts';

export interface ScriptRunner {
  run(conn: Redis, s: Script, keys: string[], args: (string | number)[]): Promise<unknown>;
  /** The connection closed: the next use sends EVAL again (Redis may have restarted). */
  forget(conn: Redis): void;
  /** The channel's epoch and newest offset; creates the epoch if there is none. */
  position(conn: Redis, channel: string): Promise<Position>;
  /** Moves the channel to a fresh epoch unless another node already moved it from `lost`. */
  rotate(conn: Redis, channel: string, lost: string): Promise<Position>;
}

/** `retentionMs`: how long a channel's epoch and counter outlive its last publication. */
export function createScriptRunner(retentionMs: number): ScriptRunner {
  /** Scripts sent with EVAL on each connection since it last connected. */
  const loadedScripts = new Map<Redis, Set<string>>();

  async function run(conn: Redis, s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    // The first use on a connection sends EVAL, which loads the script; later calls send EVALSHA
    // behind it on the same connection. Trying EVALSHA first and falling back on NOSCRIPT would
    // reorder publications: those in flight when the script was missing would be executed after
    // later ones that found it loaded.
    let scripts = loadedScripts.get(conn);
    if (scripts === undefined) {
      scripts = new Set();
      loadedScripts.set(conn, scripts);
    }
    if (!scripts.has(s.sha)) {
      scripts.add(s.sha);
      return conn.eval(s.lua, keys.length, ...keys, ...args);
    }
    try {
      return await conn.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (err) {
      // Only a SCRIPT FLUSH while connected gets here; EVAL loads the script again.
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return conn.eval(s.lua, keys.length, ...keys, ...args);
    }
  }

  return {
    run,
    forget(conn) {
      loadedScripts.delete(conn);
    },
    async position(conn, channel) {
      const keys = [streamKey(channel), metaKey(channel)];
      return toPosition(await run(conn, POSITION, keys, [newEpoch(), retentionMs]));
    },
    async rotate(conn, channel, lost) {
      const keys = [streamKey(channel), metaKey(channel)];
      return toPosition(await run(conn, ROTATE, keys, [lost, newEpoch(), retentionMs]));
    },
  };
}
