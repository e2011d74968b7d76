/**
 * Reading `systemd-analyze verify`: it also reports problems of every unit it loads on the way
 * (Debian's own targets and services, nginx.service), which a point release of any package can
 * add. The verdict is on the project's units and drop-ins; the rest is shown, not judged.
 */

/** A line is about our units when it names one of them (or our nginx drop-in). */
const OURS = /wsfleet/;

export function verifyFindings(output: string): { ours: string[]; others: string[] } {
  const lines = output
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '');
  return { ours: lines.filter((l) => OURS.test(l)), others: lines.filter((l) => !OURS.test(l)) };
}

/** Prints what verify said about units that are not ours, so that it is seen. */
export function showOthers(others: readonly string[]): void {
  if (others.length > 0)
    process.stdout.write(
      `systemd-analyze verify, about units not ours (not judged):\n  ${others.join('\n  ')}\n`,
    );
}
