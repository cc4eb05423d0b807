import type { HistoryEvent } from '../api/types.js';
import { formatTime } from '../lib/format.js';
import { useLoad } from './navigation.js';
import { Loading, Notice } from './ui.js';

/** The sync's change events, newest first here (the API answers oldest first). */
export function SyncHistory({ syncId, version }: { syncId: string; version: number }) {
  const history = useLoad((a) => a.get<HistoryEvent[]>(`/v1/syncs/${syncId}/history`), `${syncId}-${version}`);
  if (history.error) return <Notice kind="error">{history.error.message}</Notice>;
  if (!history.data) return <Loading what="the history" />;
  return (
    <ol class="history" aria-label="Change history" reversed>
      {[...history.data].reverse().map((h) => (
        <li class="card" key={h.version}>
          <div class="title-row">
            <h2>
              Version {h.version}: {h.type}
            </h2>
            <span class="meta">
              {formatTime(h.at)} by {h.actor}
            </span>
          </div>
          <details>
            <summary>Changes</summary>
            <pre>{JSON.stringify(h.changes, null, 2)}</pre>
          </details>
        </li>
      ))}
    </ol>
  );
}
