import { describe, expect, it } from 'vitest';
import { CONSOLE_CSP, consoleHeaders, fallbackFor } from './console-headers.js';

describe('consoleHeaders', () => {
  it.each([
    ['assets/index-3f9a1c.js', 'public, max-age=31536000, immutable'],
    ['/assets/index-77b2.css', 'public, max-age=31536000, immutable'],
    ['index.html', 'no-cache'],
    ['favicon.svg', 'no-cache'],
    ['', 'no-cache'],
  ])('%s → cache-control %s', (path, cacheControl) => {
    expect(consoleHeaders(path)['cache-control']).toBe(cacheControl);
  });

  it('always sends the strict policy and nosniff', () => {
    const headers = consoleHeaders('index.html');
    expect(headers['content-security-policy']).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toContain('unsafe-inline');
    expect(headers['x-content-type-options']).toBe('nosniff');
  });
});

describe('fallbackFor', () => {
  it.each([
    ['', 'index'],
    ['projects', 'index'],
    ['projects/4b6e/syncs/new', 'index'],
    ['syncs/1f0c?tab=monitoring', 'index'],
    ['assets/index-gone.js', 'not-found'],
    ['assets/', 'not-found'],
    ['robots.txt', 'not-found'],
    ['old.bundle.js', 'not-found'],
  ])('%s → %s', (path, answer) => {
    expect(fallbackFor(path)).toBe(answer);
  });
});
