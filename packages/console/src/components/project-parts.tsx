import { useState } from 'preact/hooks';
import { ApiError } from '../api/client.js';
import type { Project } from '../api/types.js';
import { readIngestUrl, sdkSnippet, writeIngestUrl } from '../lib/sdk-snippet.js';
import { useApi } from './navigation.js';
import { ConfirmDialog, Copyable, Notice } from './ui.js';

/** The api key to copy and how to point the Amplitude SDKs at inkstream with it. */
export function ProjectKey({ project }: { project: Project }) {
  const [ingestUrl, setIngestUrl] = useState(readIngestUrl);
  if (project.apiKey === null) {
    return (
      <Notice kind="error">
        The stored API key cannot be opened with the config service's SECRET_KEY (set SECRET_KEY_PREVIOUS to the old key, or
        rotate this project's key).
      </Notice>
    );
  }
  return (
    <div class="project-key">
      <div class="field">
        <span class="label">API key (what SDKs send as api_key)</span>
        <Copyable text={project.apiKey} label="API key" />
      </div>
      <div class="field">
        <label for={`ingest-url-${project.id}`}>Ingest URL</label>
        <input
          id={`ingest-url-${project.id}`}
          value={ingestUrl}
          onInput={(e) => {
            setIngestUrl(e.currentTarget.value);
            writeIngestUrl(e.currentTarget.value);
          }}
        />
        <p class="hint">Where your apps reach the ingest service; the snippet below uses it.</p>
      </div>
      <div class="field">
        <span class="label">Amplitude SDK</span>
        <pre class="snippet">
          <code>{sdkSnippet(project.apiKey, ingestUrl)}</code>
        </pre>
        <p class="hint">
          Use <code>/batch</code> for the Batch API. Python, iOS and Android: set their server URL the same way (see services/ingest/README.md).
        </p>
      </div>
    </div>
  );
}

/** Rotate key and delete, each behind a confirmation. */
export function ProjectActions(props: { project: Project; onRotated: (p: Project) => void; onDeleted: () => void }) {
  const api = useApi();
  const [asking, setAsking] = useState<'rotate' | 'delete' | null>(null);
  const [error, setError] = useState<string | null>(null);
  const name = props.project.name;
  return (
    <div class="actions">
      <button type="button" class="secondary" onClick={() => setAsking('rotate')} aria-label={`Rotate the key of ${name}`}>
        Rotate key
      </button>
      <button type="button" class="danger-outline" onClick={() => setAsking('delete')} aria-label={`Delete ${name}`}>
        Delete
      </button>
      {error && <Notice kind="error">{error}</Notice>}
      <ConfirmDialog
        open={asking === 'rotate'}
        title={`Rotate the API key of “${name}”?`}
        confirmLabel="Rotate key"
        onCancel={() => setAsking(null)}
        onConfirm={async () => {
          try {
            props.onRotated(await api.request<Project>('POST', `/v1/projects/${props.project.id}/rotate-key`));
            setAsking(null);
          } catch (err) {
            setError((err as ApiError).message);
            setAsking(null);
          }
        }}
      >
        <p>Apps that send the current key are refused at ingest within seconds. Update them with the new key.</p>
      </ConfirmDialog>
      <ConfirmDialog
        open={asking === 'delete'}
        title={`Delete “${name}”?`}
        confirmLabel="Delete project"
        danger
        onCancel={() => setAsking(null)}
        onConfirm={async () => {
          try {
            await api.request('DELETE', `/v1/projects/${props.project.id}`);
            setAsking(null);
            props.onDeleted();
          } catch (err) {
            setError((err as ApiError).message);
            setAsking(null);
          }
        }}
      >
        <p>Its API key stops working and its syncs stop delivering. This cannot be undone.</p>
      </ConfirmDialog>
    </div>
  );
}
