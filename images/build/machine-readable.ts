/**
 * Packer's `-machine-readable` output: one record per line, `timestamp,target,type,data…`, where
 * a comma inside a field is written `%!(PACKER_COMMA)` and a newline `\n`. This turns the lines
 * into events (what the UI said, each artifact once complete, each build's error) and keeps the
 * outcome of the run.
 */

export interface MachineLine {
  readonly time: number;
  readonly target: string;
  readonly type: string;
  readonly data: readonly string[];
}

export interface Artifact {
  /** The build that made it, e.g. `app.googlecompute.app`. */
  readonly build: string;
  readonly index: number;
  readonly builderId?: string;
  /** What it is: for googlecompute the image name, for null the word `Null`. */
  readonly id?: string;
  readonly description?: string;
  readonly files: readonly string[];
}

export type UiLevel = 'say' | 'message' | 'error';

export type PackerEvent =
  | { readonly kind: 'ui'; readonly level: UiLevel; readonly text: string; readonly time: number }
  | { readonly kind: 'artifact'; readonly artifact: Artifact }
  | { readonly kind: 'build-error'; readonly build: string; readonly message: string }
  | { readonly kind: 'text'; readonly text: string };

export interface PackerOutcome {
  readonly artifacts: readonly Artifact[];
  /** `error` records: the error each failed build ended with. */
  readonly buildErrors: readonly { readonly build: string; readonly message: string }[];
  /** Everything the UI printed as an error, in order. */
  readonly uiErrors: readonly string[];
}

// `==> app.null.app: …`, `--> app.null.app: …`, `    app.null.app: …`, and `==> app.null.app:`
// alone for an empty line of a provisioner's output.
const BUILD_PREFIX = /^(?:==> |--> |\s+)?[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)+:(?: |$)/;

/**
 * A UI line without packer's arrow and build name, and whether it announces a step: packer marks
 * its steps `==> build: …`, the provisioning scripts theirs `==> …` after the build name.
 */
export function cleanUiLine(line: string): { text: string; step: boolean } {
  const prefix = BUILD_PREFIX.exec(line)?.[0] ?? '';
  const bare = line.slice(prefix.length);
  const arrow = /^(?:==>|-->) ?/.exec(bare);
  if (arrow !== null) return { text: bare.slice(arrow[0].length).trimEnd(), step: true };
  return { text: bare.trimEnd(), step: /^(?:==>|-->)/.test(prefix) };
}

/** Undoes packer's escaping of one field. */
export function unescapeField(field: string): string {
  return field.replaceAll('%!(PACKER_COMMA)', ',').replaceAll('\\n', '\n').replaceAll('\\r', '\r');
}

/** One line as a record, or undefined for a line that is not one (packer printed plain text). */
export function parseMachineLine(line: string): MachineLine | undefined {
  const fields = line.split(',');
  const [time, target, type, ...data] = fields;
  if (time === undefined || target === undefined || type === undefined || !/^\d+$/.test(time)) {
    return undefined;
  }
  return { time: Number(time), target: unescapeField(target), type, data: data.map(unescapeField) };
}

interface PartialArtifact {
  build: string;
  index: number;
  builderId?: string;
  id?: string;
  description?: string;
  files: string[];
}

function freeze(a: PartialArtifact): Artifact {
  return Object.freeze({ ...a, files: Object.freeze([...a.files]) });
}

export interface MachineReader {
  /** Feeds one line of stdout; returns what it means. */
  push(line: string): PackerEvent[];
  outcome(): PackerOutcome;
}

export function createMachineReader(): MachineReader {
  const open = new Map<string, PartialArtifact>();
  const done: Artifact[] = [];
  const buildErrors: { build: string; message: string }[] = [];
  const uiErrors: string[] = [];

  function artifact(record: MachineLine): PackerEvent[] {
    const [index, key, ...rest] = record.data;
    if (index === undefined || key === undefined || !/^\d+$/.test(index)) return [];
    const slot = `${record.target}\u0000${index}`;
    let a = open.get(slot);
    if (a === undefined) {
      a = { build: record.target, index: Number(index), files: [] };
      open.set(slot, a);
    }
    const value = rest.join(',');
    switch (key) {
      case 'builder-id':
        a.builderId = value;
        break;
      case 'id':
        a.id = value;
        break;
      case 'string':
        a.description = value;
        break;
      case 'file':
        // `file,N,NAME`
        if (rest[1] !== undefined) a.files.push(rest.slice(1).join(','));
        break;
      case 'end': {
        open.delete(slot);
        const complete = freeze(a);
        done.push(complete);
        return [{ kind: 'artifact', artifact: complete }];
      }
    }
    return [];
  }

  return {
    push(line) {
      const record = parseMachineLine(line);
      if (record === undefined) return line.trim() === '' ? [] : [{ kind: 'text', text: line }];
      switch (record.type) {
        case 'ui': {
          const [level, ...text] = record.data;
          if (level !== 'say' && level !== 'message' && level !== 'error') return [];
          const joined = text.join(',');
          if (level === 'error') uiErrors.push(joined.trim());
          return [{ kind: 'ui', level, text: joined, time: record.time }];
        }
        case 'artifact':
          return artifact(record);
        case 'error': {
          const message = record.data.join(',');
          buildErrors.push({ build: record.target, message });
          return [{ kind: 'build-error', build: record.target, message }];
        }
        default:
          return [];
      }
    },
    outcome() {
      // An artifact whose `end` never came (packer killed mid-listing) still counts if it has an id.
      const partial = [...open.values()].filter((a) => a.id !== undefined).map(freeze);
      return { artifacts: [...done, ...partial], buildErrors: [...buildErrors], uiErrors: [...uiErrors] };
    },
  };
}
