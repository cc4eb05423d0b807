// Preloaded into ingest by ingest-bench.mjs with PROFILE_DIR: the first SIGUSR2 starts a CPU
// profile, the second stops it and writes it to INGEST_BENCH_PROFILE, so the profile holds the
// measured requests only (not start-up or warm-up).
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const file = process.env.INGEST_BENCH_PROFILE;
if (file) {
  const session = new Session();
  session.connect();
  let running = false;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      session.post('Profiler.enable', () => session.post('Profiler.setSamplingInterval', { interval: 200 }, () => session.post('Profiler.start')));
      return;
    }
    running = false;
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(file, JSON.stringify(result.profile));
    });
  });
}
