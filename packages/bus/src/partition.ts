import { PARTITIONS } from './topology.js';

/** FNV-1a over the UTF-16 code units: fast, stable across processes and versions. */
export function partitionOf(userKey: string, partitions: number = PARTITIONS): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < userKey.length; i++) {
    hash ^= userKey.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}
