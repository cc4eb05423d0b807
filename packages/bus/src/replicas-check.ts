/**
 * Whether NATS can keep the number of copies asked for (`NATS_REPLICAS`), and the start-up error
 * that names the problem when it cannot. Pure: the facts come from the server's INFO and stream
 * infos, the I/O is in declare.ts.
 */

export class ReplicasError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplicasError';
  }
}

/** What the connection knows about the server and its cluster (the server's INFO). */
export interface ServerFacts {
  /** The server's name. */
  server?: string;
  /** The cluster's name; absent when the server is not clustered. */
  cluster?: string;
  /** Client URLs of the cluster's servers as gossiped to us (the server's own included). */
  connectUrls?: string[];
}

/**
 * For a stream that exists: a server that reports no cluster for it runs alone and keeps one
 * copy whatever the stream says (nats-server 2.9 even accepts `num_replicas: 3` on an update
 * there without complaint). Undefined when fine.
 */
export function notClusteredProblem(replicas: number, streamCluster: { name?: string; leader?: string } | undefined, facts: ServerFacts): ReplicasError | undefined {
  if (replicas <= 1 || streamCluster?.name) return undefined;
  return notClustered(replicas, facts);
}

export function notClustered(replicas: number, facts: ServerFacts): ReplicasError {
  const server = facts.server ? ` (${facts.server})` : '';
  return new ReplicasError(
    `NATS_REPLICAS is ${replicas}, but the NATS server${server} is not part of a cluster: a single server keeps one copy ` +
      `of each stream and bucket. Set NATS_REPLICAS=1, or connect to a JetStream cluster of at least ${replicas} servers.`,
  );
}

/** JetStream could not place the copies (too few JetStream servers up in the cluster). */
export function clusterTooSmall(replicas: number, what: string, facts: ServerFacts, serverSaid: string): ReplicasError {
  const cluster = facts.cluster ? `"${facts.cluster}"` : '';
  const known = facts.connectUrls?.length ? `; the servers known to this connection: ${facts.connectUrls.length} (${facts.connectUrls.join(', ')})` : '';
  return new ReplicasError(
    `NATS_REPLICAS is ${replicas}, but the JetStream cluster ${cluster} cannot place ${replicas} copies of ${what}` +
      `${known}. Run at least ${replicas} JetStream servers in the cluster, or lower NATS_REPLICAS. (JetStream said: ${serverSaid})`,
  );
}

/** JetStream error codes (the server's `err_code`). */
export const JS_ERR = {
  /** replicas > 1 not supported in non-clustered mode */
  notClustered: 10074,
  /** no suitable peers for placement */
  noPlacement: 10005,
  /** insufficient resources */
  insufficientResources: 10023,
  /** JetStream system temporarily unavailable */
  temporarilyUnavailable: 10008,
  /** incomplete results (a cluster still forming) */
  clusterIncomplete: 10004,
  /** JetStream cluster not assigned to this server */
  clusterNotAssigned: 10007,
  /** JetStream cluster can not handle request (no leader) */
  clusterNotLeader: 10009,
  /** stream name already in use with a different configuration */
  streamNameInUse: 10058,
} as const;

export type DeclareFailure = 'not-clustered' | 'placement' | 'transient' | 'fatal';

/** What an error from a stream create/update/info means for declaring with `replicas` copies. */
export function classifyDeclareError(err: { code?: number; status?: number; message?: string; name?: string }): DeclareFailure {
  const code = err.code;
  const message = err.message ?? '';
  if (code === JS_ERR.notClustered || /non-clustered mode/i.test(message)) return 'not-clustered';
  if (code === JS_ERR.noPlacement || code === JS_ERR.insufficientResources || /suitable peers|insufficient resources/i.test(message)) {
    return 'placement';
  }
  if (
    code === JS_ERR.temporarilyUnavailable ||
    code === JS_ERR.clusterIncomplete ||
    code === JS_ERR.clusterNotAssigned ||
    code === JS_ERR.clusterNotLeader ||
    code === JS_ERR.streamNameInUse ||
    err.status === 503 ||
    err.status === 408 ||
    /timeout|timed out|no responders|temporarily unavailable|already in use|not (yet )?(current|available)|leader/i.test(message) ||
    /Timeout|NoResponders|JetStreamNotEnabled|ConnectionError/.test(err.name ?? '') ||
    /not enabled|connection refused/i.test(message)
  ) {
    return 'transient';
  }
  return 'fatal';
}
