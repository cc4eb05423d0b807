import { describe, expect, it } from 'vitest';
import { judgeSecretKey, type SealedValue } from './key-verdict.js';

const value = (key: SealedValue['key'], overrides: Partial<SealedValue> = {}): SealedValue => ({
  kind: 'project',
  id: `id-${Math.random()}`,
  deleted: false,
  key,
  ...overrides,
});

describe('judging SECRET_KEY against the stored secrets', () => {
  it.each([
    ['an empty database', [], false, { start: true, reseal: 0, unreadable: 0, notes: 0 }],
    ['every secret under SECRET_KEY', [value('current'), value('current', { kind: 'sync' })], false, { start: true, reseal: 0, unreadable: 0, notes: 0 }],
    ['a rotation: some under the previous key', [value('current'), value('previous'), value('previous', { kind: 'sync' })], true, { start: true, reseal: 2, unreadable: 0, notes: 0 }],
    ['a rotation: all under the previous key', [value('previous'), value('previous')], true, { start: true, reseal: 2, unreadable: 0, notes: 0 }],
    ['a rotation already done', [value('current')], true, { start: true, reseal: 0, unreadable: 0, notes: 1 }],
    ['SECRET_KEY_PREVIOUS set on an empty database', [], true, { start: true, reseal: 0, unreadable: 0, notes: 1 }],
    ['one damaged row among good ones', [value('current'), value(undefined), value('current')], false, { start: true, reseal: 0, unreadable: 1, notes: 1 }],
    ['an unreadable deleted row', [value('current'), value(undefined, { deleted: true })], false, { start: true, reseal: 0, unreadable: 0, notes: 1 }],
    ['the wrong key', [value(undefined), value(undefined, { kind: 'sync' })], false, { start: false, reseal: 0, unreadable: 0, notes: 0 }],
    ['the wrong key, deleted rows only', [value(undefined, { deleted: true })], false, { start: false, reseal: 0, unreadable: 0, notes: 0 }],
    ['two wrong keys', [value(undefined)], true, { start: false, reseal: 0, unreadable: 0, notes: 0 }],
  ] as const)('%s', (_label, values, hasPrevious, expected) => {
    const verdict = judgeSecretKey(values, hasPrevious);
    expect({ start: verdict.start, reseal: verdict.reseal, unreadable: verdict.unreadable.length, notes: verdict.notes.length }).toEqual(expected);
    if (!verdict.start) {
      expect(verdict.problem).toMatch(hasPrevious ? /^Neither SECRET_KEY nor SECRET_KEY_PREVIOUS opens any of the \d+ secrets/ : /^SECRET_KEY does not open any of the \d+ secrets/);
      expect(verdict.problem).toContain('.data/secrets.env');
      expect(verdict.problem).toContain('SECRET_KEY_PREVIOUS to the old one');
    }
  });
});
