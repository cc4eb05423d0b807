/**
 * Amplitude's response bodies. The SDKs read `code` from the JSON body (not the HTTP status)
 * and act on `missing_field`, `Invalid API key…` and the per-event index lists, so these
 * shapes are the compatibility contract (spec/ingest.md, Responses).
 */
export type IndexLists = Record<string, number[]>;

export interface InvalidEvents {
  events_with_invalid_fields: IndexLists;
  events_with_missing_fields: IndexLists;
  events_with_invalid_id_lengths: IndexLists;
}

/** `retryAfterSeconds`: sent as `Retry-After` (429 and 503 always carry one). */
export type AmplitudeError = { status: number; body: Record<string, unknown>; retryAfterSeconds?: number };

export const amplitudeErrors = {
  missingBody: (): AmplitudeError => ({ status: 400, body: { code: 400, error: 'Missing request body' } }),
  invalidJson: (): AmplitudeError => ({ status: 400, body: { code: 400, error: 'Invalid JSON request body' } }),
  missingField: (field: string): AmplitudeError => ({
    status: 400,
    body: { code: 400, error: 'Request missing required field', missing_field: field },
  }),
  invalidApiKey: (apiKey: string): AmplitudeError => ({
    status: 400,
    // Only the first characters: keys are never echoed or logged in full.
    body: { code: 400, error: `Invalid API key: ${apiKey.slice(0, 4)}…` },
  }),
  invalidEvents: (lists: InvalidEvents): AmplitudeError => ({
    status: 400,
    body: { code: 400, error: 'Invalid field values on some events', ...lists },
  }),
  missingEvent: (): AmplitudeError => ({ status: 400, body: { code: 400, error: 'missing_event' } }),
  unsupportedMediaType: (): AmplitudeError => ({
    status: 415,
    body: { code: 415, error: 'Unsupported Content-Type or Content-Encoding' },
  }),
  tooLarge: (): AmplitudeError => ({ status: 413, body: { code: 413, error: 'Payload too large' } }),
  unavailable: (retryAfterSeconds: number): AmplitudeError => ({
    status: 503,
    body: { code: 503, error: 'Service unavailable' },
    retryAfterSeconds,
  }),
  /**
   * Amplitude's 429 shape. Every event of the request is listed in `throttled_events`: none was
   * stored, and the SDKs hold listed events back for 30 s before retrying them (unlisted ones
   * would be retried at the next flush).
   */
  throttled: (events: number, retryAfterSeconds: number): AmplitudeError => ({
    status: 429,
    body: {
      code: 429,
      error: 'Too many requests, retry later',
      throttled_devices: {},
      throttled_users: {},
      throttled_events: Array.from({ length: events }, (_, i) => i),
    },
    retryAfterSeconds,
  }),
  requestTimeout: (): AmplitudeError => ({ status: 408, body: { code: 408, error: 'Request timeout' } }),
  notFound: (): AmplitudeError => ({ status: 404, body: { code: 404, error: 'Invalid request path' } }),
};

export function successBody(eventsIngested: number, payloadSizeBytes: number, serverUploadTime: number) {
  return {
    code: 200,
    events_ingested: eventsIngested,
    payload_size_bytes: payloadSizeBytes,
    server_upload_time: serverUploadTime,
  };
}
