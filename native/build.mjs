// Builds the io_uring engine addon (native/build/Release/ringcast.node) with node-gyp.
// io_uring is Linux-only: where the build cannot succeed (another OS, no C++ toolchain) the
// install still completes, the reason is written to native/build/UNAVAILABLE, and the server
// runs on the ws transport, saying why in its log line. RINGCAST_REQUIRE_NATIVE=1 makes a
// failed build fail the install instead (CI and the Docker image set it).
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const marker = join(here, 'build', 'UNAVAILABLE');
const required = process.env.RINGCAST_REQUIRE_NATIVE === '1';

function unavailable(reason) {
  mkdirSync(dirname(marker), { recursive: true });
  writeFileSync(marker, reason + '\n');
  console.warn(`ringcast: io_uring engine not built: ${reason}`);
  process.exit(required ? 1 : 0);
}

if (process.platform !== 'linux') unavailable(`io_uring needs Linux (this is ${process.platform})`);

const gyp = process.env.npm_config_node_gyp;
const [cmd, args] = gyp ? [process.execPath, [gyp, 'rebuild']] : ['node-gyp', ['rebuild']];
const r = spawnSync(cmd, args, { cwd: here, stdio: 'inherit' });
if (r.error) unavailable(`cannot run node-gyp: ${r.error.message}`);
if (r.status !== 0) unavailable(`node-gyp rebuild failed (exit ${r.status}); see the compiler output above`);
rmSync(marker, { force: true });
