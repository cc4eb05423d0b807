/** The phases of `npm run bench`, in the order they run. */
export const PHASES = ['ingest', 'e2e1', 'e2e100', 'latency', 'memory'] as const;
export type Phase = (typeof PHASES)[number];

/**
 * The phases BENCH_ONLY selects (comma-separated names of PHASES; unset or empty: all). The
 * latency phase runs at half the rate e2e1 measured, so it brings e2e1 along.
 */
export function phasesFrom(only: string | undefined): ReadonlySet<Phase> {
  const names = (only ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) return new Set(PHASES);
  const unknown = names.filter((n) => !(PHASES as readonly string[]).includes(n));
  if (unknown.length > 0) throw new Error(`BENCH_ONLY: unknown phase ${unknown.join(', ')} (phases: ${PHASES.join(', ')})`);
  const selected = new Set(names as Phase[]);
  if (selected.has('latency')) selected.add('e2e1');
  return selected;
}

/** One figure of the bench: what was measured, its target, and the same-run baseline. */
export interface Row {
  figure: string;
  measured: number;
  unit: string;
  /** The target's value, and whether the figure must be at least (throughput) or at most (latency, memory) it. */
  target: number;
  atLeast: boolean;
  baseline: string;
  pass: boolean;
}

export function formatNumber(value: number, unit: string): string {
  if (!Number.isFinite(value)) return String(value);
  if (unit === 'ratio') return value.toFixed(2);
  return Math.round(value).toLocaleString('en');
}

/** "met (×1.3 better)" or "missed by 59 % (×2.5)": how far the figure is from its target. */
export function verdict(row: Pick<Row, 'measured' | 'target' | 'atLeast'>): string {
  const { measured, target, atLeast } = row;
  if (!Number.isFinite(measured)) return 'not measured';
  const met = atLeast ? measured >= target : measured <= target;
  const factor = atLeast ? target / measured : measured / target;
  if (met) return `met (×${(1 / factor).toFixed(1)} ${atLeast ? 'above' : 'below'})`;
  const percent = Math.round(atLeast ? (1 - measured / target) * 100 : (measured / target - 1) * 100);
  return `missed by ${percent} % (×${factor.toFixed(1)})`;
}

/** e.g. "ingest, events/s  24,376 events/s — target ≥ 60,000 — missed by 59 % (×2.5) | bare fastify 170,000 events/s". */
export function formatRow(row: Row, figureWidth = 0): string {
  const measured = `${formatNumber(row.measured, row.unit)} ${row.unit === 'ratio' ? '' : row.unit}`.trim();
  const target = `${row.atLeast ? '≥' : '≤'} ${formatNumber(row.target, row.unit)}`;
  return `${row.pass ? '✓' : '✗'} ${row.figure.padEnd(figureWidth)}  ${measured.padStart(18)} — target ${target.padEnd(9)} — ${verdict(row).padEnd(24)} | ${row.baseline}`;
}
