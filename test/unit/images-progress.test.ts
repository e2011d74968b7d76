import { describe, expect, it } from 'vitest';
import { createMachineReader } from '../../images/build/machine-readable.ts';
import { createProgress, formatElapsed } from '../../images/build/progress.ts';
import { failingBuild, nullBuild } from '../helpers/packer-recordings.ts';

/** Feeds recorded lines through a progress display whose clock advances 1 s per line. */
function render(lines: readonly string[], verbose = false) {
  let clock = 0;
  let text = '';
  const progress = createProgress({ write: (t) => (text += t), now: () => clock, verbose, tailLines: 3 });
  const reader = createMachineReader();
  for (const line of lines) {
    clock += 1000;
    for (const event of reader.push(line)) progress.event(event);
  }
  return { lines: text.split('\n').filter((l) => l !== ''), hidden: progress.hidden() };
}

describe('progress display', () => {
  describe('formatElapsed', () => {
    it.each([
      [0, '0:00'],
      [999, '0:00'],
      [61_000, '1:01'],
      [3_599_000, '59:59'],
      [3_723_000, '1:02:03'],
      [-5, '0:00'],
    ])('shows %i ms as %s', (ms, text) => {
      expect(formatElapsed(ms)).toBe(text);
    });
  });

  /** `[ m:ss]` for the record at 1-based position `n`. */
  function at(n: number): string {
    return `[${formatElapsed(n * 1000).padStart(5)}]`;
  }

  function position(lines: readonly string[], text: string): number {
    return lines.findIndex((l) => l.includes(text)) + 1;
  }

  it('shows the steps of a build with the time since the start, without packer prefixes', () => {
    const { lines } = render(nullBuild);
    expect(lines[0]).toMatch(/^\[ 0:01\] Running local shell script: \/tmp\/packer-shell\d+$/);
    expect(lines[1]).toMatch(
      /^\[ 0:02\] checking the inputs of the app image in \/tmp\/wsfleet-image-\w+\/stage\/wsfleet-image$/,
    );
    expect(lines).toContain(`${at(position(nullBuild, 'artifact,0,end'))} artifact of app.null.app: Null`);
    expect(lines.filter((l) => /^\[[ 0-9:]+\] (?:==> |--> )?\s*app\.null\.app: /.test(l))).toEqual([]);
  });

  it('hides command output unless verbose, keeping the last lines for a failure report', () => {
    const quiet = render(nullBuild);
    expect(quiet.lines.some((l) => l.includes('would run:'))).toBe(false);
    expect(quiet.hidden).toHaveLength(3);
    expect(quiet.hidden.at(-1)).toBe('would run: cloud-init clean --logs --machine-id');

    const verbose = render(nullBuild, true);
    const clean = position(nullBuild, 'would run: cloud-init clean');
    expect(verbose.lines).toContain(`${at(clean)}     would run: cloud-init clean --logs --machine-id`);
    expect(verbose.hidden).toEqual([]);
  });

  it('marks every error line', () => {
    const { lines } = render(failingBuild);
    const cause = position(failingBuild, 'does not start on Node');
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^\\[ 0:${String(cause).padStart(2, '0')}\\] ERROR error: the bundle .* does not start on Node 22\\.`,
        ),
      ),
    );
    expect(lines.filter((l) => l.includes('ERROR Script exited with non-zero exit status: 1'))).toHaveLength(
      1,
    );
  });

  it('shows its own steps the same way', () => {
    let text = '';
    const progress = createProgress({ write: (t) => (text += t), now: () => 65_000 });
    progress.step('packer 1.6.6');
    expect(text).toBe('[ 0:00] packer 1.6.6\n');
  });
});
