import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaults } from '../../config/defaults.js';
import { ConfigError, helpText, loadConfig } from '../../server/config.js';

const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const action = loadConfig(argv, env);
  if (action.kind !== 'run') throw new Error(action.kind);
  return action.config;
};
const file = (content: string) => {
  const dir = mkdtempSync(join(tmpdir(), 'ringcast-config-'));
  const path = join(dir, 'c.json');
  writeFileSync(path, content);
  return path;
};

describe('loadConfig', () => {
  it('uses the defaults of config/defaults.ts', () => {
    const c = run([]);
    expect(c).toMatchObject({
      host: '0.0.0.0',
      port: 8080,
      path: '/ws',
      transport: 'auto',
      maxPayload: 1048576,
      maxOutbound: 8388608,
      history: 100,
    });
    expect(c).toMatchObject({ maxTopics: 100_000, maxHistoryBytes: 256 * 1024 * 1024, closeTimeout: 5000 });
  });

  it('takes flag over env over file over default', () => {
    const cfg = file('{"port": 1111, "path": "/file", "history": 7}');
    const env = { RINGCAST_PORT: '2222', RINGCAST_PATH: '/env' };
    expect(run(['--config', cfg, '--port', '3333'], env)).toMatchObject({ port: 3333, path: '/env', history: 7 });
    expect(run(['--config', cfg], env)).toMatchObject({ port: 2222 });
    expect(run(['--config', cfg])).toMatchObject({ port: 1111, path: '/file' });
    expect(run([], { RINGCAST_CONFIG: cfg })).toMatchObject({ port: 1111 });
  });

  it('accepts --flag=value and kebab-case names', () => {
    expect(run(['--max-payload=2048', '--max-topics-per-connection', '5'])).toMatchObject({ maxPayload: 2048, maxTopicsPerConnection: 5 });
    expect(run([], { RINGCAST_MAX_OUTBOUND: '4096' })).toMatchObject({ maxOutbound: 4096 });
  });

  it.each([
    [['--port', '70000'], /--port/],
    [['--port', 'abc'], /--port/],
    [['--transport', 'quic'], /--transport/],
    [['--max-payload', '-1'], /--max-payload/],
    [['--history', '1.5'], /--history/],
    [['--log-level', 'loud'], /--log-level/],
    [['--path', 'no-slash'], /--path/],
    [['--max-topics', '0'], /--max-topics/],
    [['--max-history-bytes', '-1'], /--max-history-bytes/],
    [['--close-timeout', '0'], /--close-timeout/],
    [['--bogus', '1'], /unknown flag --bogus/],
    [['--port'], /--port needs a value/],
    [['stray'], /unexpected argument/],
  ])('rejects %j with a line naming it', (argv, pattern) => {
    expect(() => loadConfig(argv as string[], {})).toThrow(ConfigError);
    expect(() => loadConfig(argv as string[], {})).toThrow(pattern);
  });

  it('names the env var of a bad env value', () => {
    expect(() => loadConfig([], { RINGCAST_PORT: 'x' })).toThrow(/RINGCAST_PORT/);
  });

  it('names an unknown config file key, bad JSON and a missing file', () => {
    expect(() => loadConfig(['--config', file('{"prot": 1}')], {})).toThrow(/unknown key 'prot'/);
    expect(() => loadConfig(['--config', file('{port: 1}')], {})).toThrow(/not valid JSON/);
    expect(() => loadConfig(['--config', file('[1]')], {})).toThrow(/JSON object/);
    expect(() => loadConfig(['--config', '/nonexistent/ringcast.json'], {})).toThrow(/cannot read config file/);
    expect(() => loadConfig(['--config', file('{"port": "high"}')], {})).toThrow(/config key 'port'/);
  });

  it('never prints the value of a secret in an error line', () => {
    expect(() => loadConfig(['--jwt-secret', 'short-secret'], {})).toThrow(/--jwt-secret = \(hidden\)/);
    try {
      loadConfig([], { RINGCAST_API_KEY: 'tiny' });
    } catch (err) {
      expect(String(err)).not.toContain('tiny');
    }
  });

  it('refuses both --jwt-secret and --jwt-public-key, and origins that are not origins', () => {
    expect(() => loadConfig(['--jwt-secret', 'x'.repeat(32), '--jwt-public-key', '/k.pem'], {})).toThrow(/not both/);
    expect(() => loadConfig(['--allowed-origins', 'chat.example.com'], {})).toThrow(/--allowed-origins/);
    expect(run(['--allowed-origins', 'https://a.example, http://localhost:3000'])).toMatchObject({
      allowedOrigins: 'https://a.example, http://localhost:3000',
    });
  });

  it('takes --broker memory, redis:// and rediss:// URLs, and refuses anything else without showing a password', () => {
    const broker = (v: string) => (loadConfig(['--broker', v], {}) as { kind: 'run'; config: { broker: string } }).config.broker;
    expect(broker('memory')).toBe('memory');
    expect(broker('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(broker('rediss://:pw@redis.internal:6380/2')).toBe('rediss://:pw@redis.internal:6380/2');
    expect((loadConfig([], { RINGCAST_BROKER: 'redis://r:6379' }) as { kind: 'run'; config: { broker: string } }).config.broker).toBe(
      'redis://r:6379',
    );
    const cases: [string, RegExp][] = [
      ['redis', /not a URL/],
      ['http://host:6379', /scheme http: is not supported/],
      ['redis://host:6379/db1', /database must be a number/],
      ['redis://host:6379/0?timeout=1', /no query/],
      ['redis://:s3cret-password@host:6379/x', /database must be a number/],
    ];
    for (const [value, message] of cases) {
      let err: unknown;
      try {
        loadConfig(['--broker', value], {});
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(/--broker/);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toMatch(/s3cret/);
    }
    expect(() => loadConfig(['--broker-prefix', 'has space'], {})).toThrow(/--broker-prefix/);
    expect(() => loadConfig(['--broker-timeout', '10'], {})).toThrow(/--broker-timeout/);
  });

  it('has every flag in the README configuration table', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const name of Object.keys(defaults))
      expect(readme).toContain('| `--' + name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()) + '` |');
  });

  it('lists every flag with its default in --help', () => {
    const text = helpText();
    for (const [name, spec] of Object.entries(defaults)) {
      const flag = '--' + name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
      expect(text).toContain(flag);
      if (spec.default !== null) expect(text).toContain(`(default: ${spec.default})`);
    }
  });
});
