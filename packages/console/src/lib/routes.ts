/** The console's pages, addressed by path under /console (client-side routing). */
export const SYNC_TABS = ['settings', 'try', 'monitoring', 'history'] as const;
export type SyncTab = (typeof SYNC_TABS)[number];

export type Route =
  | { page: 'projects' }
  | { page: 'project'; projectId: string }
  | { page: 'new-sync'; projectId: string }
  | { page: 'sync'; syncId: string; tab: SyncTab }
  | { page: 'not-found'; path: string };

export const BASE = '/console';

const ID = '([0-9a-fA-F-]{36})';

export function parseRoute(pathname: string): Route {
  const path = (pathname.startsWith(BASE) ? pathname.slice(BASE.length) : pathname).replace(/\/+$/, '') || '/';
  let m: RegExpExecArray | null;
  if (path === '/' || path === '/projects') return { page: 'projects' };
  if ((m = new RegExp(`^/projects/${ID}$`).exec(path))) return { page: 'project', projectId: m[1]! };
  if ((m = new RegExp(`^/projects/${ID}/syncs/new$`).exec(path))) return { page: 'new-sync', projectId: m[1]! };
  if ((m = new RegExp(`^/syncs/${ID}(?:/([a-z]+))?$`).exec(path))) {
    const tab = (m[2] ?? 'settings') as SyncTab;
    if (SYNC_TABS.includes(tab)) return { page: 'sync', syncId: m[1]!, tab };
  }
  return { page: 'not-found', path: pathname };
}

export function hrefOf(route: Route): string {
  switch (route.page) {
    case 'projects':
      return `${BASE}/`;
    case 'project':
      return `${BASE}/projects/${route.projectId}`;
    case 'new-sync':
      return `${BASE}/projects/${route.projectId}/syncs/new`;
    case 'sync':
      return route.tab === 'settings' ? `${BASE}/syncs/${route.syncId}` : `${BASE}/syncs/${route.syncId}/${route.tab}`;
    case 'not-found':
      return route.path;
  }
}
