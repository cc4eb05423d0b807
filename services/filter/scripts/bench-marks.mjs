// The processed marks of ProcessedLog (built: dist/) at the filter's pattern, without NATS: P
// partitions each filled to M done marks (its bound), then segments of 100 records in lanes of 5:
// each record's mark checked (one in ten a duplicate of a recent mark), each lane's marks staged
// and written (a publisher that answers at once), the writes of a round flushed together.
// Reports the heap per mark held (V8 heap + array buffers, after gc) and the CPU per record
// (check + stage + write + trim, and the flush that joins the marks into the message).
//   node --expose-gc scripts/bench-marks.mjs [marksPerPartition=125000] [partitions=16] [records=400000]
// FILTER_DIST picks another build (e.g. a baseline worktree's dist).
const DIST = process.env.FILTER_DIST ?? '../dist';
const { ProcessedLog } = await import(`${DIST}/processed-log.js`);
const { processedMark } = await import(`${DIST}/processed-keys.js`);

const [M = 125_000, P = 16, N = 400_000] = process.argv.slice(2).map(Number);
if (typeof gc !== 'function') throw new Error('run with node --expose-gc');
const LANE = 5;
const SEGMENT = 100;

const publisher = { publish: () => Promise.resolve() };
const log = new ProcessedLog({ bus: {}, topology: { subjects: { processed: (p) => `bench.processed.${p}` } }, publisher, windowMs: () => 600_000, maxPerPartition: M, flushDelayMs: 0 });
const heap = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};

// Fill: every partition to its bound, with marks made as the filter makes them.
let key = 0;
const before = heap();
for (let p = 0; p < P; p++) {
  for (let done = 0; done < M; done += 1000) {
    const marks = [];
    for (let i = 0; i < 1000 && done + i < M; i++) marks.push(processedMark(`user${key % 5000}\u0000i:${key++}`));
    await log.write(p, marks);
  }
}
const held = heap() - before;
let sizes = 0;
for (let p = 0; p < P; p++) sizes += log.size(p);

// Records: fresh marks (new strings, as processedMark makes per record), one in ten a repeat of a
// mark written a few rounds before.
const records = [];
// (Record i goes to partition (i / SEGMENT) % P: a repeat is of a record of the same partition two
// rounds before; a string of its own, not the same object, whose hash V8 has cached.)
const repeat = (i) => i % 10 === 9 && i > 2 * P * SEGMENT;
for (let i = 0; i < N; i++) records.push(repeat(i) ? records[i - 2 * P * SEGMENT - 3].split('').join('') : processedMark(`user${key % 5000}\u0000i:${key++}`));

const never = new Promise(() => undefined);
let duplicates = 0;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let at = 0; at < N; ) {
  // One round: a segment per partition, its lanes written together (one flush per partition).
  const writes = [];
  for (let p = 0; p < P && at < N; p++) {
    const now = Date.now();
    for (let lane = 0; lane < SEGMENT / LANE && at < N; lane++) {
      const marks = [];
      for (let r = 0; r < LANE && at < N; r++) {
        const mark = records[at++];
        if (log.check(p, mark, now) !== undefined) duplicates++;
        else marks.push(mark);
      }
      if (marks.length === 0) continue;
      log.stage(p, marks, never);
      writes.push(log.write(p, marks));
    }
  }
  await Promise.all(writes);
}
const wall = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
console.log(
  JSON.stringify({
    dist: DIST,
    marksPerPartition: M,
    partitions: P,
    held: sizes,
    heapBytesPerMark: Math.round((held / sizes) * 10) / 10,
    records: N,
    duplicates,
    cpuUsPerRecord: Math.round(((cpu.user + cpu.system) / N) * 1000) / 1000,
    wallMs: Math.round(wall),
  }),
);
