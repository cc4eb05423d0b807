import { createHash, randomBytes } from 'node:crypto';

/** 32 lowercase hex characters, shaped like an Amplitude api key so SDKs accept it. */
export function generateApiKey(): string {
  return randomBytes(16).toString('hex');
}

/** What ingest matches a request's `api_key` against (sha256 hex); the key itself never leaves config. */
export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey, 'utf8').digest('hex');
}
