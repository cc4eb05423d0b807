import { describe, expect, it } from 'vitest';
import { defaultIngestUrl, sdkSnippet } from './sdk-snippet.js';

describe('sdkSnippet', () => {
  it('points serverUrl at /2/httpapi of the ingest URL', () => {
    const snippet = sdkSnippet('0123456789abcdef0123456789abcdef', 'https://events.example.com/');
    expect(snippet).toContain("amplitude.init('0123456789abcdef0123456789abcdef'");
    expect(snippet).toContain("serverUrl: 'https://events.example.com/2/httpapi'");
  });

  it.each([
    [{ protocol: 'http:', hostname: '127.0.0.1' }, 'http://127.0.0.1:8080'],
    [{ protocol: 'https:', hostname: 'admin.example.com' }, 'https://admin.example.com:8080'],
  ])('guesses ingest on this host: %j', (loc, url) => {
    expect(defaultIngestUrl(loc)).toBe(url);
  });
});
