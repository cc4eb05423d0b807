import type { Project, Sync } from '../api/types.js';
import { Link, navigate, useLoad } from '../components/navigation.js';
import { ProjectActions, ProjectKey } from '../components/project-parts.js';
import { Loading, Notice, StateBadge } from '../components/ui.js';
import { hrefOf } from '../lib/routes.js';

export function ProjectPage({ projectId }: { projectId: string }) {
  const project = useLoad((a) => a.get<Project>(`/v1/projects/${projectId}`), projectId);
  const syncs = useLoad((a) => a.get<Sync[]>(`/v1/projects/${projectId}/syncs`), projectId);
  if (project.error) return <Notice kind="error">{project.error.message}</Notice>;
  if (!project.data) return <Loading what="the project" />;
  const p = project.data;
  return (
    <section>
      <nav class="crumbs" aria-label="Breadcrumb">
        <Link href={hrefOf({ page: 'projects' })}>Projects</Link> › <span aria-current="page">{p.name}</span>
      </nav>
      <div class="title-row">
        <h1>{p.name}</h1>
        <ProjectActions project={p} onRotated={() => void project.reload()} onDeleted={() => navigate(hrefOf({ page: 'projects' }))} />
      </div>
      <div class="card">
        <h2>Send events</h2>
        <ProjectKey project={p} />
      </div>
      <div class="title-row">
        <h2>Syncs</h2>
        <Link class="button" href={hrefOf({ page: 'new-sync', projectId })}>
          New sync
        </Link>
      </div>
      {syncs.error && <Notice kind="error">{syncs.error.message}</Notice>}
      {syncs.data && syncs.data.length === 0 && <p class="empty">No syncs yet. A sync sends this project’s events to one Movable Ink endpoint.</p>}
      {syncs.data && syncs.data.length > 0 && (
        <div class="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Sync</th>
                <th scope="col">Status</th>
                <th scope="col">State</th>
                <th scope="col">Endpoint</th>
              </tr>
            </thead>
            <tbody>
              {syncs.data.map((s) => (
                <tr key={s.id}>
                  <td>
                    <Link href={hrefOf({ page: 'sync', syncId: s.id, tab: 'settings' })}>{s.name}</Link>
                  </td>
                  <td>{s.enabled ? 'Enabled' : 'Disabled'}</td>
                  <td>
                    <StateBadge state={s.status.state} />
                  </td>
                  <td class="break">{s.endpointUrl}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
