/**
 * docker/docker-compose.yml itself: what it requires, what it runs, and that the suite's reader
 * interpolates it the way Compose does. (test/integration/compose-cli.test.ts has docker-compose
 * 1.29 check the same file; the e2e suite runs its servers from it.)
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { interpolate, isRecord, MissingVariableError, readCompose, readEnvFile, ComposeError } from '../e2e/support/compose-file.js';
import { TEST_COMPOSE_ENV } from '../e2e/support/compose.js';

/** The services only `--profile monitoring` starts. */
const MONITORING = ['prometheus', 'grafana'];
const REQUIRED = ['PUBLIC_IP', 'TRUNK_CIDRS', 'OUTBOUND_GATEWAY', 'DRACHTIO_SECRET', 'FS_ESL_PASSWORD', 'API_TOKEN', 'REDIS_MASKBRIDGE_PASSWORD', 'REDIS_BACKEND_PASSWORD'];

describe('Compose interpolation (the forms Compose v2 and docker-compose 1.29 share)', () => {
  const env = { SET: 'v', EMPTY: '' };
  it('substitutes $VAR and ${VAR}, and $$ is a literal $', () => {
    expect(interpolate('a $SET ${SET} $$SET $${SET}', env, 't')).toBe('a v v $SET ${SET}');
  });
  it(':- takes the default when unset or empty, - only when unset', () => {
    expect(interpolate('${EMPTY:-d}|${EMPTY-d}|${NOPE-d}|${SET:-d}', env, 't')).toBe('d||d|v');
  });
  it(':? stops on unset or empty, naming the variable and the message; ? only on unset', () => {
    expect(() => interpolate('${EMPTY:?give it}', env, 'svc')).toThrow(MissingVariableError);
    expect(() => interpolate('${EMPTY:?give it}', env, 'svc')).toThrow('svc: EMPTY is required: give it');
    expect(interpolate('${EMPTY?x}', env, 't')).toBe('');
    expect(() => interpolate('${NOPE?x}', env, 't')).toThrow('NOPE is required');
  });
  it('an unset ${VAR} without default becomes empty and is reported', () => {
    const unset: string[] = [];
    expect(interpolate('[${NOPE}]', env, 't', unset)).toBe('[]');
    expect(unset).toEqual(['NOPE']);
  });
  it('refuses what docker-compose 1.29 refuses: :+, nesting, a lone $', () => {
    expect(() => interpolate('${SET:+x}', env, 't')).toThrow(ComposeError);
    expect(() => interpolate('${NOPE:-${SET}}', env, 't')).toThrow('nested');
    expect(() => interpolate('cost $5', env, 't')).toThrow('invalid interpolation');
    expect(() => interpolate('${SET', env, 't')).toThrow('no closing brace');
  });
});

describe('docker/docker-compose.yml', () => {
  const stack = readCompose(TEST_COMPOSE_ENV);
  const services = Object.values(stack.services);

  it('needs every required variable: each one unset (or empty) stops Compose, naming it', () => {
    for (const name of REQUIRED) {
      for (const value of [undefined, '']) {
        const env = { ...TEST_COMPOSE_ENV, [name]: value };
        let error: unknown;
        try {
          readCompose(env);
        } catch (err) {
          error = err;
        }
        expect(error, `${name}=${String(value)}`).toBeInstanceOf(MissingVariableError);
        expect((error as MissingVariableError).variable).toBe(name);
        expect((error as Error).message).toContain(`set ${name} in docker/.env`);
      }
    }
    expect(stack.unset).toEqual([]);
  });

  it('has no fallback secrets: no change-me, cymru or ClueCon in docker/', () => {
    const files = (d: string): string[] => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? files(join(d, f)) : [join(d, f)]));
    for (const f of files('docker')) expect(readFileSync(f, 'utf8'), f).not.toMatch(/change-me|cymru|ClueCon/);
  });

  it('uses nothing only Compose v2 knows: no top-level name, no !reset/!override, no include; profiles (docker-compose 1.28+) only for monitoring and sentinel', () => {
    expect(Object.keys(stack.raw).filter((k) => !k.startsWith('x-')).sort()).toEqual(['networks', 'services', 'volumes']);
    expect(stack.text).not.toMatch(/!reset|!override/);
    for (const s of services) {
      if (MONITORING.includes(s.name)) expect(s.raw.profiles, s.name).toEqual(['monitoring']);
      else if (s.raw.profiles !== undefined) expect(s.raw.profiles, s.name).toEqual(['sentinel']);
      expect(s.raw.develop, s.name).toBeUndefined();
      if (isRecord(s.raw.depends_on)) {
        for (const dep of Object.values(s.raw.depends_on)) expect(Object.keys(dep as object)).toEqual(['condition']);
      }
      if (isRecord(s.raw.healthcheck)) expect(s.raw.healthcheck.start_interval, s.name).toBeUndefined();
    }
  });

  it('restarts every service unless stopped, and rotates its logs', () => {
    for (const s of services) {
      expect(s.raw.restart, s.name).toBe('unless-stopped');
      expect(s.raw.logging, s.name).toEqual({ driver: 'json-file', options: { 'max-size': expect.stringMatching(/^\d+[km]$/), 'max-file': expect.stringMatching(/^\d+$/) } });
    }
  });

  it('pins every image to a version tag (never latest)', () => {
    for (const s of services.filter((x) => x.raw.image !== undefined)) {
      expect(String(s.raw.image), s.name).toMatch(/^[\w./-]+:(?!latest\b)v?\d+(\.\d+)+[\w.-]*(@sha256:[0-9a-f]{64})?$/);
    }
    expect(stack.services.drachtio?.raw.image).toBe('drachtio/drachtio-server:0.9.10');
  });

  it("gives drachtio-server --external-ip and --local-net only after a --contact, once each (its own parser's rule)", () => {
    const argv = [...(stack.services.drachtio?.entrypoint ?? []), ...(stack.services.drachtio?.command ?? [])];
    let contact = false;
    let seen = new Set<string>();
    for (const [i, a] of argv.entries()) {
      if (a === '--contact' || a === '-c') {
        contact = true;
        seen = new Set();
      } else if (a === '--external-ip' || a === '--local-net') {
        expect(contact, `${a} at argv[${i}] must follow a --contact`).toBe(true);
        expect(seen.has(a), `${a} twice for one contact`).toBe(false);
        seen.add(a);
      }
    }
    expect(argv).toContain('--contact');
    expect(argv[argv.indexOf('--secret') + 1]).toBe(TEST_COMPOSE_ENV.DRACHTIO_SECRET);
  });

  it('publishes exactly the RTP range FreeSWITCH uses, and the comment counts 4 ports a call', () => {
    const fs = stack.services.freeswitch!;
    const start = Number(fs.environment.MB_FS_RTP_START);
    const end = Number(fs.environment.MB_FS_RTP_END);
    expect(fs.ports).toContain(`${start}-${end}:${start}-${end}/udp`);
    const calls = /(\d+) ports, (\d+) concurrent anchored calls/.exec(stack.text);
    expect(calls, 'the RTP comment').not.toBeNull();
    expect(Number(calls![1])).toBe(end - start + 1);
    expect(Number(calls![2])).toBe((end - start + 1) / 4);
  });

  it('points maskbridge at the ports the other services listen on', () => {
    const mb = stack.services.maskbridge!.environment;
    const fs = stack.services.freeswitch!.environment;
    expect(mb.MB_MEDIA_SERVERS).toBe(`freeswitch:${fs.MB_FS_ESL_PORT}:${TEST_COMPOSE_ENV.FS_ESL_PASSWORD}`);
    expect(mb.MB_REDIS_URL).toBe(`redis://maskbridge:${TEST_COMPOSE_ENV.REDIS_MASKBRIDGE_PASSWORD}@redis:6379`);
    expect(readFileSync('docker/drachtio/drachtio.conf.xml', 'utf8')).toContain(`<admin port="${mb.MB_DRACHTIO_PORT}">`);
    // FreeSWITCH calls each replica back at its own address, and its event socket answers the range they get.
    expect(mb.MB_MEDIA_ESL_ADVERTISE_ADDRESS).toBe('auto');
    expect(fs.MB_FS_ESL_ACL).toBe(ipRange());
    expect(stack.services.freeswitch!.addresses).toEqual([fs.MB_FS_SIP_IP]);
    expect(stack.services.drachtio!.entrypoint?.join(' ')).toContain(`sip:${stack.services.drachtio!.addresses[0]}:5060;`);
  });

  it('profile sentinel: 1 primary, 1 replica of it, 3 sentinels watching it by name, each with its own state volume', () => {
    const inProfile = services.filter((s) => Array.isArray(s.raw.profiles) && (s.raw.profiles as string[]).includes('sentinel')).map((s) => s.name).sort();
    expect(inProfile).toEqual(['redis-primary', 'redis-replica', 'redis-sentinel-1', 'redis-sentinel-2', 'redis-sentinel-3']);
    // Without the profile, the stack is what it was: maskbridge depends on the plain redis only.
    expect(Object.keys(stack.services.maskbridge!.raw.depends_on as object).sort()).toEqual(['drachtio', 'freeswitch', 'redis']);
    const primary = stack.services['redis-primary']!;
    const replica = stack.services['redis-replica']!;
    expect(primary.raw.image).toBe(stack.services.redis!.raw.image);
    expect(primary.command).toEqual(['sh', '/etc/maskbridge-redis/data-node.sh', '--replica-announce-ip', 'redis-primary']);
    expect(replica.command).toEqual(['sh', '/etc/maskbridge-redis/data-node.sh', '--replica-announce-ip', 'redis-replica', '--replicaof', 'redis-primary', '6379']);
    const dataNode = readFileSync('docker/redis/data-node.sh', 'utf8');
    expect(dataNode).toContain('"$dir/users.acl,$dir/replication.acl"');
    expect(dataNode).toContain('--masteruser replication --masterauth "$REDIS_REPLICATION_PASSWORD"');
    const sentinelSh = readFileSync('docker/redis/sentinel.sh', 'utf8');
    expect(sentinelSh).toContain('sentinel monitor mymaster redis-primary 6379 2');
    expect(sentinelSh).toContain('sentinel auth-user mymaster sentinel');
    const acl = readFileSync('docker/redis/replication.acl', 'utf8');
    expect(acl).toMatch(/^user replication on /m);
    expect(acl).toMatch(/^user sentinel on /m);
    const stateVolumes = [1, 2, 3].map((i) => stack.services[`redis-sentinel-${i}`]!.volumes.find((m) => m.target === '/data')?.source);
    expect(new Set(stateVolumes).size).toBe(3);
    expect(stack.services.maskbridge!.environment).toMatchObject({ MB_REDIS_SENTINELS: '', MB_REDIS_SENTINEL_PASSWORD: '', MB_REDIS_WAIT_REPLICAS: '0' });
  });

  it('docker/.env.example lists every required variable, the secrets empty', () => {
    const example = readEnvFile('docker/.env.example');
    for (const name of REQUIRED) expect(example, name).toHaveProperty(name);
    for (const name of REQUIRED.filter((n) => /SECRET|PASSWORD|TOKEN/.test(n))) expect(example[name], name).toBe('');
    expect(() => readCompose(example)).toThrow(MissingVariableError);
  });
});

describe('docker/docker-compose.yml, profile monitoring (Prometheus and Grafana)', () => {
  const stack = readCompose(TEST_COMPOSE_ENV);
  const prometheus = stack.services.prometheus!;
  const grafana = stack.services.grafana!;

  it('are the only services in the monitoring profile, and nothing outside a profile depends on them: a plain `up` starts the call path alone', () => {
    expect(Object.values(stack.services).filter((s) => Array.isArray(s.raw.profiles) && (s.raw.profiles as string[]).includes('monitoring')).map((s) => s.name).sort()).toEqual([...MONITORING].sort());
    for (const s of Object.values(stack.services)) {
      if (isRecord(s.raw.depends_on)) for (const dep of Object.keys(s.raw.depends_on)) expect(MONITORING, `${s.name} depends on ${dep}`).not.toContain(dep);
    }
  });

  it('mount their configuration read-only, from files that exist, and keep their data in volumes', () => {
    for (const s of [prometheus, grafana]) {
      const binds = s.volumes.filter((m) => m.kind === 'bind');
      expect(binds.length, s.name).toBeGreaterThan(0);
      for (const m of binds) {
        expect(m.readOnly, `${s.name} ${m.target}`).toBe(true);
        expect(existsSync(m.source), `${s.name} mounts ${m.source}`).toBe(true);
      }
      expect(s.volumes.filter((m) => m.kind === 'volume').length, s.name).toBe(1);
    }
    const promDir = prometheus.volumes.find((m) => m.target === '/etc/prometheus')!.source;
    for (const f of ['prometheus.yml', 'alerts.yml']) expect(existsSync(join(promDir, f)), f).toBe(true);
    expect(prometheus.command).toContain('--config.file=/etc/prometheus/prometheus.yml');
  });

  it('point at each other and at maskbridge: the scrape target is its API, the datasource is Prometheus, the dashboards are where the provider reads', () => {
    const promCfg = parse(readFileSync('docker/prometheus/prometheus.yml', 'utf8')) as { rule_files: string[]; scrape_configs: Array<{ job_name: string; metrics_path: string; dns_sd_configs: unknown[] }> };
    const job = promCfg.scrape_configs.find((j) => j.job_name === 'maskbridge')!;
    expect(job.metrics_path).toBe('/metrics');
    // Every replica: the service name's A records, at the API port.
    expect(job.dns_sd_configs).toEqual([{ names: ['maskbridge'], type: 'A', port: Number(stack.services.maskbridge!.environment.MB_API_PORT), refresh_interval: '30s' }]);
    expect(promCfg.rule_files).toEqual(['alerts.yml']);
    const ds = parse(readFileSync('docker/grafana/provisioning/datasources/prometheus.yml', 'utf8')) as { datasources: Array<{ uid: string; url: string }> };
    expect(ds.datasources[0]!.url).toBe('http://prometheus:9090');
    expect(prometheus.ports).toEqual(['127.0.0.1:9090:9090']);
    const dashboards = parse(readFileSync('docker/grafana/provisioning/dashboards/maskbridge.yml', 'utf8')) as { providers: Array<{ options: { path: string } }> };
    const mount = grafana.volumes.find((m) => m.target === dashboards.providers[0]!.options.path);
    expect(mount?.source).toBe(join(stack.dir, 'grafana', 'dashboards'));
    const dash = JSON.parse(readFileSync('docker/grafana/dashboards/maskbridge.json', 'utf8')) as { templating: { list: Array<{ name: string; current?: { value: string } }> } };
    expect(dash.templating.list.find((v) => v.name === 'datasource')?.current?.value).toBe(ds.datasources[0]!.uid);
  });

  it('Grafana: no anonymous access, no sign-up, the admin password from GRAFANA_ADMIN_PASSWORD (default admin, documented as to change), on loopback', () => {
    expect(grafana.environment.GF_AUTH_ANONYMOUS_ENABLED).toBe('false');
    expect(grafana.environment.GF_USERS_ALLOW_SIGN_UP).toBe('false');
    expect(grafana.environment.GF_SECURITY_ADMIN_PASSWORD).toBe('admin');
    expect(readCompose({ ...TEST_COMPOSE_ENV, GRAFANA_ADMIN_PASSWORD: 's3cret' }).services.grafana!.environment.GF_SECURITY_ADMIN_PASSWORD).toBe('s3cret');
    expect(stack.text).toMatch(/GRAFANA_ADMIN_PASSWORD: the default "admin" is for a\n\s*# first look only/);
    expect(readFileSync('docker/.env.example', 'utf8')).toMatch(/^#? ?GRAFANA_ADMIN_PASSWORD=/m);
    expect(grafana.ports).toEqual(['127.0.0.1:3000:3000']);
  });
});

/** The network's range Docker hands addresses out of (maskbridge's replicas). */
function ipRange(): string {
  const raw = readCompose(TEST_COMPOSE_ENV).raw as { networks: { private: { ipam: { config: Array<{ ip_range: string }> } } } };
  return raw.networks.private.ipam.config[0]!.ip_range;
}

function inRange(addr: string, cidr: string): boolean {
  const n = (a: string) => a.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
  const [net = '', bits = '32'] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(n(addr) / size) === Math.floor(n(net) / size);
}

describe('docker/docker-compose.yml scales maskbridge (docker compose up --scale maskbridge=3)', () => {
  const stack = readCompose(TEST_COMPOSE_ENV);
  const mb = stack.services.maskbridge!;

  it('has no container name, hostname, fixed address or instance id: each replica is told apart by its container', () => {
    for (const k of ['container_name', 'hostname']) expect(mb.raw, k).not.toHaveProperty(k);
    expect(mb.addresses).toEqual([]);
    expect(mb.environment).not.toHaveProperty('MB_CALLS_INSTANCE_ID');
  });

  it('publishes no host port two replicas would both take: the API on a range of loopback ports', () => {
    for (const p of mb.ports) {
      const m = /^(?:([\d.]+):)?(?:(\d+)(?:-(\d+))?)?:(\d+)(?:\/\w+)?$/.exec(p);
      expect(m, p).not.toBeNull();
      const [, host, from, to] = m!;
      expect(host, `${p} on loopback`).toBe('127.0.0.1');
      if (from !== undefined) expect(Number(to ?? from) - Number(from), `${p}: one host port for every replica`).toBeGreaterThanOrEqual(9);
    }
    expect(mb.ports).toEqual(['127.0.0.1:8080-8089:8080']);
  });

  it('every other service has a fixed address outside the range the replicas take, which the FreeSWITCH event socket answers', () => {
    const range = ipRange();
    const fixed: string[] = [];
    for (const s of Object.values(stack.services)) {
      if (s.name === 'maskbridge') continue;
      expect(s.addresses, `${s.name} needs a fixed address`).toHaveLength(1);
      expect(inRange(s.addresses[0]!, range), `${s.name} ${s.addresses[0]} inside ${range}`).toBe(false);
      fixed.push(s.addresses[0]!);
    }
    expect(new Set(fixed).size).toBe(fixed.length);
    expect(stack.services.freeswitch!.environment.MB_FS_ESL_ACL).toBe(range);
  });

  it('spools per replica on the shared spool volume: {instance} names each replica\'s directory', () => {
    const spoolMount = mb.volumes.find((m) => m.target === '/var/lib/maskbridge');
    expect(spoolMount).toMatchObject({ kind: 'volume', source: 'spool' });
    for (const k of ['MB_CDR_SPOOL_FILE', 'MB_WEBHOOKS_SPOOL_FILE']) {
      expect(mb.environment[k], k).toMatch(/^\/var\/lib\/maskbridge\/spool\/\{instance\}\/[\w-]+\.jsonl$/);
    }
    expect(mb.environment.MB_CDR_SPOOL_FILE).not.toBe(mb.environment.MB_WEBHOOKS_SPOOL_FILE);
  });
});
