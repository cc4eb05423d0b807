// The done-marks structure alone, at the filter's pattern: P partitions each filled to M marks,
// then per record a lookup (one in ten a repeat of a recent mark) and, per lane of 5, the new
// marks added and the partition trimmed to M. `map` is the Map<string, number> ProcessedLog kept
// before (its code as it was), `table` the MarkTable (built: dist/). CPU per record, and heap
// (V8 heap + array buffers, after gc) per mark held.
//   node --expose-gc scripts/bench-mark-table.mjs map|table [marksPerPartition=125000] [partitions=16] [records=1000000]
const { MarkTable } = await import(`${process.env.FILTER_DIST ?? '../dist'}/mark-table.js`);
const { processedMark } = await import(`${process.env.FILTER_DIST ?? '../dist'}/processed-keys.js`);

const kind = process.argv[2];
const [M = 125_000, P = 16, N = 1_000_000] = process.argv.slice(3).map(Number);
if (typeof gc !== 'function') throw new Error('run with node --expose-gc');
const LANE = 5;
const SEGMENT = 100;
const WINDOW_S = 600;

/** The Map version, as processed-log.ts had it. */
class MapMarks {
  done = new Map();
  writtenAt(mark) {
    return this.done.get(mark) ?? -1;
  }
  add(mark, at) {
    if (this.done.has(mark)) return;
    this.done.set(mark, at);
  }
  trim(oldest, max) {
    let over = this.done.size - max;
    for (const [mark, at] of this.done) {
      if (at >= oldest && over <= 0) break;
      this.done.delete(mark);
      over--;
    }
  }
}
const make = kind === 'map' ? () => new MapMarks() : kind === 'table' ? () => new MarkTable() : undefined;
if (!make) throw new Error('map or table');

const heap = () => {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
};
const nowSec = Math.floor(Date.now() / 1000);
let key = 0;
const before = heap();
const parts = [];
for (let p = 0; p < P; p++) {
  const t = make();
  for (let i = 0; i < M; i++) t.add(processedMark(`user${key % 5000}\u0000i:${key++}`), nowSec);
  parts.push(t);
}
const perMark = (heap() - before) / (P * M);

const repeat = (i) => i % 10 === 9 && i > 2 * P * SEGMENT;
const records = [];
for (let i = 0; i < N; i++) records.push(repeat(i) ? records[i - 2 * P * SEGMENT - 3].split('').join('') : processedMark(`user${key % 5000}\u0000i:${key++}`));

let hits = 0;
const lane = [];
const cpu0 = process.cpuUsage();
for (let at = 0; at < N; ) {
  for (let p = 0; p < P && at < N; p++) {
    const t = parts[p];
    for (let l = 0; l < SEGMENT / LANE && at < N; l++) {
      lane.length = 0;
      for (let r = 0; r < LANE && at < N; r++) {
        const mark = records[at++];
        const w = t.writtenAt(mark);
        if (w >= 0 && nowSec - w <= WINDOW_S) hits++;
        else lane.push(mark);
      }
      for (const mark of lane) t.add(mark, nowSec);
      t.trim(nowSec - WINDOW_S, M);
    }
  }
}
const cpu = process.cpuUsage(cpu0);
console.log(
  JSON.stringify({ kind, marksPerPartition: M, partitions: P, heapBytesPerMark: Math.round(perMark * 10) / 10, records: N, hits, cpuUsPerRecord: Math.round(((cpu.user + cpu.system) / N) * 1000) / 1000 }),
);
