import type { Logger } from '@inkstream/service-kit';
import type { DatabaseHandle } from './database.js';
import { openPglite } from './pglite.js';
import { openPostgres } from './postgres.js';

export interface OpenDatabaseOptions {
  /** Postgres when set, else the embedded PGlite in `pgliteDir`. */
  databaseUrl?: string | undefined;
  pgliteDir: string;
  logger: Logger;
}

/** Opens the configured database and applies pending migrations. */
export async function openDatabase(options: OpenDatabaseOptions): Promise<DatabaseHandle> {
  if (options.databaseUrl) {
    return openPostgres({ url: options.databaseUrl, logger: options.logger });
  }
  return openPglite({ dataDir: options.pgliteDir });
}
