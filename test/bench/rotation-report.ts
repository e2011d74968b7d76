/** The rotation run in the report: its table, and its goal for wsfleet. */
import { fixed, int, table } from './format.ts';
import type { Goal } from './goal.ts';
import type { NginxWorkers, RotationResult } from './rotation-scenario.ts';

/** The stated goal: a rotation under at least this many open WebSockets drops none of them. */
export const ROTATION_GOAL_CONNECTIONS = 1_000;

const workers = (w: NginxWorkers): string =>
  w.shuttingDown > 0 ? `${w.total} (${w.shuttingDown} old)` : `${w.total}`;

export function rotationTable(rows: readonly RotationResult[]): string {
  return table(
    [
      'nginx rotation',
      'conns',
      'open before',
      'open after',
      'closed',
      'app conns before/after',
      'window msgs',
      'missed msgs',
      'conns missing',
      'gaps',
      'max pause ms',
      'rotation ms',
      'serial B after ms',
      'workers before',
      'workers after',
      'old exit ms',
    ],
    rows.map((r) => [
      r.label,
      int(r.opened) + (r.failedToOpen > 0 ? ` (${r.failedToOpen} failed)` : ''),
      int(r.openBefore),
      int(r.openAfter),
      int(r.closedDuringRotation),
      `${int(r.appConnectionsBefore)}/${int(r.appConnectionsAfter)}`,
      int(r.window.toOffset - r.window.fromOffset + 1),
      int(r.missed.missed),
      int(r.missed.connectionsMissing),
      int(r.offsetGaps + r.outOfOrder),
      fixed(r.longestPauseMs, 0),
      fixed(r.rotationMs, 0),
      fixed(r.firstNewSerialMs, 0),
      workers(r.workersBefore),
      workers(r.workersAfter),
      r.oldWorkersExitMs === null ? '–' : fixed(r.oldWorkersExitMs, 0),
    ]),
  );
}

/** One line per row: which certificate the connections still open were served, and how others closed. */
export function rotationNotes(rows: readonly RotationResult[]): string[] {
  return rows.map((r) => {
    const bySerial = Object.entries(r.openBySerial)
      .map(
        ([serial, n]) =>
          `${n} on ${serial === r.serialBefore ? 'A' : serial === r.serialAfter ? 'B' : serial}`,
      )
      .join(', ');
    const codes = Object.entries(r.closeCodes)
      .map(([code, n]) => `${n}× ${code}`)
      .join(', ');
    return (
      `${r.label}: open at the end: ${bySerial || 'none'}` +
      (codes === '' ? '' : `; closed with ${codes}`) +
      `; ${r.oldSerialProbes} probe(s) after the command still got A` +
      (r.publishErrors > 0
        ? `; ${r.publishErrors} publish errors (${r.firstPublishError.slice(0, 60)})`
        : '') +
      (r.firstError === '' ? '' : `; first open error: ${r.firstError.slice(0, 60)}`)
    );
  });
}

export function rotationGoal(rows: readonly RotationResult[]): Goal {
  const goal = `rotation under ≥ ${ROTATION_GOAL_CONNECTIONS} WebSockets drops none`;
  const r = rows.find((row) => row.method === 'reload');
  if (r === undefined) return { goal, measured: '–', status: 'not measured' };
  const lost = r.closedDuringRotation + (r.openBefore - r.openAfter);
  const measured =
    `${int(r.closedDuringRotation)} of ${int(r.openBefore)} closed, ` +
    `${int(r.missed.missed)} messages missed, ${int(r.offsetGaps + r.outOfOrder)} gaps`;
  if (r.openBefore < ROTATION_GOAL_CONNECTIONS) {
    return { goal, measured: `${measured} (only ${int(r.openBefore)} connections)`, status: 'not measured' };
  }
  const none = lost === 0 && r.missed.missed === 0 && r.offsetGaps + r.outOfOrder === 0;
  return { goal, measured, status: none ? 'met' : 'not met' };
}
