import type { MovableInkPayload } from '@inkstream/contracts';

export const USER_AGENT = `inkstream/${process.env.npm_package_version ?? '0.1.0'}`;

export interface MovableInkRequest {
  method: 'POST';
  headers: Record<string, string>;
  body: string;
}

/**
 * One request to a sync's endpoint. A single payload is sent as itself (what Movable Ink asks
 * for); several go in a `{"events":[…]}` envelope. Single and batch share the payloads.
 */
export function buildRequest(payloads: readonly MovableInkPayload[], authorization: string): MovableInkRequest {
  if (payloads.length === 0) throw new Error('a request needs at least one payload');
  const body = payloads.length === 1 ? JSON.stringify(payloads[0]) : JSON.stringify({ events: payloads });
  return {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization,
      'user-agent': USER_AGENT,
    },
    body,
  };
}
