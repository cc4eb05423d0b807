import { describe, expect, it } from 'vitest';
import { chartLayout, niceCeiling } from './chart.js';

describe('niceCeiling', () => {
  it.each([
    [0, 1],
    [1, 1],
    [3, 5],
    [7, 10],
    [11, 20],
    [180, 200],
    [201, 500],
    [999, 1000],
  ])('%i → %i', (n, ceiling) => {
    expect(niceCeiling(n)).toBe(ceiling);
  });
});

describe('chartLayout', () => {
  const point = (delivered: number, notDelivered: number) => ({ start: '', delivered, notDelivered, failedAttempts: 0 });

  it('stacks not delivered on delivered, scaled to a round top', () => {
    const { bars, max, ticks } = chartLayout([point(4, 1), point(0, 0), point(2, 2)], 300, 100);
    expect(max).toBe(5);
    expect(ticks).toEqual([0, 2.5, 5]);
    expect(bars[0]).toMatchObject({ x: 0, width: 99, deliveredY: 20, deliveredHeight: 80, failedY: 0, failedHeight: 20 });
    expect(bars[1]).toMatchObject({ x: 100, deliveredHeight: 0, failedHeight: 0, deliveredY: 100 });
    expect(bars[2]).toMatchObject({ x: 200, deliveredY: 60, deliveredHeight: 40, failedY: 20, failedHeight: 40 });
  });

  it('draws an empty window flat', () => {
    const { bars, max } = chartLayout([point(0, 0), point(0, 0)], 100, 50);
    expect(max).toBe(1);
    expect(bars.every((b) => b.deliveredHeight === 0 && b.failedHeight === 0)).toBe(true);
  });
});
