import type { ConfigContext } from '../context.js';
import { findLiveSync } from './find.js';
import { toSync, type Sync } from './resource.js';

export async function getSync(ctx: ConfigContext, input: { syncId: string }): Promise<Sync> {
  return toSync(await findLiveSync(ctx.db, input.syncId));
}
