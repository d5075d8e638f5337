/**
 * docker/docker-compose.yml read the way Compose reads it: YAML (anchors resolved), then every
 * string value interpolated from an environment (`$$`, `$VAR`, `${VAR}`, `${VAR:-default}`,
 * `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`), the forms Compose v2 and
 * docker-compose 1.29 both take. Anything else (`${VAR:+x}`, a nested `${...}` in a default, a
 * lone `$`) is refused here, as 1.29 refuses it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse } from 'yaml';

export const COMPOSE_FILE = 'docker/docker-compose.yml';

export type ComposeEnv = Readonly<Record<string, string | undefined>>;

export class ComposeError extends Error {
  override readonly name = 'ComposeError';
}

/** A required variable (`${VAR:?message}`) is unset or empty: what Compose stops on. */
export class MissingVariableError extends ComposeError {
  constructor(readonly variable: string, readonly where: string, message: string) {
    super(`${where}: ${variable} is required: ${message}`);
  }
}

export interface Mount {
  kind: 'bind' | 'volume';
  /** bind: absolute host path (relative ones resolve against the Compose file's folder); volume: its name. */
  source: string;
  target: string;
  readOnly: boolean;
}

export interface ComposeService {
  name: string;
  entrypoint: string[] | null;
  command: string[] | null;
  environment: Record<string, string>;
  volumes: Mount[];
  ports: string[];
  /** Fixed addresses on the stack's networks. */
  addresses: string[];
  raw: Record<string, unknown>;
}

export interface ComposeStack {
  file: string;
  /** The Compose file's folder, against which relative bind sources resolve. */
  dir: string;
  services: Record<string, ComposeService>;
  /** IPv4 subnets of the stack's networks (CIDR). */
  subnets: string[];
  /** Variables referenced without a default that were unset (Compose substitutes '' and warns). */
  unset: string[];
  /** The whole interpolated document. */
  raw: Record<string, unknown>;
  /** The file as text (comments included). */
  text: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Interpolates one string value. `where` names it in errors. */
export function interpolate(text: string, env: ComposeEnv, where: string, unset: string[] = []): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) return out + text.slice(i);
    out += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      out += '$';
      i = dollar + 2;
      continue;
    }
    if (next === '{') {
      const close = text.indexOf('}', dollar + 2);
      if (close < 0) throw new ComposeError(`${where}: invalid interpolation format in "${text}" (no closing brace)`);
      out += substitute(text.slice(dollar + 2, close), env, where, unset);
      i = close + 1;
      continue;
    }
    const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(dollar + 1))?.[0];
    if (!name) throw new ComposeError(`${where}: invalid interpolation format in "${text}" (write $$ for a literal $)`);
    out += substitute(name, env, where, unset);
    i = dollar + 1 + name.length;
  }
  return out;
}

function substitute(body: string, env: ComposeEnv, where: string, unset: string[]): string {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([\s\S]*))?$/.exec(body);
  if (!m) throw new ComposeError(`${where}: unsupported interpolation "\${${body}}" (Compose 1.29 takes :-, -, :? and ? only)`);
  const [, name, colon, op, arg = ''] = m as unknown as [string, string, string | undefined, string | undefined, string | undefined];
  if (arg.includes('$')) throw new ComposeError(`${where}: nested interpolation in "\${${body}}" (Compose 1.29 does not take it)`);
  const value = env[name];
  const missing = value === undefined || (colon === ':' && value === '');
  if (!op) {
    if (value === undefined) unset.push(name);
    return value ?? '';
  }
  if (!missing) return value;
  if (op === '-') return arg;
  throw new MissingVariableError(name, where, arg || `${name} is not set`);
}

/** Reads and interpolates a Compose file. */
export function readCompose(env: ComposeEnv, file = COMPOSE_FILE): ComposeStack {
  const text = readFileSync(file, 'utf8');
  const doc: unknown = parse(text, { merge: true });
  if (!isRecord(doc)) throw new ComposeError(`${file}: not a YAML mapping`);
  const unset: string[] = [];
  const raw = interpolateTree(doc, env, '', unset) as Record<string, unknown>;
  const dir = dirname(resolve(file));
  const servicesRaw = raw.services;
  if (!isRecord(servicesRaw)) throw new ComposeError(`${file}: no services`);
  const services: Record<string, ComposeService> = {};
  for (const [name, def] of Object.entries(servicesRaw)) {
    if (!isRecord(def)) throw new ComposeError(`${file}: service ${name} is not a mapping`);
    services[name] = service(name, def, dir);
  }
  return { file, dir, services, subnets: subnets(raw), unset: [...new Set(unset)], raw, text };
}

function interpolateTree(node: unknown, env: ComposeEnv, path: string, unset: string[]): unknown {
  if (typeof node === 'string') return interpolate(node, env, path || '(root)', unset);
  if (Array.isArray(node)) return node.map((v, i) => interpolateTree(v, env, `${path}[${i}]`, unset));
  if (isRecord(node)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) out[k] = interpolateTree(v, env, path ? `${path}.${k}` : k, unset);
    return out;
  }
  return node;
}

function service(name: string, def: Record<string, unknown>, dir: string): ComposeService {
  const where = `service ${name}`;
  return {
    name,
    entrypoint: argList(def.entrypoint, `${where} entrypoint`),
    command: argList(def.command, `${where} command`),
    environment: environment(def.environment, where),
    volumes: (asArray(def.volumes, `${where} volumes`)).map((v) => mount(v, dir, where)),
    ports: asArray(def.ports, `${where} ports`).map((p) => String(p)),
    addresses: addresses(def.networks),
    raw: def,
  };
}

function argList(value: unknown, where: string): string[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value)) throw new ComposeError(`${where}: use the list form (the suite passes arguments as they are, unsplit)`);
  return value.map((v) => String(v));
}

function environment(value: unknown, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (value === undefined || value === null) return out;
  if (Array.isArray(value)) {
    for (const item of value) {
      const s = String(item);
      const eq = s.indexOf('=');
      if (eq < 0) throw new ComposeError(`${where}: environment entry "${s}" takes its value from the host; give it one`);
      out[s.slice(0, eq)] = s.slice(eq + 1);
    }
    return out;
  }
  if (!isRecord(value)) throw new ComposeError(`${where}: environment is neither a list nor a mapping`);
  for (const [k, v] of Object.entries(value)) {
    if (v === null || v === undefined) throw new ComposeError(`${where}: environment ${k} takes its value from the host; give it one`);
    out[k] = String(v);
  }
  return out;
}

function mount(value: unknown, dir: string, where: string): Mount {
  if (typeof value !== 'string') throw new ComposeError(`${where}: use the short volume syntax (source:target[:ro])`);
  const [source, target, mode, ...rest] = value.split(':');
  if (!source || !target || rest.length > 0 || !target.startsWith('/')) throw new ComposeError(`${where}: unreadable volume "${value}"`);
  const bind = source.startsWith('.') || source.startsWith('/');
  return { kind: bind ? 'bind' : 'volume', source: bind ? resolve(dir, source) : source, target, readOnly: mode === 'ro' };
}

function addresses(networks: unknown): string[] {
  if (!isRecord(networks)) return [];
  const out: string[] = [];
  for (const net of Object.values(networks)) {
    if (isRecord(net) && typeof net.ipv4_address === 'string') out.push(net.ipv4_address);
  }
  return out;
}

function subnets(raw: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (!isRecord(raw.networks)) return out;
  for (const net of Object.values(raw.networks)) {
    if (!isRecord(net) || !isRecord(net.ipam)) continue;
    for (const c of asArray(net.ipam.config, 'networks ipam config')) {
      if (isRecord(c) && typeof c.subnet === 'string') out.push(c.subnet);
    }
  }
  return out;
}

function asArray(value: unknown, where: string): unknown[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ComposeError(`${where}: expected a list`);
  return value;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A Compose `.env` file: KEY=VALUE lines, `#` comments and blank lines skipped, one pair of
 * surrounding quotes removed. Empty values stay empty (and so count as unset for `:?`).
 */
export function readEnvFile(file: string): Record<string, string> {
  if (!existsSync(file)) throw new ComposeError(`${file}: not found`);
  const out: Record<string, string> = {};
  for (const [n, line] of readFileSync(file, 'utf8').split('\n').entries()) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const eq = t.indexOf('=');
    const key = eq < 0 ? '' : t.slice(0, eq).trim();
    if (!NAME.test(key)) throw new ComposeError(`${file}:${n + 1}: not KEY=VALUE`);
    out[key] = t.slice(eq + 1).trim().replace(/^(["'])(.*)\1$/, '$2');
  }
  return out;
}
