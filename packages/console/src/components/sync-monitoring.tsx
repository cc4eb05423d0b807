import { useCallback, useState } from 'preact/hooks';
import { ApiError } from '../api/client.js';
import { PERIODS, type DeadLetterPage, type DeliveryError, type DeliveryMetrics, type DeliverySeries, type Period, type Sync } from '../api/types.js';
import { PERIOD_LABELS, formatCount, formatRate, formatSeconds, formatTime } from '../lib/format.js';
import { DeliveryChart } from './delivery-chart.js';
import { useApi, useInterval, useLoad } from './navigation.js';
import { Notice, StateBadge } from './ui.js';

const REFRESH_MS = 5_000;

const STATE_TEXT: Record<string, string> = {
  healthy: 'Delivering normally.',
  retrying: 'Recent requests failed with 408, 429, 5xx or timeouts; payloads are being retried and it recovers by itself.',
  failing: 'Movable Ink refused the authorization or the endpoint (401, 403 or 404). Payloads are held, not dropped: fix the settings and delivery resumes.',
  disabled: 'Switched off: nothing is delivered until Status is enabled.',
};

export function SyncMonitoring({ sync, onRefresh }: { sync: Sync; onRefresh: () => Promise<void> }) {
  const api = useApi();
  const [period, setPeriod] = useState<Period>('ONE_HOUR');
  const key = `${sync.id}-${period}`;
  const metrics = useLoad((a) => a.get<DeliveryMetrics>(`/v1/syncs/${sync.id}/metrics?period=${period}`), key);
  const series = useLoad((a) => a.get<DeliverySeries>(`/v1/syncs/${sync.id}/metrics/series?period=${period}`), key);
  const errors = useLoad((a) => a.get<DeliveryError[]>(`/v1/syncs/${sync.id}/errors?limit=20`), sync.id);
  const letters = useLoad((a) => a.get<DeadLetterPage>(`/v1/syncs/${sync.id}/dead-letters?limit=50`), sync.id);
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [redriveNotice, setRedriveNotice] = useState<{ kind: 'success' | 'error'; text: string } | null>(null);

  const refresh = useCallback(() => {
    void metrics.reload();
    void series.reload();
    void errors.reload();
    void letters.reload();
    void onRefresh();
  }, [metrics.reload, series.reload, errors.reload, letters.reload, onRefresh]);
  useInterval(refresh, REFRESH_MS);

  const redrive = async (ids?: string[]) => {
    setRedriveNotice(null);
    try {
      const result = await api.request<{ redriven: number; notFound: string[] }>('POST', `/v1/syncs/${sync.id}/dead-letters/redrive`, ids ? { ids } : {});
      setRedriveNotice({
        kind: 'success',
        text: `${result.redriven} dead letter${result.redriven === 1 ? '' : 's'} sent again${result.notFound.length ? ` (${result.notFound.length} already gone)` : ''}.`,
      });
      setChosen(new Set());
      refresh();
    } catch (err) {
      setRedriveNotice({ kind: 'error', text: (err as ApiError).message });
    }
  };

  const m = metrics.data;
  const cells: Array<[string, string, string]> = m
    ? [
        ['delivered', 'Delivered', formatCount(m.eventsDelivered)],
        ['not-delivered', 'Not delivered', formatCount(m.eventsNotDelivered)],
        ['rate', 'Delivery rate', formatRate(m.deliveryRate)],
        ['latency', 'p95 latency', formatSeconds(m.latencyInSeconds)],
        ['first-try', 'First try', formatCount(m.successOnFirstAttempt)],
        ['after-retry', 'After retry', formatCount(m.successAfterRetry)],
        ['expired', 'Expired', formatCount(m.eventsExpired)],
        ['discarded', 'Discarded', formatCount(m.eventsDiscarded)],
        ['pending', 'Pending retries', formatCount(m.pendingRetries)],
      ]
    : [];
  const items = letters.data?.items ?? [];

  return (
    <div class="monitoring">
      <section class="card state" aria-labelledby="state-title">
        <h2 id="state-title">
          State <StateBadge state={sync.status.state} />
        </h2>
        <p>{STATE_TEXT[sync.status.state]}</p>
        {sync.status.lastError && (
          <p class="last-error">
            Last error: <code>{sync.status.lastError}</code>
          </p>
        )}
      </section>

      <section class="card" aria-labelledby="metrics-title">
        <div class="title-row">
          <h2 id="metrics-title">Delivery</h2>
          <div class="inline">
            <label for="period" class="sr-only">
              Period
            </label>
            <select id="period" value={period} onChange={(e) => setPeriod(e.currentTarget.value as Period)}>
              {PERIODS.map((p) => (
                <option key={p} value={p}>
                  {PERIOD_LABELS[p]}
                </option>
              ))}
            </select>
            <button type="button" class="secondary" onClick={refresh}>
              Refresh
            </button>
          </div>
        </div>
        {metrics.error && <Notice kind="error">{metrics.error.message}</Notice>}
        <dl class="metrics">
          {cells.map(([id, label, value]) => (
            <div class="metric" key={id} data-metric={id}>
              <dt>{label}</dt>
              <dd>{value}</dd>
            </div>
          ))}
        </dl>
        {series.data && <DeliveryChart series={series.data} />}
        <p class="hint">Counts are of payloads (an event can become an identify and a track), per whole minute; refreshed every 5 s.</p>
      </section>

      <section class="card" aria-labelledby="errors-title">
        <h2 id="errors-title">Recent errors</h2>
        {errors.data && errors.data.length === 0 && <p class="empty">No failed requests.</p>}
        {errors.data && errors.data.length > 0 && (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Status</th>
                  <th scope="col">Result</th>
                  <th scope="col">Error and response</th>
                  <th scope="col">Attempt</th>
                  <th scope="col">Trace id</th>
                </tr>
              </thead>
              <tbody>
                {errors.data.map((e, i) => (
                  <tr key={`${e.messageId}-${e.attempt}-${i}`}>
                    <td class="nowrap">{formatTime(e.at)}</td>
                    <td>{e.status ?? '—'}</td>
                    <td>{e.result}</td>
                    <td class="break">
                      {e.error}
                      {e.responseBody && <pre class="excerpt">{e.responseBody}</pre>}
                    </td>
                    <td>
                      {e.attempt} ({e.payloadType})
                    </td>
                    <td>{e.traceId ? <code class="trace">{e.traceId}</code> : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section class="card" aria-labelledby="dead-title">
        <div class="title-row">
          <h2 id="dead-title">Dead letters</h2>
          <div class="inline">
            <button type="button" class="secondary" disabled={chosen.size === 0} onClick={() => redrive([...chosen])}>
              Redrive selected ({chosen.size})
            </button>
            <button type="button" disabled={items.length === 0} onClick={() => redrive()}>
              Redrive all
            </button>
          </div>
        </div>
        <p class="hint">Payloads that will not be delivered by themselves, kept 14 days. Redrive sends them again to this sync, with the same message_id.</p>
        {redriveNotice && (
          <Notice kind={redriveNotice.kind} onClose={() => setRedriveNotice(null)}>
            {redriveNotice.text}
          </Notice>
        )}
        {letters.error && <Notice kind="error">{letters.error.message}</Notice>}
        {letters.data && items.length === 0 && <p class="empty">No dead letters.</p>}
        {items.length > 0 && (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">
                    <span class="sr-only">Select</span>
                  </th>
                  <th scope="col">Dead since</th>
                  <th scope="col">Reason</th>
                  <th scope="col">Last answer</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Payload</th>
                  <th scope="col">Trace id</th>
                </tr>
              </thead>
              <tbody>
                {items.map((d) => (
                  <tr key={d.id}>
                    <td>
                      <input
                        type="checkbox"
                        aria-label={`Select dead letter ${d.id}`}
                        checked={chosen.has(d.id)}
                        onChange={(e) => {
                          const next = new Set(chosen);
                          if (e.currentTarget.checked) next.add(d.id);
                          else next.delete(d.id);
                          setChosen(next);
                        }}
                      />
                    </td>
                    <td class="nowrap">{formatTime(d.deadAt)}</td>
                    <td>{d.reason}</td>
                    <td class="break">
                      {d.lastStatus ?? '—'} {d.lastResponse && <pre class="excerpt">{d.lastResponse}</pre>}
                    </td>
                    <td>{d.attempts}</td>
                    <td>
                      <details>
                        <summary>
                          {d.payloadType} {String(d.payload.event ?? '')}
                        </summary>
                        <pre>{JSON.stringify(d.payload, null, 2)}</pre>
                      </details>
                    </td>
                    <td>{d.traceId ? <code class="trace">{d.traceId}</code> : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            {letters.data?.nextCursor && <p class="hint">Showing the oldest 50; redrive them to see more.</p>}
          </div>
        )}
      </section>
    </div>
  );
}
