/**
 * How deep a parsed JSON value nests. `JSON.parse` accepts any depth, but `JSON.stringify` (and
 * every consumer that recurses) throws a RangeError on a few thousand levels, so a value from a
 * client is measured, without recursion, before anything serialises it.
 */

/**
 * Deepest nesting a publication's `data` may have (an object or array counts one level; a
 * scalar zero). Deep enough for any document a real application sends.
 */
export const MAX_DATA_DEPTH = 32;

/** True when `value` nests deeper than `max`; stops at the first level beyond it. */
export function exceedsDepth(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (;;) {
    const top = stack.pop();
    if (top === undefined) return false;
    const [item, depth] = top;
    if (typeof item !== 'object' || item === null) continue;
    if (depth + 1 > max) return true;
    const children = Array.isArray(item) ? item : Object.values(item);
    for (const child of children)
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
}
