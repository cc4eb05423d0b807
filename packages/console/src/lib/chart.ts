import type { SeriesPoint } from '../api/types.js';

export interface Bar {
  x: number;
  width: number;
  /** Delivered, stacked from the axis up. */
  deliveredY: number;
  deliveredHeight: number;
  /** Not delivered, stacked on top. */
  failedY: number;
  failedHeight: number;
  point: SeriesPoint;
}

export interface ChartLayout {
  bars: Bar[];
  /** The top of the scale, a round number ≥ the tallest bar. */
  max: number;
  ticks: number[];
}

/** A round number ≥ n (1, 2, 5 × a power of ten), so the axis reads well. */
export function niceCeiling(n: number): number {
  if (n <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(n));
  for (const step of [1, 2, 5, 10]) if (step * power >= n) return step * power;
  return 10 * power;
}

/**
 * Stacked bars of delivered and not-delivered payloads per bucket in a `width` × `height` box
 * (SVG coordinates, y downwards), with a 1-unit gap between bars.
 */
export function chartLayout(points: readonly SeriesPoint[], width: number, height: number): ChartLayout {
  const max = niceCeiling(Math.max(0, ...points.map((p) => p.delivered + p.notDelivered)));
  const slot = points.length === 0 ? width : width / points.length;
  const scale = (v: number) => (v / max) * height;
  const bars = points.map((point, i) => {
    const deliveredHeight = scale(point.delivered);
    const failedHeight = scale(point.notDelivered);
    return {
      x: i * slot,
      width: Math.max(slot - 1, 0.5),
      deliveredY: height - deliveredHeight,
      deliveredHeight,
      failedY: height - deliveredHeight - failedHeight,
      failedHeight,
      point,
    };
  });
  return { bars, max, ticks: [0, max / 2, max] };
}
