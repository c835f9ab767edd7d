// How the server is launched: `npm start` in package.json is the one place that names the Node
// flags; the bin's shebang, the image's CMD and loadtest/ must say the same (test/launch.test.ts).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI_PATH = 'dist/server/cli.js';

/** The Node flags of package.json's start script: `node FLAGS dist/server/cli.js`. */
export function nodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { scripts: Record<string, string> };
  const words = pkg.scripts.start!.trim().split(/\s+/);
  if (words[0] !== 'node' || words[words.length - 1] !== CLI_PATH) {
    throw new Error(`package.json start is not "node [flags] ${CLI_PATH}": ${pkg.scripts.start}`);
  }
  return words.slice(1, -1);
}
