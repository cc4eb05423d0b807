import { useState } from 'preact/hooks';
import { ApiError } from '../api/client.js';
import type { PreviewResult, RecentEvent, Sync, TestResult } from '../api/types.js';
import { formatTime } from '../lib/format.js';
import { useApi, useLoad } from './navigation.js';
import { Notice } from './ui.js';

const EXAMPLE_EVENT = {
  event_type: 'Product Viewed',
  user_id: 'user-12345',
  event_properties: { product_id: '622c6f5d', price: 49.99 },
  user_properties: { $set: { email: 'a@example.com' } },
};

type Kind = 'event' | 'identification';

/** Preview an event (pasted or picked from what was ingested lately), and send the test identify. */
export function SyncTry({ sync }: { sync: Sync }) {
  const api = useApi();
  const recent = useLoad((a) => a.get<{ events: RecentEvent[] }>(`/v1/projects/${sync.projectId}/recent-events?limit=20`), sync.projectId);
  const [text, setText] = useState(() => JSON.stringify(EXAMPLE_EVENT, null, 2));
  const [kind, setKind] = useState<Kind>('event');
  const [picked, setPicked] = useState('');
  const [preview, setPreview] = useState<PreviewResult | null>(null);
  const [previewError, setPreviewError] = useState<string | null>(null);
  const [test, setTest] = useState<TestResult | null>(null);
  const [testError, setTestError] = useState<string | null>(null);
  const [busy, setBusy] = useState<'preview' | 'test' | null>(null);

  const runPreview = async () => {
    setPreview(null);
    setPreviewError(null);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      setPreviewError(`The event is not valid JSON: ${(err as Error).message}`);
      return;
    }
    setBusy('preview');
    try {
      setPreview(await api.request<PreviewResult>('POST', `/v1/syncs/${sync.id}/preview`, { [kind]: parsed }));
    } catch (err) {
      setPreviewError((err as ApiError).message);
    } finally {
      setBusy(null);
    }
  };

  return (
    <div class="try">
      <section class="card" aria-labelledby="preview-title">
        <h2 id="preview-title">Preview</h2>
        <p class="hint">A dry run of this sync as it is saved now: whether the event is selected, why not, and exactly what Movable Ink would receive. Nothing is sent.</p>
        <div class="field">
          <label for="recent-event">Pick a recent event</label>
          <select
            id="recent-event"
            value={picked}
            onChange={(e) => {
              const index = e.currentTarget.value;
              setPicked(index);
              const chosen = recent.data?.events[Number(index)];
              if (index !== '' && chosen) {
                const { event_type, ...rest } = chosen.event;
                setKind(chosen.kind === 'identify' ? 'identification' : 'event');
                setText(JSON.stringify(chosen.kind === 'identify' ? rest : { event_type, ...rest }, null, 2));
              }
            }}
          >
            <option value="">{recent.data && recent.data.events.length === 0 ? 'No events ingested lately' : 'Choose…'}</option>
            {recent.data?.events.map((e, i) => (
              <option key={i} value={String(i)}>
                {e.event.event_type} · {String(e.event.user_id ?? e.event.device_id ?? '')} · {formatTime(e.receivedAt)}
              </option>
            ))}
          </select>
          {recent.error && <p class="hint">Recent events are unavailable: {recent.error.message}</p>}
        </div>
        <fieldset class="radios plain">
          <legend>Preview as</legend>
          <label>
            <input type="radio" name="preview-kind" checked={kind === 'event'} onChange={() => setKind('event')} /> an event (HTTP V2 / Batch API)
          </label>
          <label>
            <input type="radio" name="preview-kind" checked={kind === 'identification'} onChange={() => setKind('identification')} /> an identification (Identify API)
          </label>
        </fieldset>
        <div class="field">
          <label for="preview-event">Event JSON</label>
          <textarea id="preview-event" rows={10} spellcheck={false} value={text} onInput={(e) => setText(e.currentTarget.value)} />
        </div>
        <button type="button" onClick={runPreview} disabled={busy === 'preview'}>
          {busy === 'preview' ? 'Previewing…' : 'Preview'}
        </button>
        {previewError && <Notice kind="error">{previewError}</Notice>}
        {preview && (
          <div class="result" aria-label="Preview result" role="status">
            <p class={preview.selected ? 'selected' : 'not-selected'}>
              <strong>{preview.selected ? 'Selected' : 'Not selected'}</strong>
              {preview.reason && <>: {preview.reason}</>}
            </p>
            {preview.notes.length > 0 && (
              <ul class="notes">
                {preview.notes.map((n) => (
                  <li key={n}>{n}</li>
                ))}
              </ul>
            )}
            {preview.discarded.length > 0 && (
              <ul class="notes">
                {preview.discarded.map((d) => (
                  <li key={d.messageId}>
                    {d.payloadType} discarded: {d.reason}
                  </li>
                ))}
              </ul>
            )}
            <h3>
              {preview.payloads.length} payload{preview.payloads.length === 1 ? '' : 's'} would be sent
            </h3>
            {preview.payloads.map((p, i) => (
              <pre key={i} class="payload">
                {JSON.stringify(p, null, 2)}
              </pre>
            ))}
          </div>
        )}
      </section>

      <section class="card" aria-labelledby="test-title">
        <h2 id="test-title">Test the endpoint</h2>
        <p class="hint">
          Sends one identify payload for the user <code>inkstream-test-user</code> to the endpoint now, with this sync’s authorization, and shows the answer.
        </p>
        <button
          type="button"
          disabled={busy === 'test'}
          onClick={async () => {
            setBusy('test');
            setTest(null);
            setTestError(null);
            try {
              setTest(await api.request<TestResult>('POST', `/v1/syncs/${sync.id}/test`));
            } catch (err) {
              setTestError((err as ApiError).message);
            } finally {
              setBusy(null);
            }
          }}
        >
          {busy === 'test' ? 'Sending…' : 'Send test identify'}
        </button>
        {testError && <Notice kind="error">{testError}</Notice>}
        {test && (
          <div class="result" role="status" aria-label="Test result">
            <p class={test.ok ? 'selected' : 'not-selected'}>
              <strong>{test.ok ? 'Accepted' : 'Not accepted'}</strong>: {test.status === null ? (test.error ?? 'no response') : `HTTP ${test.status}`} in {test.latencyMs} ms
              {test.outcome !== 'delivered' && <> (delivery would treat it as “{test.outcome}”)</>}
            </p>
            {test.requestId && (
              <p class="meta">
                Request id <code>{test.requestId}</code>
              </p>
            )}
            <h3>Response</h3>
            <pre>{test.responseBody || '(empty)'}</pre>
            <details>
              <summary>Payload sent</summary>
              <pre>{JSON.stringify(test.payload, null, 2)}</pre>
            </details>
          </div>
        )}
      </section>
    </div>
  );
}
