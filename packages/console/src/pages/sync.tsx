import { useState } from 'preact/hooks';
import type { Project, Sync } from '../api/types.js';
import { ConfirmDialog, Loading, Notice, StateBadge } from '../components/ui.js';
import { Link, navigate, useApi, useLoad } from '../components/navigation.js';
import { SyncEditor } from '../components/sync-editor.js';
import { SyncHistory } from '../components/sync-history.js';
import { SyncMonitoring } from '../components/sync-monitoring.js';
import { SyncTry } from '../components/sync-try.js';
import { hrefOf, type SyncTab } from '../lib/routes.js';

const TAB_LABELS: Record<SyncTab, string> = {
  settings: 'Settings',
  try: 'Preview & test',
  monitoring: 'Monitoring',
  history: 'History',
};

export function NewSyncPage({ projectId }: { projectId: string }) {
  const project = useLoad((a) => a.get<Project>(`/v1/projects/${projectId}`), projectId);
  if (project.error) return <Notice kind="error">{project.error.message}</Notice>;
  if (!project.data) return <Loading what="the project" />;
  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href={hrefOf({ page: 'projects' })}>Projects</Link> › <Link href={hrefOf({ page: 'project', projectId })}>{project.data.name}</Link> ›{' '}
        <span aria-current="page">New sync</span>
      </nav>
      <h1>New Movable Ink sync</h1>
      <p class="lead">Fill in what Movable Ink gave you, choose the events and properties to send, then create it. It starts disabled: try it first.</p>
      <SyncEditor projectId={projectId} onSaved={(sync) => navigate(`${hrefOf({ page: 'sync', syncId: sync.id, tab: 'settings' })}?created=1`)} />
    </section>
  );
}

export function SyncPage({ syncId, tab }: { syncId: string; tab: SyncTab }) {
  const api = useApi();
  const sync = useLoad((a) => a.get<Sync>(`/v1/syncs/${syncId}`), syncId);
  const project = useLoad((a) => (sync.data ? a.get<Project>(`/v1/projects/${sync.data.projectId}`) : Promise.resolve(undefined)), sync.data?.projectId ?? '');
  const [saved, setSaved] = useState<string | null>(() => (new URLSearchParams(location.search).has('created') ? 'Sync created. It is disabled until you switch Status on and save.' : null));
  const [deleting, setDeleting] = useState(false);
  const [editorKey, setEditorKey] = useState(0);

  if (sync.error) return <Notice kind="error">{sync.error.message}</Notice>;
  if (!sync.data) return <Loading what="the sync" />;
  const s = sync.data;
  const state = s.status.state;
  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href={hrefOf({ page: 'projects' })}>Projects</Link> ›{' '}
        <Link href={hrefOf({ page: 'project', projectId: s.projectId })}>{project.data?.name ?? 'Project'}</Link> › <span aria-current="page">{s.name}</span>
      </nav>
      <div class="title-row">
        <h1>{s.name}</h1>
        <div class="status-line" aria-label="Sync state">
          <StateBadge state={state} /> <span>{s.enabled ? 'Enabled' : 'Disabled'}</span>
        </div>
      </div>
      <nav class="tabs" aria-label="Sync sections">
        {(Object.keys(TAB_LABELS) as SyncTab[]).map((t) => (
          <Link key={t} href={hrefOf({ page: 'sync', syncId, tab: t })} class="tab" aria-current={t === tab ? 'page' : undefined}>
            {TAB_LABELS[t]}
          </Link>
        ))}
      </nav>
      {saved && (
        <Notice kind="success" onClose={() => setSaved(null)}>
          {saved}
        </Notice>
      )}
      {tab === 'settings' && (
        <>
          <SyncEditor
            key={`${s.id}-${editorKey}`}
            projectId={s.projectId}
            sync={s}
            onSaved={async () => {
              setSaved(`Saved.`);
              await sync.reload();
              setEditorKey((k) => k + 1);
            }}
          />
          <div class="card danger-zone">
            <h2>Delete this sync</h2>
            <p>Delivery stops; payloads still queued become dead letters (reason “sync deleted”).</p>
            <button type="button" class="danger-outline" onClick={() => setDeleting(true)}>
              Delete sync
            </button>
          </div>
          <ConfirmDialog
            open={deleting}
            title={`Delete “${s.name}”?`}
            confirmLabel="Delete sync"
            danger
            onCancel={() => setDeleting(false)}
            onConfirm={async () => {
              await api.request('DELETE', `/v1/syncs/${s.id}`);
              setDeleting(false);
              navigate(hrefOf({ page: 'project', projectId: s.projectId }));
            }}
          >
            <p>This cannot be undone.</p>
          </ConfirmDialog>
        </>
      )}
      {tab === 'try' && <SyncTry sync={s} />}
      {tab === 'monitoring' && <SyncMonitoring sync={s} onRefresh={sync.reload} />}
      {tab === 'history' && <SyncHistory syncId={s.id} version={s.version} />}
    </section>
  );
}
