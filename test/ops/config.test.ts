// --ops and its flags follow the house conventions: flag, env var, config key, a clear error.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../server/config.js';

function run(argv: string[], env: Record<string, string> = {}) {
  const action = loadConfig(argv, env);
  if (action.kind !== 'run') throw new Error('expected a run');
  return action.config;
}

describe('ops configuration', () => {
  it('is off by default, on port 8081 for at most 5 viewers', () => {
    const c = run([]);
    expect(c.ops).toBe(false);
    expect(c.opsPort).toBe(8081);
    expect(c.opsHost).toBeNull();
    expect(c.opsMaxViewers).toBe(5);
  });

  it('takes every setting as a flag or an env var', () => {
    const c = run(['--ops', '--api-key', 'k3y-k3y-k3y', '--ops-port', '0', '--ops-host', '127.0.0.1'], { RINGCAST_OPS_MAX_VIEWERS: '2' });
    expect(c).toMatchObject({ ops: true, opsPort: 0, opsHost: '127.0.0.1', opsMaxViewers: 2 });
  });

  it('refuses an unguarded ops page, naming the flag', () => {
    expect(() => run(['--ops'])).toThrow(/--ops.*--api-key or JWT auth/);
    expect(() => run(['--ops', '--jwt-secret', 'x'.repeat(16)])).not.toThrow();
  });

  it('refuses a bad viewer limit or port', () => {
    expect(() => run(['--ops-max-viewers', '0'])).toThrow(/--ops-max-viewers/);
    expect(() => run(['--ops-port', '70000'])).toThrow(/--ops-port/);
  });
});
