#!/usr/bin/env node
// ringcast-loadgen: load-test any protocol v1 server (a deployed ringcast, or a peer) with the
// native generator. Builds it on first use (needs make and g++), then passes every flag
// through: progress lines and '#phase' markers on stderr, the JSON summary on stdout.
//   npx ringcast-loadgen --url ws://HOST:PORT/ws --subscribers 5000 --mode open --rate 100
// See docs/loadtest.md for the flags and what the summary means.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const loadtest = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const binary = path.join(loadtest, 'build', 'ringcast-loadgen');

if (!existsSync(binary)) {
  process.stderr.write('ringcast-loadgen: building the native generator (make -C loadtest)\n');
  const built = spawnSync('make', ['-s', '-C', loadtest], { stdio: 'inherit' });
  if (built.status !== 0) {
    process.stderr.write('ringcast-loadgen: build failed; it needs make and a C++17 g++ (apt-get install build-essential)\n');
    process.exit(1);
  }
}

const child = spawn(binary, process.argv.slice(2), { stdio: 'inherit' });
// Ctrl-C reaches the generator through the terminal's process group; just mirror its exit.
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
