import { useState } from 'preact/hooks';
import { ApiError } from '../api/client.js';
import type { Project } from '../api/types.js';
import { Link, useApi, useLoad } from '../components/navigation.js';
import { ProjectActions, ProjectKey } from '../components/project-parts.js';
import { Field, Loading, Notice, describedBy, fieldId } from '../components/ui.js';
import { formatTime } from '../lib/format.js';
import { hrefOf } from '../lib/routes.js';

export function ProjectsPage() {
  const api = useApi();
  const projects = useLoad((a) => a.get<Project[]>('/v1/projects'), 'projects');
  const [name, setName] = useState('');
  const [nameError, setNameError] = useState<string | undefined>();
  const [created, setCreated] = useState<Project | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  return (
    <section>
      <h1>Projects</h1>
      <p class="lead">A project owns the API key your apps send events with. Its syncs deliver those events to Movable Ink.</p>

      <form
        class="card create-project"
        onSubmit={async (e) => {
          e.preventDefault();
          setNameError(undefined);
          try {
            const project = await api.request<Project>('POST', '/v1/projects', { name: name.trim() });
            setCreated(project);
            setName('');
            await projects.reload();
          } catch (err) {
            const message = (err as ApiError).message.replace(/^body\/name /, '');
            setNameError(message.charAt(0).toUpperCase() + message.slice(1));
          }
        }}
      >
        <h2>New project</h2>
        <div class="inline align-end">
          <Field field="projectName" label="Project name" error={nameError}>
            <input id={fieldId('projectName')} value={name} onInput={(e) => setName(e.currentTarget.value)} placeholder="e.g. Shop" {...describedBy('projectName', nameError)} />
          </Field>
          <button type="submit">Create project</button>
        </div>
      </form>

      {created && (
        <div class="card created" role="status" aria-label="Project created">
          <h2>“{created.name}” is ready</h2>
          <p>Send events with this API key. Next: add a sync that delivers them to Movable Ink.</p>
          <ProjectKey project={created} />
          <div class="actions">
            <Link class="button" href={hrefOf({ page: 'new-sync', projectId: created.id })}>
              Add a sync
            </Link>
            <button type="button" class="secondary" onClick={() => setCreated(null)}>
              Done
            </button>
          </div>
        </div>
      )}

      {notice && (
        <Notice kind="success" onClose={() => setNotice(null)}>
          {notice}
        </Notice>
      )}
      {projects.error && <Notice kind="error">{projects.error.message}</Notice>}
      {projects.loading && !projects.data && <Loading what="projects" />}
      {projects.data && projects.data.length === 0 && <p class="empty">No projects yet: create the first one above.</p>}
      {projects.data && projects.data.length > 0 && (
        <ul class="project-list" aria-label="Projects">
          {projects.data.map((p) => (
            <li class="card project-row" key={p.id}>
              <div>
                <h2>
                  <Link href={hrefOf({ page: 'project', projectId: p.id })}>{p.name}</Link>
                </h2>
                <p class="meta">
                  Created {formatTime(p.createdAt)} · {p.apiKey === null ? <>key unreadable with this SECRET_KEY: rotate it</> : <>key <code>…{p.apiKey.slice(-6)}</code></>}
                </p>
              </div>
              <ProjectActions
                project={p}
                onRotated={(rotated) => {
                  setNotice(`New API key for “${rotated.name}”: ${rotated.apiKey}`);
                  void projects.reload();
                }}
                onDeleted={() => {
                  setNotice(`“${p.name}” was deleted.`);
                  void projects.reload();
                }}
              />
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
