import { randomUUID } from 'node:crypto';
import type { ConfigContext } from '../context.js';
import { projects } from '../db/schema.js';
import { enqueueSnapshots } from '../outbox/enqueue.js';
import { generateApiKey, hashApiKey } from './api-key.js';
import { toProject, type Project, type ProjectCreateInput } from './resource.js';
import { projectSnapshot } from './snapshot.js';

export async function createProject(ctx: ConfigContext, input: ProjectCreateInput): Promise<Project> {
  const apiKey = generateApiKey();
  const now = new Date();
  const row = await ctx.db.transaction(async (tx) => {
    const [created] = await tx
      .insert(projects)
      .values({
        id: randomUUID(),
        name: input.name,
        apiKeyHash: hashApiKey(apiKey),
        apiKeySealed: ctx.secretBox.seal(apiKey),
        version: 1,
        createdAt: now,
        updatedAt: now,
      })
      .returning();
    await enqueueSnapshots(tx, [projectSnapshot(created!)]);
    return created!;
  });
  ctx.changed();
  return toProject(row, apiKey);
}
