import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Preloaded into the services by `npm run bench` when BENCH_CPU_PROFILE_DIR is set (Node 20
 * refuses `--cpu-prof` in NODE_OPTIONS): profiles the whole life of the process with the
 * inspector and writes `<dir>/<service>-<pid>.cpuprofile` at exit, for Chrome DevTools or
 * speedscope.
 */
const dir = process.env.INKSTREAM_CPU_PROFILE_DIR;
if (dir) {
  const service = /[/\\]services[/\\]([a-z0-9-]+)[/\\]/i.exec(process.argv[1] ?? '')?.[1] ?? 'node';
  const session = new Session();
  session.connect();
  // Callbacks of an in-thread session run synchronously, so the profile is written at 'exit'.
  session.post('Profiler.enable', () => session.post('Profiler.start'));
  process.on('exit', () => {
    session.post('Profiler.stop', (err, result) => {
      if (!err) writeFileSync(join(dir, `${service}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
