import { describe, expect, it } from 'vitest';
import {
  cleanUiLine,
  createMachineReader,
  type PackerEvent,
  parseMachineLine,
  unescapeField,
} from '../../images/build/machine-readable.ts';
import { summarize } from '../../images/build/packer-build.ts';
import { failingBuild, nullBuild, onlyMatchedNothing } from '../helpers/packer-recordings.ts';

function read(lines: readonly string[]) {
  const reader = createMachineReader();
  const events: PackerEvent[] = [];
  for (const line of lines) events.push(...reader.push(line));
  return { events, outcome: reader.outcome() };
}

function uiTexts(events: readonly PackerEvent[], level?: string): string[] {
  return events.flatMap((e) =>
    e.kind === 'ui' && (level === undefined || e.level === level) ? [e.text] : [],
  );
}

describe('packer machine-readable output', () => {
  describe('unescapeField', () => {
    it.each([
      ['a%!(PACKER_COMMA) b', 'a, b'],
      ['\\n==> Wait completed', '\n==> Wait completed'],
      ['one\\r\\ntwo', 'one\r\ntwo'],
      ['plain', 'plain'],
    ])('turns %j into %j', (field, text) => {
      expect(unescapeField(field)).toBe(text);
    });
  });

  describe('parseMachineLine', () => {
    it('splits timestamp, target, type and data, unescaping every field', () => {
      expect(parseMachineLine('1795265339,app.null.app,artifact,0,id,Null')).toEqual({
        time: 1795265339,
        target: 'app.null.app',
        type: 'artifact',
        data: ['0', 'id', 'Null'],
      });
      expect(parseMachineLine('1,,ui,message,    x.y: GCE%!(PACKER_COMMA) NoCloud')?.data).toEqual([
        'message',
        '    x.y: GCE, NoCloud',
      ]);
    });

    it.each([[''], ['Error: something plain'], ['abc,,ui,say,x'], ['12,only-two']])(
      'returns undefined for %j, which is not a record',
      (line) => {
        expect(parseMachineLine(line)).toBeUndefined();
      },
    );
  });

  describe('cleanUiLine', () => {
    it.each([
      ['==> app.null.app: Running local shell script: /tmp/x', 'Running local shell script: /tmp/x', true],
      ['    app.null.app: ==> checking the inputs', 'checking the inputs', true],
      ['    app.null.app: would run: apt-get clean', 'would run: apt-get clean', false],
      ['==> renewer.null.renewer:', '', true],
      ['==> renewer.null.renewer:     at f (x.js:1:7)', '    at f (x.js:1:7)', true],
      [
        '\n==> Builds finished but no artifacts were created.',
        '\n==> Builds finished but no artifacts were created.',
        false,
      ],
      ['==> Wait completed after 3 microseconds', 'Wait completed after 3 microseconds', true],
      [
        "Build 'app.null.app' finished after 1 second.",
        "Build 'app.null.app' finished after 1 second.",
        false,
      ],
    ])('reads %j as %j (step: %s)', (line, text, step) => {
      expect(cleanUiLine(line)).toEqual({ text, step });
    });
  });

  describe('a recorded null-source build that succeeds', () => {
    it('yields one complete artifact of the selected build', () => {
      const { events, outcome } = read(nullBuild);
      expect(outcome.artifacts).toEqual([
        {
          build: 'app.null.app',
          index: 0,
          builderId: 'fnoeding.null',
          id: 'Null',
          description: 'Did not export anything. This is the null builder',
          files: [],
        },
      ]);
      expect(events.filter((e) => e.kind === 'artifact')).toHaveLength(1);
      expect(outcome.buildErrors).toEqual([]);
      expect(outcome.uiErrors).toEqual([]);
    });

    it("carries the provisioning script's steps, with packer's escaped commas restored", () => {
      const messages = uiTexts(read(nullBuild).events, 'message').map((t) => cleanUiLine(t).text);
      expect(messages).toContainEqual(
        expect.stringMatching(
          /^checking the inputs of the app image in \/tmp\/wsfleet-image-\w+\/stage\/wsfleet-image$/,
        ),
      );
      expect(messages).toContain(
        'creating /etc/wsfleet and installing the cloud-init datasources (GCE, NoCloud, None)',
      );
      expect(messages).toContain('would run: cloud-init clean --logs --machine-id');
    });
  });

  describe('a recorded build whose -only matched nothing', () => {
    it('has no artifact and no error, only the closing lines', () => {
      const { events, outcome } = read(onlyMatchedNothing);
      expect(outcome).toEqual({ artifacts: [], buildErrors: [], uiErrors: [] });
      expect(uiTexts(events, 'say').map((t) => t.trim())).toEqual([
        expect.stringMatching(/^==> Wait completed after \d+ \w+$/),
        '==> Builds finished but no artifacts were created.',
      ]);
    });
  });

  describe('a recorded build whose provisioning fails', () => {
    it("records the build's final error and every UI error line", () => {
      const { outcome } = read(failingBuild);
      expect(outcome.artifacts).toEqual([]);
      expect(outcome.buildErrors).toEqual([
        {
          build: 'renewer.null.renewer',
          message: 'Script exited with non-zero exit status: 1.Allowed exit codes are: [0]',
        },
      ]);
      expect(outcome.uiErrors.length).toBeGreaterThan(10);
    });

    it('summarizes it as the final error and the last lines the script printed before it', () => {
      const summary = summarize(read(failingBuild).outcome, '');
      const lines = summary.split('\n');
      expect(lines[0]).toBe(
        '  renewer.null.renewer: Script exited with non-zero exit status: 1.Allowed exit codes are: [0]',
      );
      expect(lines[1]).toBe('  Last error output:');
      expect(lines.at(-1)).toMatch(
        /^ {4}error: the bundle \/tmp\/wsfleet-image-\w+\/stage\/wsfleet-image\/wsfleet\.js does not start on Node 22\.\d+\.\d+$/,
      );
      expect(lines).toHaveLength(7);
      expect(summary).not.toContain('Some builds');
    });
  });

  describe('artifacts', () => {
    // The googlecompute builder's artifact has the image name as its id (packer's
    // builder/googlecompute/artifact.go); these lines follow the recorded null artifact's shape.
    it('collects several artifacts of several builds, each on its `end`', () => {
      const { events, outcome } = read([
        '1,app.googlecompute.app,artifact-count,1',
        '1,app.googlecompute.app,artifact,0,builder-id,packer.googlecompute',
        '1,app.googlecompute.app,artifact,0,id,wsfleet-app-0-1-0-0123456789ab',
        '1,app.googlecompute.app,artifact,0,string,A disk image was created: wsfleet-app-0-1-0-0123456789ab',
        '1,app.googlecompute.app,artifact,0,files-count,0',
        '2,renewer.null.renewer,artifact,0,id,Null',
        '2,renewer.null.renewer,artifact,0,file,0,a%!(PACKER_COMMA)b.txt',
        '2,renewer.null.renewer,artifact,0,end',
        '3,app.googlecompute.app,artifact,0,end',
      ]);
      expect(events.flatMap((e) => (e.kind === 'artifact' ? [e.artifact.build] : []))).toEqual([
        'renewer.null.renewer',
        'app.googlecompute.app',
      ]);
      expect(outcome.artifacts.map((a) => [a.id, a.files])).toEqual([
        ['Null', ['a,b.txt']],
        ['wsfleet-app-0-1-0-0123456789ab', []],
      ]);
    });

    it('still reports an artifact whose listing was cut before `end`, if it has an id', () => {
      const { outcome } = read(['1,a.null.a,artifact,0,id,Null', '1,b.null.b,artifact,0,builder-id,x']);
      expect(outcome.artifacts.map((a) => a.build)).toEqual(['a.null.a']);
    });
  });

  it('passes lines that are not records through as text', () => {
    expect(read(['Error: plain text from packer']).events).toEqual([
      { kind: 'text', text: 'Error: plain text from packer' },
    ]);
  });
});
