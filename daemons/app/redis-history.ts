/** Reading a channel's history for a resume, on the broker's history connection. */
import type { Redis } from 'ioredis';
import type { HistoryResult, Publication } from './broker.ts';
import type { HistoryLimits } from './memory-broker.ts';
import type { ScriptRunner } from './redis-script-runner.ts';
import { entryOffset, entryPayload, streamKey } from './redis-scripts.ts';

/** Entries per history read of a resume: one XRANGE reply stays small whatever the history holds. */
const HISTORY_BATCH = 200;

/** Publications of `channel` after `since` (in epoch `wanted`, when given), as Broker#history. */
export async function readHistory(
  hist: Redis,
  scripts: ScriptRunner,
  limits: HistoryLimits,
  channel: string,
  since: number,
  wanted: string | undefined,
): Promise<HistoryResult> {
  // On a connection of its own: a large replay never holds up publishes or live delivery.
  const position = await scripts.position(hist, channel);
  if ((wanted !== undefined && wanted !== position.epoch) || since > position.offset) {
    return { recovered: false, reason: 'epoch_changed', position };
  }
  const tooOld = { recovered: false, reason: 'too_old', position } as const;
  // MAXLEN ~ trims lazily, so the stream may keep more than the history promises.
  if (position.offset - since > limits.historySize) return tooOld;
  const publications: Publication[] = [];
  // Read in bounded batches up to the position read above (later entries are live ones).
  while (publications.length < position.offset - since) {
    const from = since + 1 + publications.length;
    const entries = await hist.xrangeBuffer(
      streamKey(channel),
      `0-${from}`,
      `0-${position.offset}`,
      'COUNT',
      HISTORY_BATCH,
    );
    for (const entry of entries) {
      if (entryOffset(entry) !== since + 1 + publications.length) return tooOld;
      publications.push({ channel, offset: entryOffset(entry), payload: entryPayload(entry) });
    }
    // Fewer than expected: trimmed or expired under us.
    if (entries.length < HISTORY_BATCH && publications.length !== position.offset - since) return tooOld;
  }
  return { recovered: true, position, publications };
}
