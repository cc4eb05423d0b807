import { describe, expect, it } from 'vitest';
import { projectRow } from '../testing/rows.js';
import { toProject } from './resource.js';
import { projectSnapshot } from './snapshot.js';

describe('project mapping', () => {
  it('shows admins the opened key, never the sealed one or the hash', () => {
    const project = toProject(projectRow({ version: 2 }), 'f'.repeat(32));
    expect(project).toEqual({
      id: '11111111-1111-4111-8111-111111111111',
      name: 'Shop',
      apiKey: 'f'.repeat(32),
      version: 2,
      createdAt: '2026-01-02T03:04:05.000Z',
      updatedAt: '2026-01-03T03:04:05.000Z',
    });
  });

  it.each([
    [null, false],
    [new Date('2026-02-01T00:00:00Z'), true],
  ])('snapshot with deletedAt %j is deleted: %s', (deletedAt, deleted) => {
    expect(projectSnapshot(projectRow({ deletedAt, version: 3 }))).toEqual({
      kind: 'project',
      id: '11111111-1111-4111-8111-111111111111',
      name: 'Shop',
      apiKeyHash: 'a'.repeat(64),
      version: 3,
      deleted,
      updatedAt: '2026-01-03T03:04:05.000Z',
    });
  });
});
