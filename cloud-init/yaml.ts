/**
 * The little YAML that user-data needs, written so that no value can change the document's
 * structure: every scalar is a double-quoted string in which only printable ASCII stands for
 * itself. Everything else is an escape that YAML 1.1 (PyYAML, which cloud-init uses) and 1.2 read
 * alike: `\n`, `\t`, `\uXXXX`, `\UXXXXXXXX`. That also keeps out characters PyYAML treats as line
 * breaks (U+0085, U+2028, U+2029) or refuses (most control characters) when they appear raw.
 */

/** A YAML node: a string, a list, or a mapping with string keys (in insertion order). */
export type YamlValue = string | readonly YamlValue[] | { readonly [key: string]: YamlValue };

function hex(codePoint: number, digits: number): string {
  return codePoint.toString(16).toUpperCase().padStart(digits, '0');
}

/** `text` as a double-quoted YAML scalar. Throws on a lone surrogate (not valid Unicode). */
export function yamlString(text: string): string {
  let out = '"';
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (cp >= 0xd800 && cp <= 0xdfff)
      throw new Error('A YAML string must be valid Unicode (a lone surrogate)');
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (cp === 0x0a) out += '\\n';
    else if (cp === 0x09) out += '\\t';
    else if (cp <= 0xffff) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return `${out}"`;
}

function isList(value: YamlValue): value is readonly YamlValue[] {
  return Array.isArray(value);
}

/** A list of scalars on one line (flow style), as `runcmd` commands read best. */
function flowList(items: readonly YamlValue[]): string | undefined {
  if (!items.every((i) => typeof i === 'string')) return undefined;
  return `[${items.map((i) => yamlString(i as string)).join(', ')}]`;
}

function lines(value: YamlValue, indent: string): string[] {
  if (typeof value === 'string') return [`${indent}${yamlString(value)}`];
  if (isList(value)) {
    return value.flatMap((item) => {
      if (typeof item === 'string') return [`${indent}- ${yamlString(item)}`];
      if (isList(item)) {
        const flow = flowList(item);
        if (flow !== undefined) return [`${indent}- ${flow}`];
      }
      const [first = '', ...rest] = lines(item, `${indent}  `);
      return [`${indent}- ${first.slice(indent.length + 2)}`, ...rest];
    });
  }
  return Object.entries(value).flatMap(([key, item]) => {
    if (typeof item === 'string') return [`${indent}${key}: ${yamlString(item)}`];
    return [`${indent}${key}:`, ...lines(item, `${indent}  `)];
  });
}

/**
 * A block-style YAML document for `root`, with `comments` as `#` lines on top. Mapping keys are
 * written bare, so they must be plain identifiers (the caller's own constants, never input).
 */
export function yamlDocument(
  comments: readonly string[],
  root: { readonly [key: string]: YamlValue },
): string {
  const keys: string[] = [];
  const collect = (v: YamlValue): void => {
    if (typeof v === 'string') return;
    if (isList(v)) v.forEach(collect);
    else
      for (const [k, item] of Object.entries(v)) {
        keys.push(k);
        collect(item);
      }
  };
  collect(root);
  const bad = keys.find((k) => !/^[a-z_][a-z0-9_]*$/.test(k));
  if (bad !== undefined) throw new Error(`Not a plain YAML key: ${JSON.stringify(bad)}`);
  return `${[...comments, ...lines(root, '')].join('\n')}\n`;
}
