import { describe, expect, it } from 'vitest';
import { classifyDeclareError, clusterTooSmall, notClusteredProblem } from './replicas-check.js';

describe('notClusteredProblem', () => {
  const facts = { server: 'n1' };
  it.each([
    [1, undefined, false],
    [3, undefined, true],
    [3, { leader: 'n1' }, true],
    [3, { name: 'c1', leader: 'n1' }, false],
    [1, { name: 'c1' }, false],
  ])('replicas %s, stream cluster %j: problem %s', (replicas, cluster, problem) => {
    expect(notClusteredProblem(replicas, cluster, facts) !== undefined).toBe(problem);
  });

  it('names the setting, the server and the way out', () => {
    const err = notClusteredProblem(3, undefined, facts)!;
    expect(err.name).toBe('ReplicasError');
    expect(err.message).toMatch(/NATS_REPLICAS is 3/);
    expect(err.message).toMatch(/\(n1\) is not part of a cluster/);
    expect(err.message).toMatch(/NATS_REPLICAS=1/);
  });
});

describe('clusterTooSmall', () => {
  it('names the setting, the cluster and the servers it knows', () => {
    const err = clusterTooSmall(5, 'the stream X_INGEST', { cluster: 'c1', connectUrls: ['a:1', 'b:2', 'c:3'] }, 'no suitable peers for placement');
    expect(err.message).toMatch(/NATS_REPLICAS is 5/);
    expect(err.message).toMatch(/cluster "c1" cannot place 5 copies of the stream X_INGEST/);
    expect(err.message).toMatch(/3 \(a:1, b:2, c:3\)/);
    expect(err.message).toMatch(/no suitable peers/);
  });
});

describe('classifyDeclareError', () => {
  it.each([
    [{ code: 10074, status: 500, message: 'replicas > 1 not supported in non-clustered mode' }, 'not-clustered'],
    [{ code: 10005, status: 400, message: 'no suitable peers for placement' }, 'placement'],
    [{ code: 10023, status: 503, message: 'insufficient resources' }, 'placement'],
    [{ code: 10008, status: 503, message: 'JetStream system temporarily unavailable' }, 'transient'],
    [{ code: 10058, status: 400, message: 'stream name already in use with a different configuration' }, 'transient'],
    [{ name: 'TimeoutError', message: 'timeout' }, 'transient'],
    [{ name: 'NoRespondersError', message: 'no responders: $JS.API.STREAM.INFO.X' }, 'transient'],
    [{ code: 10052, status: 400, message: 'invalid stream config' }, 'fatal'],
    [{ message: 'subjects overlap with an existing stream' }, 'fatal'],
  ])('%j is %s', (err, failure) => {
    expect(classifyDeclareError(err)).toBe(failure);
  });
});
