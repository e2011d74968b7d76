/**
 * A daemon's log on a lab VM, as its JSON lines in the journal, read from a mark on: a scenario
 * waits for the one line that shows what it claims (that certificate, that store failure, that
 * renewer's decision), written after the scenario started — never for text that any start-up or
 * an earlier scenario also wrote.
 */
import type { Machine } from '../../scripts/lab/machine.ts';
import type { LogLine } from '../helpers/logs.ts';

/** A position in a VM's journal: what is written later is "since the mark". */
export type JournalMark = string | undefined;

/** The position of the journal's newest entry now (undefined when the journal is empty). */
export async function journalMark(machine: Machine): Promise<JournalMark> {
  const out = (await machine.run(['journalctl', '--no-pager', '-n', '1', '-o', 'json'])).trim();
  if (out === '') return undefined;
  const cursor = (JSON.parse(out) as { __CURSOR?: unknown }).__CURSOR;
  if (typeof cursor !== 'string') throw new Error(`${machine.name}: a journal entry without a cursor`);
  return cursor;
}

/** Parsed JSON log lines of `unit` written after `mark` (all of them without a mark), in order. */
export async function linesSince(machine: Machine, unit: string, mark: JournalMark): Promise<LogLine[]> {
  const out = await machine.run([
    'journalctl',
    '--no-pager',
    '-o',
    'cat',
    '-u',
    unit,
    ...(mark === undefined ? [] : [`--after-cursor=${mark}`]),
  ]);
  const lines: LogLine[] = [];
  for (const text of out.split('\n')) {
    // systemd's own lines about the unit ("Started …") are not the daemon's.
    if (!text.startsWith('{')) continue;
    try {
      const line = JSON.parse(text) as Partial<LogLine>;
      if (typeof line.msg === 'string') lines.push(line as LogLine);
    } catch {
      // A line cut by journald's line limit: not one a scenario waits for.
    }
  }
  return lines;
}
