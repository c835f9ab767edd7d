// Configuration: flag beats env (RINGCAST_<NAME>) beats JSON file (--config) beats default.
// Every default lives in config/defaults.ts; this file only merges and validates.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { defaults, type OptionName, type OptionSpec } from '../config/defaults.js';
import { brokerUrlProblem } from './broker/url.js';

/** --workers ceiling: each worker is a thread with its own ring and event loop. */
export const MAX_WORKERS = 256;

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const nonNegativeInt = z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const uint32 = z.coerce.number().int().min(0).max(0xffff_ffff);
const powerOfTwo = (min: number, max: number) =>
  z.coerce
    .number()
    .int()
    .min(min)
    .max(max)
    .refine((n) => (n & (n - 1)) === 0, 'must be a power of two');

const schema = z
  .strictObject({
    host: z.string().min(1),
    port,
    workers: z.union([z.literal('auto'), z.coerce.number().int().min(1).max(MAX_WORKERS)]),
    path: z.string().regex(/^\/[\x21-\x7e]*$/, 'must start with / and hold printable ASCII without spaces'),
    transport: z.enum(['auto', 'uring', 'ws']),
    maxPayload: z.coerce
      .number()
      .int()
      .min(64)
      .max(64 * 1024 * 1024),
    permessageDeflate: z.enum(['on', 'off']),
    deflateThreshold: nonNegativeInt,
    deflateLevel: z.coerce.number().int().min(1).max(9),
    maxOutbound: z.coerce.number().int().min(1024).max(Number.MAX_SAFE_INTEGER),
    history: nonNegativeInt.max(1_000_000),
    historyTtl: nonNegativeInt,
    maxTopics: positiveInt,
    maxHistoryBytes: nonNegativeInt,
    maxConnections: nonNegativeInt,
    maxTopicsPerConnection: positiveInt,
    handshakeTimeout: positiveInt,
    pingInterval: positiveInt,
    closeTimeout: positiveInt,
    drainDelay: nonNegativeInt,
    drainTimeout: positiveInt,
    maxHeadBytes: z.coerce
      .number()
      .int()
      .min(256)
      .max(1024 * 1024),
    maxHeaders: z.coerce.number().int().min(4).max(1000),
    jwtSecret: z.string().min(16, 'must be at least 16 characters').nullable(),
    jwtPublicKey: z.string().min(1).nullable(),
    apiKey: z.string().min(8, 'must be at least 8 characters').nullable(),
    allowedOrigins: z
      .string()
      .nullable()
      .refine(
        (v) => v === null || v.split(',').every((o) => /^[a-z][a-z0-9+.-]*:\/\/[^/\s,]+$/i.test(o.trim())),
        'must be a comma-separated list of origins like https://chat.example.com',
      ),
    rateLimit: nonNegativeInt,
    rateLimitBytes: nonNegativeInt,
    idempotencyTtl: nonNegativeInt,
    maxIdempotencyKeys: positiveInt,
    presenceEvents: positiveInt,
    broker: z.string().superRefine((v, ctx) => {
      const problem = brokerUrlProblem(v);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
    }),
    brokerPrefix: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1..64 letters, digits, _ . : or -'),
    brokerTimeout: z.coerce.number().int().min(50).max(60_000),
    brokerProbe: nonNegativeInt.max(3_600_000),
    presenceTtl: z.coerce.number().int().min(5).max(86_400),
    demo: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]),
    ops: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]),
    opsPort: port,
    opsHost: z.string().min(1).nullable(),
    opsMaxViewers: z.coerce.number().int().min(1).max(100),
    mallocTrim: nonNegativeInt,
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    ringSlots: z.coerce
      .number()
      .int()
      .min(0)
      .max(1 << 18),
    sqEntries: powerOfTwo(64, 32768),
    cqEntries: powerOfTwo(64, 65536),
    recvBuffers: powerOfTwo(8, 32768),
    recvBufferSize: z.coerce
      .number()
      .int()
      .min(512)
      .max(1 << 20),
    zeroCopyThreshold: uint32,
    acceptBackoff: positiveInt.max(60_000),
    listenBacklog: z.coerce.number().int().min(1).max(65535),
    drainMark: nonNegativeInt,
    // the kernel keeps sq_thread_idle in jiffies; a minute of spinning is already absurd
    sqpoll: nonNegativeInt.max(60_000),
  })
  .refine((c) => c.jwtSecret === null || c.jwtPublicKey === null, {
    message: 'set --jwt-secret or --jwt-public-key, not both',
    path: ['jwtPublicKey'],
  })
  // the ops page shows user ids and topic names: never without a guard
  .refine((c) => !c.ops || c.apiKey !== null || c.jwtSecret !== null || c.jwtPublicKey !== null, {
    message: 'needs --api-key or JWT auth (--jwt-secret or --jwt-public-key) to guard the page',
    path: ['ops'],
  });

export type Config = z.infer<typeof schema>;

/** Settings whose values never appear in an error line or a log. */
const SECRETS = new Set<string>(['jwtSecret', 'apiKey', 'broker']);

/** A configuration error: the CLI prints `message` as one line and exits 2. */
export class ConfigError extends Error {}

export type CliAction = { kind: 'run'; config: Config } | { kind: 'help' } | { kind: 'version' };

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
const envName = (name: string) => 'RINGCAST_' + name.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
const flagToName = new Map(Object.keys(defaults).map((n) => [kebab(n), n as OptionName]));

function parseArgv(argv: readonly string[]): { values: Partial<Record<OptionName, string>>; help: boolean; version: boolean } {
  const values: Partial<Record<OptionName, string>> = {};
  let help = false;
  let version = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (arg === '--version' || arg === '-v') {
      version = true;
      continue;
    }
    if (!arg.startsWith('--')) throw new ConfigError(`unexpected argument '${arg}' (flags look like --port 8080)`);
    const eq = arg.indexOf('=');
    const flag = arg.slice(2, eq === -1 ? undefined : eq);
    const name = flagToName.get(flag);
    if (name === undefined) throw new ConfigError(`unknown flag --${flag} (see ringcast --help)`);
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    // a boolean flag may stand alone (--demo); --demo true / --demo=false work too
    else if (typeof defaults[name].default === 'boolean' && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--'))) value = 'true';
    else value = argv[++i];
    if (value === undefined) throw new ConfigError(`flag --${flag} needs a value`);
    values[name] = value;
  }
  return { values, help, version };
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${file} must hold a JSON object`);
  }
  for (const key of Object.keys(parsed)) {
    if (!(key in defaults) || key === 'config') throw new ConfigError(`unknown key '${key}' in config file ${file}`);
  }
  return parsed as Record<string, unknown>;
}

/** Where a value came from, for error messages that name it the way the user wrote it. */
function describe(name: OptionName, source: 'flag' | 'env' | 'file' | 'default'): string {
  switch (source) {
    case 'flag':
      return `--${kebab(name)}`;
    case 'env':
      return envName(name);
    case 'file':
      return `config key '${name}'`;
    default:
      return `default of ${name}`;
  }
}

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): CliAction {
  const { values: flags, help, version } = parseArgv(argv);
  if (help) return { kind: 'help' };
  if (version) return { kind: 'version' };

  const configFile = flags.config ?? env[envName('config')];
  const file = configFile ? readConfigFile(configFile) : {};

  const merged: Record<string, unknown> = {};
  const sources = new Map<string, 'flag' | 'env' | 'file' | 'default'>();
  for (const name of Object.keys(defaults) as OptionName[]) {
    if (name === 'config') continue;
    const fromEnv = env[envName(name)];
    if (flags[name] !== undefined) {
      merged[name] = flags[name];
      sources.set(name, 'flag');
    } else if (fromEnv !== undefined && fromEnv !== '') {
      merged[name] = fromEnv;
      sources.set(name, 'env');
    } else if (file[name] !== undefined) {
      merged[name] = file[name];
      sources.set(name, 'file');
    } else {
      merged[name] = defaults[name].default;
      sources.set(name, 'default');
    }
  }
  const result = schema.safeParse(merged);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const name = String(issue.path[0]) as OptionName;
    const shown = SECRETS.has(name) ? '(hidden)' : JSON.stringify(merged[name]);
    throw new ConfigError(`invalid ${describe(name, sources.get(name) ?? 'default')} = ${shown}: ${issue.message}`);
  }
  return { kind: 'run', config: result.data };
}

/** Configuration for embedding and tests: defaults overridden by a partial object, validated. */
export function configWith(overrides: Partial<Config> = {}): Config {
  const base: Record<string, unknown> = {};
  for (const name of Object.keys(defaults) as OptionName[]) {
    if (name !== 'config') base[name] = defaults[name].default;
  }
  const result = schema.safeParse({ ...base, ...overrides });
  if (!result.success) throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return result.data;
}

export function helpText(): string {
  const lines = [
    'Usage: ringcast [flags]',
    '',
    'Every flag is also an env var RINGCAST_<NAME> and a key of the --config JSON file.',
    'Precedence: flag > env > file > default.',
    '',
  ];
  const entries = Object.entries(defaults) as [string, OptionSpec][];
  const flagLines = (list: [string, OptionSpec][]) => {
    for (const [name, spec] of list) {
      const flag = `--${kebab(name)} <${spec.unit}>`;
      const def = spec.default === null ? '' : ` (default: ${spec.default})`;
      lines.push(`  ${flag.padEnd(44)} ${spec.help}${def}`);
      lines.push(`  ${''.padEnd(44)} env ${envName(name)}`);
    }
  };
  flagLines(entries.filter(([, spec]) => spec.advanced !== true));
  lines.push(`  ${'--help'.padEnd(44)} this text`, `  ${'--version'.padEnd(44)} print the version`);
  lines.push('', 'Advanced: io_uring engine tunables (uring transport only; docs/engine.md):', '');
  flagLines(entries.filter(([, spec]) => spec.advanced === true));
  return lines.join('\n');
}
