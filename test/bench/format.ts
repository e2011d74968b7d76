/** Plain-text tables and number formats for the bench report. */

/** `align` has one letter per column, l or r; by default the first column is left-aligned. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], align = 'l'): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => ((align[i] ?? 'r') === 'l' ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export const fixed = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : '–');
export const kb = (bytes: number): string => fixed(bytes / 1024, 2);
export const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
export const ratio = (a: number, b: number): string =>
  Number.isFinite(a / b) && b !== 0 ? `${fixed(a / b, 2)}×` : '–';
