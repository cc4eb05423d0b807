import { describe, expect, it } from 'vitest';
import { InFlightBudget } from './in-flight.js';

describe('InFlightBudget', () => {
  it('admits up to maxRequests and refuses the next, until one is given back', () => {
    const budget = new InFlightBudget(2, 1000);
    const a = budget.admit();
    const b = budget.admit();
    expect(a && b).toBeTruthy();
    expect(budget.admit()).toBeUndefined();
    a!.responseClosed();
    expect(budget.requests).toBe(1);
    expect(budget.admit()).toBeDefined();
    expect(budget.peakRequests).toBe(2);
  });

  it.each([
    // reservations in order, what fits, bytes held after
    { label: 'within the bound', reserve: [400, 500], fits: [true, true], held: 900 },
    { label: 'exactly the bound', reserve: [1000], fits: [true], held: 1000 },
    { label: 'one byte over: refused, nothing counted', reserve: [600, 401], fits: [true, false], held: 600 },
    { label: 'a refused reservation leaves room for a smaller one', reserve: [600, 500, 400], fits: [true, false, true], held: 1000 },
  ])('bytes: $label', ({ reserve, fits, held }) => {
    const budget = new InFlightBudget(10, 1000);
    const ticket = budget.admit()!;
    expect(reserve.map((n) => ticket.reserve(n))).toEqual(fits);
    expect(budget.bytes).toBe(held);
    expect(budget.peakBytes).toBe(held);
  });

  it('bytes are shared between tickets and given back when a ticket is released', () => {
    const budget = new InFlightBudget(10, 1000);
    const a = budget.admit()!;
    const b = budget.admit()!;
    expect(a.reserve(700)).toBe(true);
    expect(b.reserve(400)).toBe(false);
    a.responseClosed();
    expect(budget.bytes).toBe(0);
    expect(b.reserve(400)).toBe(true);
  });

  it('a ticket is released only when its response is over and its work is done (either order)', () => {
    const budget = new InFlightBudget(10, 1000);
    const early = budget.admit()!;
    early.reserve(100);
    early.holdWork();
    early.responseClosed(); // client went away while its events are being published
    expect([budget.requests, budget.bytes]).toEqual([1, 100]);
    early.workDone();
    expect([budget.requests, budget.bytes]).toEqual([0, 0]);

    const normal = budget.admit()!;
    normal.reserve(100);
    normal.holdWork();
    normal.workDone();
    expect(budget.requests).toBe(1);
    normal.responseClosed();
    expect([budget.requests, budget.bytes]).toEqual([0, 0]);
  });

  it('releasing twice or reserving after release changes nothing', () => {
    const budget = new InFlightBudget(10, 1000);
    const ticket = budget.admit()!;
    ticket.reserve(300);
    ticket.responseClosed();
    ticket.responseClosed();
    ticket.workDone();
    expect(ticket.reserve(10)).toBe(false);
    expect([budget.requests, budget.bytes]).toEqual([0, 0]);
  });

  it('unreserve gives back part of a worst-case reservation, never more than was reserved', () => {
    const budget = new InFlightBudget(10, 1000);
    const ticket = budget.admit()!;
    ticket.reserve(800);
    ticket.unreserve(500);
    expect(budget.bytes).toBe(300);
    ticket.unreserve(5000);
    expect(budget.bytes).toBe(0);
    ticket.responseClosed();
    expect(budget.bytes).toBe(0);
  });
});
