import { eq } from 'drizzle-orm';
import type { ConfigContext } from '../context.js';
import { projects } from '../db/schema.js';
import { enqueueSnapshots } from '../outbox/enqueue.js';
import { generateApiKey, hashApiKey } from './api-key.js';
import { lockLiveProject } from './find.js';
import { toProject, type Project } from './resource.js';
import { projectSnapshot } from './snapshot.js';

/** A new api key; ingest stops accepting the old one once the new snapshot reaches it. */
export async function rotateProjectKey(ctx: ConfigContext, input: { projectId: string }): Promise<Project> {
  const apiKey = generateApiKey();
  const now = new Date();
  const row = await ctx.db.transaction(async (tx) => {
    const current = await lockLiveProject(tx, input.projectId, 'update');
    const [rotated] = await tx
      .update(projects)
      .set({
        apiKeyHash: hashApiKey(apiKey),
        apiKeySealed: ctx.secretBox.seal(apiKey),
        version: current.version + 1,
        updatedAt: now,
      })
      .where(eq(projects.id, current.id))
      .returning();
    await enqueueSnapshots(tx, [projectSnapshot(rotated!)]);
    return rotated!;
  });
  ctx.changed();
  return toProject(row, apiKey);
}
