import type { ConfigContext } from '../context.js';
import { findLiveProject } from './find.js';
import { toReadableProject, type Project } from './resource.js';

export async function getProject(ctx: ConfigContext, input: { projectId: string }): Promise<Project> {
  const row = await findLiveProject(ctx.db, input.projectId);
  return toReadableProject(row, ctx.secretBox);
}
