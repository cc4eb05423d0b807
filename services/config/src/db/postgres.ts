import pg from 'pg';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import type { Logger } from '@inkstream/service-kit';
import * as schema from './schema.js';
import type { Database, DatabaseHandle } from './database.js';
import { MIGRATIONS_FOLDER } from './migrations-folder.js';

// Any constant works; it only has to be the same for every replica of the config service.
const MIGRATION_LOCK_ID = 0x1c0f1;

export interface OpenPostgresOptions {
  url: string;
  logger: Logger;
  poolSize?: number;
}

/** Connects a pool to Postgres and brings the schema up to date before anything else runs. */
export async function openPostgres(options: OpenPostgresOptions): Promise<DatabaseHandle> {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.poolSize ?? 10,
    // A request fails fast with 503 rather than waiting for a database that is down.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: 'inkstream-config',
  });
  // An idle client losing its connection (Postgres restarted) must not crash the process.
  pool.on('error', (err) => options.logger.warn({ err: { message: err.message } }, 'idle Postgres connection lost'));
  try {
    await migrateWithLock(pool);
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  const db = drizzle({ client: pool, schema }) as unknown as Database;
  return {
    db,
    driver: 'postgres',
    async ping() {
      await db.execute(sql`select 1`);
    },
    close: () => pool.end(),
  };
}

/** Replicas starting together take turns: the first migrates, the others find nothing to do. */
async function migrateWithLock(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    try {
      await migrate(drizzle({ client, schema }), { migrationsFolder: MIGRATIONS_FOLDER });
    } finally {
      await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
    }
  } finally {
    client.release();
  }
}
