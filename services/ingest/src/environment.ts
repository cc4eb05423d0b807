import { Type } from '@sinclair/typebox';
import { BaseEnvironment, Port, loadEnvironment } from '@inkstream/service-kit';

export const IngestEnvironment = Type.Object({
  ...BaseEnvironment,
  INGEST_PORT: Port(8080),
  INGEST_DEDUP_WINDOW_SECONDS: Type.Integer({
    default: 600,
    minimum: 10,
    maximum: 7 * 24 * 3600,
    description: 'Window in which a retried event (same insert_id) is stored once',
  }),
  INGEST_MAX_BODY_BYTES: Type.Integer({ default: 1_000_000, minimum: 1024, description: '/2/httpapi and /identify, after gunzip' }),
  INGEST_MAX_BATCH_BODY_BYTES: Type.Integer({ default: 20_000_000, minimum: 1024, description: '/batch, after gunzip' }),
});

export const loadIngestEnvironment = () => loadEnvironment('ingest', IngestEnvironment);
