import { describe, expect, it } from 'vitest';
import { BytesBudget } from './bytes-budget.js';

describe('BytesBudget', () => {
  it('admits up to the budget, then in arrival order as bytes are released', () => {
    const budget = new BytesBudget(100);
    const admitted: string[] = [];
    expect(budget.admit(60, () => admitted.push('a'))).toBe(true);
    expect(budget.admit(30, () => admitted.push('b'))).toBe(true);
    expect(budget.admit(20, () => admitted.push('c'))).toBe(false);
    // A small one that would fit does not pass the one waiting before it.
    expect(budget.admit(5, () => admitted.push('d'))).toBe(false);
    expect(budget.inUse).toBe(90);
    expect(budget.queued).toBe(2);
    budget.release(30);
    expect(admitted).toEqual(['c', 'd']);
    expect(budget.inUse).toBe(85);
    expect(budget.queued).toBe(0);
  });

  it('admits an item larger than the whole budget alone, so it is never stuck', () => {
    const budget = new BytesBudget(100);
    const admitted: string[] = [];
    expect(budget.admit(10, () => admitted.push('small'))).toBe(true);
    expect(budget.admit(500, () => admitted.push('huge'))).toBe(false);
    expect(budget.admit(10, () => admitted.push('after'))).toBe(false);
    budget.release(10);
    expect(admitted).toEqual(['huge']);
    budget.release(500);
    expect(admitted).toEqual(['huge', 'after']);
    expect(new BytesBudget(100).admit(500, () => undefined)).toBe(true);
  });

  it('keeps order over many items and forgets those admitted', () => {
    const budget = new BytesBudget(10);
    const admitted: number[] = [];
    const held: number[] = [];
    for (let i = 0; i < 5000; i++) {
      if (budget.admit(3, () => admitted.push(i))) admitted.push(i);
    }
    while (admitted.length > held.length) {
      held.push(admitted[held.length]!);
      budget.release(3);
    }
    expect(admitted).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    expect(budget.inUse).toBe(0);
    expect(() => new BytesBudget(0)).toThrow(/positive/);
  });
});
