import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import * as schema from './schema.js';
import type { Database, DatabaseHandle } from './database.js';
import { MIGRATIONS_FOLDER } from './migrations-folder.js';

export interface OpenPgliteOptions {
  /** Data directory; omitted = in memory (tests). */
  dataDir?: string;
}

/** The embedded Postgres used when no DATABASE_URL is set: same schema, same migrations. */
export async function openPglite(options: OpenPgliteOptions = {}): Promise<DatabaseHandle> {
  if (options.dataDir) await mkdir(options.dataDir, { recursive: true });
  const client = options.dataDir ? await PGlite.create(options.dataDir) : await PGlite.create();
  try {
    const migrator = drizzle({ client, schema });
    await migrate(migrator, { migrationsFolder: MIGRATIONS_FOLDER });
  } catch (err) {
    await client.close().catch(() => undefined);
    throw err;
  }
  const db = drizzle({ client, schema }) as unknown as Database;
  return {
    db,
    driver: 'pglite',
    async ping() {
      await db.execute(sql`select 1`);
    },
    async close() {
      if (!client.closed) await client.close();
    },
  };
}
