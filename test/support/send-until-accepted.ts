/**
 * Posts one ingest request the way an SDK retries it: on connection errors and 5xx it sends the
 * same body again until it is answered 200; a 4xx is a test failure.
 */
export async function sendUntilAccepted(url: string, apiKey: string, events: object[], retryDelayMs = 200, headers: Record<string, string> = {}): Promise<void> {
  const body = JSON.stringify({ api_key: apiKey, events });
  for (;;) {
    let refused: string | undefined;
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      if (res.status === 200) return;
      if (res.status < 500) refused = `ingest refused the request: ${res.status} ${await res.text()}`;
    } catch {
      // Connection refused or reset while a service restarts: try again.
    }
    if (refused) throw new Error(refused);
    await new Promise((r) => setTimeout(r, retryDelayMs));
  }
}
