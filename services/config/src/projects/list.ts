import { asc, isNull } from 'drizzle-orm';
import type { ConfigContext } from '../context.js';
import { projects } from '../db/schema.js';
import { toReadableProject, type Project } from './resource.js';

/** Every project that has not been deleted, oldest first. */
export async function listProjects(ctx: ConfigContext): Promise<Project[]> {
  const rows = await ctx.db
    .select()
    .from(projects)
    .where(isNull(projects.deletedAt))
    .orderBy(asc(projects.createdAt), asc(projects.id));
  return rows.map((row) => toReadableProject(row, ctx.secretBox));
}
