import { describe, expect, it } from 'vitest';
import { hrefOf, parseRoute, type Route } from './routes.js';

const P = '4b6e0b1c-6f2a-4f5e-9b1d-0c2e7d3a9f10';
const S = '1f0c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e';

describe('parseRoute', () => {
  it.each<[string, Route]>([
    ['/console', { page: 'projects' }],
    ['/console/', { page: 'projects' }],
    ['/console/projects', { page: 'projects' }],
    [`/console/projects/${P}`, { page: 'project', projectId: P }],
    [`/console/projects/${P}/`, { page: 'project', projectId: P }],
    [`/console/projects/${P}/syncs/new`, { page: 'new-sync', projectId: P }],
    [`/console/syncs/${S}`, { page: 'sync', syncId: S, tab: 'settings' }],
    [`/console/syncs/${S}/monitoring`, { page: 'sync', syncId: S, tab: 'monitoring' }],
    [`/console/syncs/${S}/try`, { page: 'sync', syncId: S, tab: 'try' }],
    [`/console/syncs/${S}/nope`, { page: 'not-found', path: `/console/syncs/${S}/nope` }],
    ['/console/projects/not-an-id', { page: 'not-found', path: '/console/projects/not-an-id' }],
  ])('%s', (path, route) => {
    expect(parseRoute(path)).toEqual(route);
  });

  it.each<Route>([
    { page: 'projects' },
    { page: 'project', projectId: P },
    { page: 'new-sync', projectId: P },
    { page: 'sync', syncId: S, tab: 'settings' },
    { page: 'sync', syncId: S, tab: 'history' },
  ])('hrefOf and parseRoute agree for %j', (route) => {
    expect(parseRoute(hrefOf(route))).toEqual(route);
  });
});
