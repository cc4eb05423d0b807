import { defineConfig } from 'drizzle-kit';

// `npm run db:generate -w @inkstream/config -- --name <change>` writes a new SQL migration
// into ./drizzle from src/db/schema.ts. The service applies them at start-up.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './drizzle',
});
