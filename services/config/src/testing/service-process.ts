import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const SERVICE_ENTRY = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

export interface ServiceProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** The address from the "listening" log line; rejects if the process exits first. */
  listening(): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs the built service (`node dist/index.js`) with exactly the given settings. */
export function runService(settings: Record<string, string>): ServiceProcess {
  if (!existsSync(SERVICE_ENTRY)) throw new Error(`${SERVICE_ENTRY} is missing: build the service first (npm run build)`);
  const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...settings };
  const child = spawn(process.execPath, ['--import', '@inkstream/telemetry/register', SERVICE_ENTRY], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    listening: () =>
      new Promise<string>((resolve, reject) => {
        const look = () => {
          const line = output.split('\n').find((l) => l.includes('"config API listening"'));
          if (line) {
            clearInterval(timer);
            resolve((JSON.parse(line) as { address: string }).address);
          }
        };
        const timer = setInterval(look, 50);
        void exited.then((code) => {
          clearInterval(timer);
          reject(new Error(`service exited (${code}) before listening:\n${output}`));
        });
      }),
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
