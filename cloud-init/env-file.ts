/**
 * Environment files for systemd's `EnvironmentFile=` (systemd.exec(5)): comment lines, then one
 * `NAME="value"` line per variable.
 *
 * Every value is double-quoted, with `\`, `"`, `$` and `` ` `` escaped by a backslash: inside
 * double quotes systemd turns exactly those escapes back into the character and keeps everything
 * else (spaces, `#`, `;`, `=`, `'`, any Unicode) as written, so a value reads back unchanged.
 * What no variable may hold is refused rather than escaped: control characters (a newline would
 * start a new assignment in a careless reader, NUL cannot be passed at all) and text that is not
 * valid Unicode, which systemd drops with a warning.
 */

/** Names systemd accepts (env_name_is_valid): a letter or `_`, then letters, digits, `_`. */
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Characters that keep a backslash in front of them inside double quotes. */
const ESCAPED = /["\\$`]/g;

/** Why `value` cannot be written to an environment file, or undefined when it can. */
export function envValueProblem(value: string): string | undefined {
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit < 0x20 || (unit >= 0x7f && unit <= 0x9f)) {
      return `has a control character (U+${unit.toString(16).toUpperCase().padStart(4, '0')})`;
    }
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return 'is not valid Unicode (a lone surrogate)';
    }
    if (unit >= 0xdc00 && unit <= 0xdfff) return 'is not valid Unicode (a lone surrogate)';
  }
  return undefined;
}

/** `value` as a double-quoted `EnvironmentFile=` value. Throws when `envValueProblem` has one. */
export function quoteEnvValue(value: string): string {
  const problem = envValueProblem(value);
  if (problem !== undefined) throw new Error(`An environment value ${problem}`);
  return `"${value.replace(ESCAPED, (c) => `\\${c}`)}"`;
}

/**
 * The text of an environment file: `comments` as `#` lines, then the variables in the order
 * given. Throws on a name systemd would not accept or a value `envValueProblem` refuses.
 */
export function formatEnvFile(
  comments: readonly string[],
  variables: ReadonlyArray<readonly [name: string, value: string]>,
): string {
  // A comment is one line, and one that ends in a backslash would swallow the next line.
  const bad = comments.find((c) => envValueProblem(c) !== undefined || c.endsWith('\\'));
  if (bad !== undefined) throw new Error(`Not a one-line comment: ${JSON.stringify(bad)}`);
  const lines = comments.map((c) => (c === '' ? '#' : `# ${c}`));
  for (const [name, value] of variables) {
    if (!NAME.test(name)) throw new Error(`Not an environment variable name: ${JSON.stringify(name)}`);
    lines.push(`${name}=${quoteEnvValue(value)}`);
  }
  return `${lines.join('\n')}\n`;
}
