/**
 * The web console's headers. The bundle has no inline script or style and loads nothing from
 * elsewhere, so the policy can be strict; the console talks only to this origin's API.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/**
 * Headers for one console file, by its path relative to the build folder: Vite names what is
 * under `assets/` by content hash, so those never change and are cached for a year; everything
 * else (index.html above all) is revalidated every time, so a new version shows at once.
 */
export function consoleHeaders(relativePath: string): Record<string, string> {
  const hashed = relativePath.replace(/^\/+/, '').startsWith('assets/');
  return {
    ...SECURITY_HEADERS,
    'cache-control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
  };
}

/**
 * What a console path that is no file answers: the app's page for its own routes
 * (`/console/projects/…`, client-side routing), but a 404 for a missing asset or file name, so
 * a stale script reference never receives HTML.
 */
export function fallbackFor(pathUnderConsole: string): 'index' | 'not-found' {
  const path = pathUnderConsole.split('?')[0]!.replace(/^\/+/, '');
  if (path.startsWith('assets/')) return 'not-found';
  const last = path.split('/').pop() ?? '';
  return /\.[A-Za-z0-9]{1,8}$/.test(last) ? 'not-found' : 'index';
}
