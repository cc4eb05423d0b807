const INGEST_URL_KEY = 'inkstream.ingestUrl';

/**
 * Where apps send events. The config API does not know the ingest service's public address,
 * so the console guesses this host on ingest's default port and lets the admin correct it
 * (kept in local storage: it is not a secret).
 */
export function defaultIngestUrl(loc: { protocol: string; hostname: string }): string {
  return `${loc.protocol}//${loc.hostname}:8080`;
}

export function readIngestUrl(): string {
  try {
    return localStorage.getItem(INGEST_URL_KEY) ?? defaultIngestUrl(location);
  } catch {
    return defaultIngestUrl(location);
  }
}

export function writeIngestUrl(url: string): void {
  try {
    localStorage.setItem(INGEST_URL_KEY, url);
  } catch {
    // not kept: fine
  }
}

/** How to point the Amplitude browser SDK at inkstream (spec: serverUrl = <ingest>/2/httpapi). */
export function sdkSnippet(apiKey: string, ingestUrl: string): string {
  const base = ingestUrl.trim().replace(/\/+$/, '');
  return [
    "import * as amplitude from '@amplitude/analytics-browser';",
    '',
    `amplitude.init('${apiKey}', {`,
    `  serverUrl: '${base}/2/httpapi',`,
    '});',
  ].join('\n');
}
