/** CLI output: human-readable by default (key/value lines, or a table), JSON lines with --json. */
export type Row = Record<string, unknown>;

const cell = (v: unknown): string => (v === null || v === undefined ? '-' : typeof v === 'object' ? JSON.stringify(v) : String(v));

export function render(value: Row | Row[], json: boolean): string {
  if (json) return JSON.stringify(value);
  if (!Array.isArray(value)) {
    const width = Math.max(...Object.keys(value).map((k) => k.length));
    return Object.entries(value).map(([k, v]) => `${k.padEnd(width)}  ${cell(v)}`).join('\n');
  }
  if (value.length === 0) return '(none)';
  const cols = [...new Set(value.flatMap((r) => Object.keys(r)))];
  const widths = cols.map((c) => Math.max(c.length, ...value.map((r) => cell(r[c]).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  return [line(cols.map((c) => c.toUpperCase())), ...value.map((r) => line(cols.map((c) => cell(r[c]))))].join('\n');
}
