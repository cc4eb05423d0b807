const integer = new Intl.NumberFormat('en-US');

export const formatCount = (n: number) => integer.format(n);

export const formatRate = (rate: number) => `${(rate * 100).toFixed(rate === 1 || rate === 0 ? 0 : 2)}%`;

export function formatSeconds(seconds: number): string {
  if (seconds === 0) return '—';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  return `${seconds.toFixed(seconds < 10 ? 2 : 0)} s`;
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'medium' });
}

export const PERIOD_LABELS: Record<string, string> = {
  TEN_MINUTES: 'Last 10 minutes',
  ONE_HOUR: 'Last hour',
  FOUR_HOURS: 'Last 4 hours',
  ONE_DAY: 'Last 24 hours',
  ONE_WEEK: 'Last 7 days',
  TWO_WEEKS: 'Last 14 days',
};
