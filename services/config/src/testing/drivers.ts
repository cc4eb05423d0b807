import type { Logger } from 'pino';
import type { DatabaseHandle } from '../db/database.js';
import { openPglite } from '../db/pglite.js';
import { openPostgres } from '../db/postgres.js';
import { createTestDatabase } from './postgres.js';

export interface OpenedTestDatabase {
  handle: DatabaseHandle;
  /** Closes the connection and, for Postgres, drops the database. */
  dispose(): Promise<void>;
}

export interface TestDriver {
  name: 'postgres' | 'pglite';
  open(logger: Logger): Promise<OpenedTestDatabase>;
}

export const postgresDriver: TestDriver = {
  name: 'postgres',
  async open(logger) {
    const database = await createTestDatabase();
    const handle = await openPostgres({ url: database.url, logger, poolSize: 4 });
    return {
      handle,
      async dispose() {
        await handle.close();
        await database.drop();
      },
    };
  },
};

export const pgliteDriver: TestDriver = {
  name: 'pglite',
  async open() {
    const handle = await openPglite();
    return { handle, dispose: () => handle.close() };
  },
};

/** Suites written once, run against the real Postgres and the embedded PGlite. */
export const testDrivers: readonly TestDriver[] = [postgresDriver, pgliteDriver];
