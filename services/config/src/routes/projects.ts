import { Type } from '@sinclair/typebox';
import type { Server } from '@inkstream/service-kit';
import type { ConfigContext } from '../context.js';
import { createProject } from '../projects/create.js';
import { deleteProject } from '../projects/delete.js';
import { getProject } from '../projects/get.js';
import { listProjects } from '../projects/list.js';
import { ProjectCreateSchema, ProjectSchema } from '../projects/resource.js';
import { rotateProjectKey } from '../projects/rotate-key.js';
import { NoContent, ProjectParams, adminRoute, errorResponses } from './schemas.js';

const tags = ['projects'];

export function projectRoutes(ctx: ConfigContext) {
  return async (app: Server): Promise<void> => {
    app.post(
      '/projects',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: 'Create a project',
          description: 'Creates a project with a new api key (what SDKs send as `api_key`).',
          body: ProjectCreateSchema,
          response: { 201: ProjectSchema, ...errorResponses(400) },
        },
      },
      async (request, reply) => reply.code(201).send(await createProject(ctx, request.body)),
    );

    app.get(
      '/projects',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: 'List projects',
          description: 'Every project that has not been deleted, oldest first.',
          response: { 200: Type.Array(ProjectSchema), ...errorResponses() },
        },
      },
      async () => listProjects(ctx),
    );

    app.get(
      '/projects/:projectId',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: 'Get a project',
          description: 'One project, with its current api key.',
          params: ProjectParams,
          response: { 200: ProjectSchema, ...errorResponses(400, 404) },
        },
      },
      async (request) => getProject(ctx, request.params),
    );

    app.post(
      '/projects/:projectId/rotate-key',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: "Rotate a project's api key",
          description: 'Issues a new api key; ingest stops accepting the old one within seconds.',
          params: ProjectParams,
          response: { 200: ProjectSchema, ...errorResponses(400, 404) },
        },
      },
      async (request) => rotateProjectKey(ctx, request.params),
    );

    app.delete(
      '/projects/:projectId',
      {
        schema: {
          ...adminRoute,
          tags,
          summary: 'Delete a project',
          description: 'Marks the project deleted: its api key stops working and its syncs are disabled.',
          params: ProjectParams,
          response: { 204: NoContent, ...errorResponses(400, 404) },
        },
      },
      async (request, reply) => {
        await deleteProject(ctx, request.params);
        return reply.code(204).send();
      },
    );
  };
}
