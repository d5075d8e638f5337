/**
 * The configuration schema: every key, its default, its env var and its meaning.
 * docs/configuration.md is the prose version; keep them together.
 */
import { BlockList, isIP } from 'node:net';
import convict from 'convict';
import { isSendableStatus, SENDABLE_STATUSES } from '../sip/status.js';
import { parseSentinel } from '../sessions/sentinel.js';
import { checkWebhookUrl } from '../events/events.js';
import { KEEP_ALIVE_DEFAULTS } from '../media/server-watch.js';

export const SIP_STATUS_MIN = 400;
export const SIP_STATUS_MAX = 699;

/** A failure status drachtio-srf can send (its Response#send throws for any other, e.g. 499 or 607). */
function assertSipFailureStatus(value: unknown): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < SIP_STATUS_MIN || value > SIP_STATUS_MAX) {
    throw new Error(`must be a SIP failure status between ${SIP_STATUS_MIN} and ${SIP_STATUS_MAX}`);
  }
  if (!isSendableStatus(value)) {
    throw new Error(`${value} is not a status drachtio-srf can send; use one of ${SENDABLE_STATUSES.filter((s) => s >= SIP_STATUS_MIN).join(', ')}`);
  }
}

/** Parses "10.0.0.0/8", "192.0.2.7" or "::1/128" into a BlockList entry; throws with the reason. */
export function addCidr(list: BlockList, entry: string): void {
  const [addr, prefixText] = entry.split('/');
  const family = addr ? isIP(addr) : 0;
  if (!addr || family === 0) throw new Error(`"${entry}" is not an IP address or CIDR`);
  const type = family === 6 ? 'ipv6' : 'ipv4';
  if (prefixText === undefined) {
    list.addAddress(addr, type);
    return;
  }
  const prefix = Number(prefixText);
  const max = family === 6 ? 128 : 32;
  if (!/^\d+$/.test(prefixText) || prefix > max) throw new Error(`"${entry}" has an invalid prefix length`);
  list.addSubnet(addr, prefix, type);
}

/** A named trunk source: its CIDR and its own INVITE limit per window (null: never limited). */
export interface TrunkSource {
  cidr: string;
  limit: number | null;
}

/** Parses "cidr" or "cidr=limit" (limit a whole number >= 1); throws with the reason. */
export function parseTrunkSource(entry: string): TrunkSource {
  const [cidrText = '', limitText, ...rest] = entry.trim().split('=');
  const cidr = cidrText.trim();
  addCidr(new BlockList(), cidr);
  if (rest.length > 0) throw new Error(`"${entry}" has more than one "="`);
  if (limitText === undefined) return { cidr, limit: null };
  if (!/^\s*\d+\s*$/.test(limitText) || Number(limitText) < 1) throw new Error(`"${entry}": the limit after "=" must be a whole number >= 1`);
  return { cidr, limit: Number(limitText) };
}

convict.addFormat({
  name: 'cidr-list',
  validate(value: unknown) {
    if (!Array.isArray(value)) throw new Error('must be a list of IP addresses or CIDRs');
    const list = new BlockList();
    for (const entry of value) {
      if (typeof entry !== 'string') throw new Error('must be a list of IP addresses or CIDRs');
      addCidr(list, entry.trim());
    }
  },
  coerce(value: unknown) {
    return typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
  },
});

convict.addFormat({
  name: 'string-list',
  validate(value: unknown) {
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) throw new Error('must be a list of strings');
  },
  coerce(value: unknown) {
    return typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
  },
});

convict.addFormat({
  name: 'trunk-sources',
  validate(value: unknown) {
    if (!Array.isArray(value)) throw new Error('must be a list of "cidr" or "cidr=limit"');
    for (const entry of value) {
      if (typeof entry !== 'string') throw new Error('must be a list of "cidr" or "cidr=limit"');
      parseTrunkSource(entry);
    }
  },
  coerce(value: unknown) {
    return typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
  },
});

/** Numbers from the environment arrive as strings; leave non-numeric text as is so the error shows it. */
const toNumber = (v: unknown): unknown => (typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v);

convict.addFormat({ name: 'sip-failure-status', validate: assertSipFailureStatus, coerce: toNumber });

/** A whole-number format from `min` to `max`, saying so when a value is outside. */
function wholeNumberFormat(name: string, min: number, max: number, message: string): void {
  convict.addFormat({
    name,
    validate(value: unknown) {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw new Error(message);
    },
    coerce: toNumber,
  });
}

wholeNumberFormat('count', 0, Number.MAX_SAFE_INTEGER, 'must be a whole number >= 0');
wholeNumberFormat('positive-count', 1, Number.MAX_SAFE_INTEGER, 'must be a whole number >= 1');
// Below 200 ms a short Redis stall would take a live instance for dead; above a minute lost calls stay up for minutes.
wholeNumberFormat('heartbeat-ms', 200, 60_000, 'must be a whole number of milliseconds from 200 to 60000');
wholeNumberFormat('tcp-port', 0, 65535, 'must be a port number 0-65535');
// Shorter than a few minutes would let an ordinary resend (a lost reply, a restart) land twice.
wholeNumberFormat('dedupe-retention-sec', 300, 30 * 86400, 'must be a whole number of seconds from 300 (5 minutes) to 2592000 (30 days)');

convict.addFormat({
  name: 'webhook-url',
  validate(value: unknown) {
    if (typeof value !== 'string') throw new Error('must be an http or https URL, or empty');
    const problem = value === '' ? null : checkWebhookUrl(value);
    if (problem) throw new Error(`${problem} (or empty: no default)`);
  },
});

/** sonic-boom (pino's writer) needs its batch size below its largest single write, 16 KiB. */
export const LOG_BUFFER_MAX = 16_000;

convict.addFormat({
  name: 'log-buffer-bytes',
  validate(value: unknown) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > LOG_BUFFER_MAX) {
      throw new Error(`must be a whole number of bytes from 0 to ${LOG_BUFFER_MAX}`);
    }
  },
  coerce: toNumber,
});

convict.addFormat({
  name: 'bool',
  validate(value: unknown) {
    if (typeof value !== 'boolean') throw new Error('must be true or false');
  },
  coerce(v: unknown) {
    if (typeof v !== 'string') return v;
    if (/^(true|1|yes)$/i.test(v.trim())) return true;
    if (/^(false|0|no)$/i.test(v.trim())) return false;
    return v;
  },
});

convict.addFormat({
  name: 'host-port',
  validate(value: unknown) {
    if (typeof value !== 'string' || !/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(value)) {
      throw new Error('must be host:port');
    }
  },
});

convict.addFormat({
  name: 'sentinel-list',
  validate(value: unknown) {
    if (!Array.isArray(value)) throw new Error('must be a list of host:port');
    value.forEach((entry, i) => {
      if (typeof entry !== 'string') throw new Error(`entry ${i + 1} is not host:port`);
      try {
        parseSentinel(entry);
      } catch (err) {
        throw new Error(`entry ${i + 1}: ${(err as Error).message}`);
      }
    });
  },
  coerce(value: unknown) {
    return typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
  },
});

convict.addFormat({
  name: 'host-port-list',
  validate(value: unknown) {
    if (!Array.isArray(value)) throw new Error('must be a list of host:port');
    for (const v of value) {
      if (typeof v !== 'string' || !/^[A-Za-z0-9.\-[\]:]+:\d{1,5}$/.test(v)) throw new Error(`"${String(v)}" is not host:port`);
    }
  },
  coerce(value: unknown) {
    return typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
  },
});

convict.addFormat({
  name: 'region',
  validate(value: unknown) {
    if (typeof value !== 'string' || !/^[A-Z]{2}$/.test(value)) throw new Error('must be an ISO 3166-1 alpha-2 region such as IN or US');
  },
});


convict.addFormat({
  name: 'media-servers',
  validate(value: unknown) {
    if (!Array.isArray(value)) throw new Error('must be a list of host:port:secret');
    value.forEach((entry, i) => {
      if (typeof entry !== 'string' || !/^[A-Za-z0-9.-]+:\d{1,5}:.+$/.test(entry)) {
        throw new Error(`entry ${i + 1} is not host:port:secret`);
      }
    });
  },
  coerce(value: unknown) {
    return typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter(Boolean) : value;
  },
});

/** A real-time hook's URL (src/hooks/): empty (the hook is off) or http(s), without credentials in it (the URL is not secret; requests are signed). */
convict.addFormat({
  name: 'hook-url',
  validate(value: unknown) {
    if (value === '') return;
    let url: URL;
    try {
      url = new URL(String(value));
    } catch {
      throw new Error('must be empty (hook off) or an http:// or https:// URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('must be empty (hook off) or an http:// or https:// URL');
    if (url.username || url.password) throw new Error('must not carry credentials (requests are signed with hooks.secret)');
  },
});

wholeNumberFormat('hook-timeout-ms', 1, 10_000, 'must be a whole number of milliseconds from 1 to 10000');

const hook = (name: string, envPrefix: string, failPolicy: 'open' | 'closed', what: string) => ({
  url: { doc: `URL the ${name} hook is POSTed to (${what}); empty: the hook is off`, format: 'hook-url', default: '', env: `${envPrefix}_URL` },
  timeoutMs: {
    doc: `Longest wait for the ${name} hook's answer (the whole request); past it the fail policy applies`,
    format: 'hook-timeout-ms', default: 1000, env: `${envPrefix}_TIMEOUT_MS`,
  },
  failPolicy: {
    doc: `When the ${name} hook times out, fails or answers something invalid: ${failPolicy === 'closed'
      ? '"closed" refuses the call with failStatus, "open" places the call as if the hook had allowed it'
      : '"open" gives the caller the static treatment (as without the hook: PIN prompt or calls.unknownCaller), "closed" refuses the call with failStatus'}`,
    format: ['open', 'closed'], default: failPolicy, env: `${envPrefix}_FAIL_POLICY`,
  },
  failStatus: { doc: `SIP status when the ${name} hook fails and failPolicy is "closed"`, format: 'sip-failure-status', default: 503, env: `${envPrefix}_FAIL_STATUS` },
});

const treatment = (status: number, reason: string, envPrefix: string, what: string) => ({
  status: { doc: `SIP status for ${what}`, format: 'sip-failure-status', default: status, env: `${envPrefix}_STATUS` },
  reason: { doc: `SIP reason phrase for ${what}`, format: String, default: reason, env: `${envPrefix}_REASON` },
  announcement: {
    doc: `Audio file (on the media server) played to the caller for ${what} before hangup; empty for a bare SIP rejection. Needs media.mode=anchor.`,
    format: String, default: '', env: `${envPrefix}_ANNOUNCEMENT`,
  },
});

export const schema = {
  env: { doc: 'Deployment name, used only in logs', format: String, default: 'development', env: 'NODE_ENV' },
  drachtio: {
    host: { doc: 'drachtio-server admin (inbound connection) host', format: String, default: '127.0.0.1', env: 'MB_DRACHTIO_HOST' },
    port: { doc: 'drachtio-server admin port', format: 'tcp-port', default: 9022, env: 'MB_DRACHTIO_PORT' },
    secret: { doc: 'drachtio-server shared secret', format: String, default: 'cymru', env: 'MB_DRACHTIO_SECRET', sensitive: true },
  },
  redis: {
    url: { doc: 'Redis URL (redis:// or rediss://)', format: String, default: 'redis://127.0.0.1:6379', env: 'MB_REDIS_URL' },
    keyPrefix: { doc: 'Prefix of every key of the session contract', format: String, default: 'mb:', env: 'MB_REDIS_KEY_PREFIX' },
    commandTimeoutMs: {
      doc: 'Longest wait for one Redis command on the call path; past it the call fails closed with 503',
      format: 'count', default: 250, env: 'MB_REDIS_COMMAND_TIMEOUT_MS',
    },
    cdrStreamMaxLen: { doc: 'Approximate cap on the CDR stream length (XADD MAXLEN ~); 0 = uncapped', format: 'count', default: 1000000, env: 'MB_REDIS_CDR_MAXLEN' },
    sentinels: {
      doc: 'Redis Sentinel: the sentinels as host:port, comma separated; maskbridge follows the primary they name (redis.url then gives only the data nodes\' credentials, db and TLS). Empty: redis.url is the one Redis (docs/operations.md, "Redis Sentinel")',
      format: 'sentinel-list', default: [] as string[], env: 'MB_REDIS_SENTINELS',
    },
    sentinelName: { doc: 'The primary\'s name the sentinels monitor (sentinel monitor <name> ...)', format: String, default: 'mymaster', env: 'MB_REDIS_SENTINEL_NAME' },
    sentinelPassword: { doc: 'Password of the sentinels (their requirepass); empty: none', format: String, default: '', env: 'MB_REDIS_SENTINEL_PASSWORD', sensitive: true },
    waitReplicas: {
      doc: 'After each session write from the API or the CLI (create, allocate, extend, update, close, erase), wait until this many replicas have it (WAIT), up to redis.waitTimeoutMs; the API says whether they did (header MaskBridge-Replicated). CDRs and webhook events leave their spools only once replicated. 0 = do not wait. With Sentinel: 1',
      format: 'count', default: 0, env: 'MB_REDIS_WAIT_REPLICAS',
    },
    waitTimeoutMs: { doc: 'Longest WAIT for redis.waitReplicas; the write stands either way (it is on the primary)', format: 'positive-count', default: 100, env: 'MB_REDIS_WAIT_TIMEOUT_MS' },
  },
  trunk: {
    inboundAllow: {
      doc: 'Source addresses/CIDRs allowed to send INVITEs (the carrier trunk); others get 403',
      format: 'cidr-list', default: ['127.0.0.1/32'], env: 'MB_TRUNK_INBOUND_ALLOW',
    },
    outbound: {
      gateway: { doc: 'Outbound SIP gateway host:port that reaches the parties (the only one, unless gateways names several)', format: 'host-port', default: '127.0.0.1:5070', env: 'MB_TRUNK_OUTBOUND_GATEWAY' },
      gateways: {
        doc: 'Several outbound gateways (carrier SBCs), in order of preference, comma separated; replaces gateway. A call a gateway fails without ringing (timeout, 408, 5xx) is tried on the next; a gateway failing twice in a row is tried last until it answers again',
        format: 'host-port-list', default: [] as string[], env: 'MB_TRUNK_OUTBOUND_GATEWAYS',
      },
      pingSec: { doc: 'How often each outbound gateway gets an OPTIONS ping (its health); 0 = no pings', format: 'count', default: 10, env: 'MB_TRUNK_OUTBOUND_PING_SEC' },
      transport: { doc: 'Transport towards the gateway', format: ['udp', 'tcp', 'tls'], default: 'udp', env: 'MB_TRUNK_OUTBOUND_TRANSPORT' },
      username: { doc: 'Digest username for the gateway (empty: no auth)', format: String, default: '', env: 'MB_TRUNK_OUTBOUND_USERNAME' },
      password: { doc: 'Digest password for the gateway', format: String, default: '', env: 'MB_TRUNK_OUTBOUND_PASSWORD', sensitive: true },
      fromHost: { doc: 'Host part of the From/PAI URI sent to the gateway ("localhost" lets drachtio fill its own address)', format: String, default: 'localhost', env: 'MB_TRUNK_OUTBOUND_FROM_HOST' },
      numberFormat: { doc: 'How numbers are written in outbound URIs', format: ['e164', 'e164-no-plus'], default: 'e164', env: 'MB_TRUNK_OUTBOUND_NUMBER_FORMAT' },
    },
  },
  defences: {
    scannerUserAgents: {
      doc: 'INVITEs whose User-Agent contains one of these (case-insensitive) are refused before any lookup (no CDR, no Redis command); empty: no check',
      format: 'string-list', default: ['friendly-scanner', 'sipcli', 'sipvicious', 'sip-scan', 'sipsak', 'vaxsipuseragent', 'iWar', 'sundayddr', 'pplsip', 'cseq', 'smap'],
      env: 'MB_DEFENCES_SCANNER_USER_AGENTS',
    },
    scannerStatus: { doc: 'SIP status for a scanner INVITE', format: 'sip-failure-status', default: 403, env: 'MB_DEFENCES_SCANNER_STATUS' },
    rateLimit: {
      limit: {
        doc: 'INVITEs one source address may send per rateLimit.windowSec before it is banned (Kamailio pike: 30 per 2 s); trunkSources have their own limit or none; 0 = no limit',
        format: 'count', default: 30, env: 'MB_DEFENCES_RATE_LIMIT',
      },
      windowSec: { doc: 'The rate limit\'s window', format: 'positive-count', default: 2, env: 'MB_DEFENCES_RATE_WINDOW_SEC' },
      banSec: { doc: 'How long a source over the limit is refused; a source that keeps flooding stays banned', format: 'positive-count', default: 60, env: 'MB_DEFENCES_BAN_SEC' },
      status: { doc: 'SIP status for an INVITE over the limit or from a banned source', format: 'sip-failure-status', default: 403, env: 'MB_DEFENCES_RATE_STATUS' },
      maxSources: { doc: 'Most source addresses tracked at once (the least recently seen are forgotten first)', format: 'positive-count', default: 100000, env: 'MB_DEFENCES_MAX_SOURCES' },
    },
    trunkSources: {
      doc: 'Named trunk sources (carrier SBCs): "cidr" is never rate limited, "cidr=N" gets its own limit of N INVITEs per window. Comma separated',
      format: 'trunk-sources', default: ['127.0.0.1/32'], env: 'MB_DEFENCES_TRUNK_SOURCES',
    },
    maxCallsPerSession: {
      doc: 'Most concurrent calls of one session, across every instance (checked in Redis after the lookup, before the other party is called); over it the caller gets concurrencyStatus; 0 = no limit',
      format: 'count', default: 2, env: 'MB_DEFENCES_MAX_CALLS_PER_SESSION',
    },
    maxCallsPerNumber: {
      doc: 'Most concurrent calls on one virtual number, across every instance and session; 0 = no limit',
      format: 'count', default: 500, env: 'MB_DEFENCES_MAX_CALLS_PER_NUMBER',
    },
    concurrencyStatus: { doc: 'SIP status for a call over maxCallsPerSession or maxCallsPerNumber', format: 'sip-failure-status', default: 486, env: 'MB_DEFENCES_CONCURRENCY_STATUS' },
  },
  numbers: {
    defaultRegion: { doc: 'Region used to read national-format numbers', format: 'region', default: 'US', env: 'MB_NUMBERS_DEFAULT_REGION' },
    virtualNumberFrom: { doc: 'Where the virtual number is read from', format: ['request-uri', 'to'], default: 'request-uri', env: 'MB_NUMBERS_VIRTUAL_FROM' },
  },
  calls: {
    unknownCaller: treatment(404, 'No Active Session', 'MB_CALLS_UNKNOWN', 'a caller with no session on the virtual number'),
    closedSession: treatment(410, 'Session Ended', 'MB_CALLS_CLOSED', 'a caller whose session has expired or was closed'),
    outsideWindow: treatment(480, 'Outside Calling Hours', 'MB_CALLS_OUTSIDE_WINDOW', 'a call outside its session\'s time-of-day windows'),
    ringTimeoutSec: { doc: 'How long the other party may ring before the caller gets 480', format: 'count', default: 45, env: 'MB_CALLS_RING_TIMEOUT_SEC' },
    maxDurationSec: { doc: 'Longest connected call; then BYE is sent to both legs (0 = unlimited)', format: 'count', default: 3600, env: 'MB_CALLS_MAX_DURATION_SEC' },
    drainTimeoutSec: { doc: 'On SIGTERM, how long live calls may run before they are ended', format: 'count', default: 30, env: 'MB_CALLS_DRAIN_TIMEOUT_SEC' },
    instanceId: {
      doc: 'This instance\'s name in the live-call registry in Redis (mb:calls, mb:instance:{id}) and its spool directory ({instance} in cdr.spoolFile); empty: hostname-pid (in a container: container id-1, kept across restarts of the container). Unique per instance; letters, digits, ".", "_", "-" when it names a spool directory',
      format: String, default: '', env: 'MB_CALLS_INSTANCE_ID',
    },
    heartbeatMs: {
      doc: 'How often this instance says it is alive in Redis (mb:instance:{id}, which lapses after 3 beats) and looks for instances that stopped: the connected calls of one that stopped are hung up (BYE to both parties, CDR ended_by instance-lost) within about 4 beats (docs/operations.md, "Several instances and app-instance failure")',
      format: 'heartbeat-ms', default: 2000, env: 'MB_CALLS_HEARTBEAT_MS',
    },
    closeSweepSec: {
      doc: 'How often the sessions of live calls are checked in Redis; a closed or deleted one is hung up (mb_close also tells every instance at once by pub/sub)',
      format: 'positive-count', default: 5, env: 'MB_CALLS_CLOSE_SWEEP_SEC',
    },
    callIdKey: {
      doc: 'Key of the HMAC that turns a Call-ID into the id CDRs, recording file names and logs carry (carriers put numbers in Call-IDs). Set it (any long random string) so ids match across restarts and instances; empty: a random key per process, with a warning at start',
      format: String, default: '', env: 'MB_CALLS_CALL_ID_KEY', sensitive: true,
    },
  },
  cdr: {
    spoolFile: {
      doc: 'Base path of the CDR spool (segments spoolFile.N and spoolFile.checkpoint next to it): CDRs wait there until Redis confirms them. One instance per spool: never share it. {instance} as a directory name (/var/lib/maskbridge/spool/{instance}/cdr-spool.jsonl) gives each instance its own directory under a shared root, and spools of instances gone for good are replayed by another (spool.orphanGraceSec)',
      format: String, default: 'var/cdr-spool.jsonl', env: 'MB_CDR_SPOOL_FILE',
    },
    retentionDays: {
      doc: 'Keep CDRs in the mb:cdr stream this many days (trimmed hourly by id time, XTRIM MINID); 0 = by length only (redis.cdrStreamMaxLen)',
      format: 'count', default: 0, env: 'MB_CDR_RETENTION_DAYS',
    },
    dedupeRetentionSec: {
      doc: 'How long Redis keeps the de-duplication mark of each CDR written (mb:cdr:seen:{id}, ~130 bytes each); a CDR resent within it lands once',
      format: 'dedupe-retention-sec', default: 86400, env: 'MB_CDR_DEDUPE_RETENTION_SEC',
    },
  },
  webhooks: {
    enabled: {
      doc: 'Publish call and session events to the outbox (mb:events) and deliver them to webhook URLs (docs/webhooks.md); false: nothing is published or delivered',
      format: 'bool', default: false, env: 'MB_WEBHOOKS_ENABLED',
    },
    defaultUrl: {
      doc: 'Where events of sessions without a webhook URL of their own are POSTed (http or https); empty: such events are dropped',
      format: 'webhook-url', default: '', env: 'MB_WEBHOOKS_DEFAULT_URL',
    },
    defaultUrlTrusted: {
      doc: 'Include the participants\' numbers ("parties") in events sent to webhooks.defaultUrl; they always go to a session\'s own URL, never to an untrusted default',
      format: 'bool', default: false, env: 'MB_WEBHOOKS_DEFAULT_URL_TRUSTED',
    },
    secret: {
      doc: 'Key of the HMAC-SHA256 signature on every delivery (MaskBridge-Signature header); required when webhooks are enabled',
      format: String, default: '', env: 'MB_WEBHOOKS_SECRET', sensitive: true,
    },
    spoolFile: {
      doc: 'Base path of the event spool (like cdr.spoolFile, {instance} included): published events wait there until Redis has them. One instance per spool: never share it',
      format: String, default: 'var/events-spool.jsonl', env: 'MB_WEBHOOKS_SPOOL_FILE',
    },
    timeoutMs: { doc: 'Longest wait for a receiver to answer one delivery; past it the attempt counts as failed (timeout)', format: 'positive-count', default: 5000, env: 'MB_WEBHOOKS_TIMEOUT_MS' },
    retryBaseMs: { doc: 'Backoff after the first failed attempt; it doubles per attempt up to webhooks.retryMaxMs, with full jitter (a random delay from 0 to it)', format: 'positive-count', default: 1000, env: 'MB_WEBHOOKS_RETRY_BASE_MS' },
    retryMaxMs: { doc: 'Longest backoff between two attempts', format: 'positive-count', default: 3600000, env: 'MB_WEBHOOKS_RETRY_MAX_MS' },
    maxAttempts: { doc: 'Attempts (the first included) before an event becomes a dead letter (maskbridge events dead / replay)', format: 'positive-count', default: 20, env: 'MB_WEBHOOKS_MAX_ATTEMPTS' },
    concurrency: { doc: 'Deliveries in flight at most, per instance', format: 'positive-count', default: 16, env: 'MB_WEBHOOKS_CONCURRENCY' },
    expirySweepSec: {
      doc: 'How often each instance asks Redis for sessions past their expiry (mb_expire_due); each is announced (session.expired) once, at most this long after it expired',
      format: 'positive-count', default: 5, env: 'MB_WEBHOOKS_EXPIRY_SWEEP_SEC',
    },
    claimMinIdleMs: {
      doc: 'An event being delivered by an instance that stopped answering for this long is taken over by another (and resent, same id); at least 3 x webhooks.timeoutMs',
      format: 'positive-count', default: 60000, env: 'MB_WEBHOOKS_CLAIM_MIN_IDLE_MS',
    },
    dedupeRetentionSec: {
      doc: 'How long Redis keeps the de-duplication mark of each event published (mb:events:seen:{id}); an event replayed from the spool within it lands once',
      format: 'dedupe-retention-sec', default: 86400, env: 'MB_WEBHOOKS_DEDUPE_RETENTION_SEC',
    },
  },
  spool: {
    orphanGraceSec: {
      doc: 'With {instance} in a spool path: the spool directory of an instance that has had no heartbeat in Redis (mb:instance:{id}) and no write to its spool for this long is claimed by another instance (mb:spool:claim:{id}), replayed into Redis (each record once) and removed. Longer than a restart takes, so an instance that comes back keeps its own',
      format: 'positive-count', default: 300, env: 'MB_SPOOL_ORPHAN_GRACE_SEC',
    },
    orphanScanSec: {
      doc: 'How often each instance looks for such spool directories of other instances; 0 = never (this instance replays no one else\'s spool)',
      format: 'count', default: 30, env: 'MB_SPOOL_ORPHAN_SCAN_SEC',
    },
  },
  log: {
    level: { doc: 'pino log level', format: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', env: 'MB_LOG_LEVEL' },
    redactNumbers: { doc: 'Mask phone numbers in logs (+91******1234)', format: 'bool', default: true, env: 'MB_LOG_REDACT_NUMBERS' },
    bufferBytes: {
      doc: 'Log lines are written in batches of at least this many bytes, and at least once a second (0: each line at once). Buffered lines are written at exit, but not after a kill -9',
      format: 'log-buffer-bytes',
      default: 4096,
      env: 'MB_LOG_BUFFER_BYTES',
    },
  },
  api: {
    enabled: { doc: 'Serve the HTTP API (sessions, health, metrics)', format: 'bool', default: true, env: 'MB_API_ENABLED' },
    host: { doc: 'HTTP API bind address', format: String, default: '127.0.0.1', env: 'MB_API_HOST' },
    port: { doc: 'HTTP API port', format: 'tcp-port', default: 8080, env: 'MB_API_PORT' },
    token: { doc: 'Bearer token required on /v1 routes (empty: no auth, loopback use only)', format: String, default: '', env: 'MB_API_TOKEN', sensitive: true },
  },
  hooks: {
    secret: {
      doc: 'Key of the HMAC-SHA256 signature on every hook request (header maskbridge-signature; docs/hooks.md). Required when a hook URL is set',
      format: String, default: '', env: 'MB_HOOKS_SECRET', sensitive: true,
    },
    intercept: hook('intercept', 'MB_HOOKS_INTERCEPT', 'closed', 'asked before the other party is called: allow or deny'),
    outOfSession: hook('out-of-session', 'MB_HOOKS_OUT_OF_SESSION', 'open', 'asked when the caller has no session on the virtual number: a session to create, a number to route to, or none'),
  },
  media: {
    mode: {
      doc: '"auto": "anchor" when media.servers names a media server, else "none" (with a warning at start); "anchor": media through FreeSWITCH (recording, announcements, and no RTP/RTCP between the parties); "none": signalling only: the parties exchange media directly and see each other\'s media address and whatever their phones put in RTP/RTCP (docs/media.md)',
      format: ['auto', 'none', 'anchor'], default: 'auto', env: 'MB_MEDIA_MODE',
    },
    commandTimeoutMs: {
      doc: 'Longest wait for the media server to answer one command (create, modify, bridge, record, release); past it the server is out of rotation until it answers, a call being set up is tried on another healthy media server (503 when none can), and a call being torn down goes on without it',
      format: 'count', default: 5000, env: 'MB_MEDIA_COMMAND_TIMEOUT_MS',
    },
    keepAliveMs: {
      doc: 'How often each media server is sent a keep-alive (api status) on its control connection; a server whose connection stays open but that stops answering (hung, partitioned) is found by these (docs/operations.md, "Media server failure")',
      format: 'positive-count', default: KEEP_ALIVE_DEFAULTS.keepAliveMs, env: 'MB_MEDIA_KEEP_ALIVE_MS',
    },
    keepAliveTimeoutMs: {
      doc: 'Deadline of each keep-alive (media.commandTimeoutMs when that is shorter); a server that misses it is out of rotation until it answers again',
      format: 'positive-count', default: KEEP_ALIVE_DEFAULTS.keepAliveTimeoutMs, env: 'MB_MEDIA_KEEP_ALIVE_TIMEOUT_MS',
    },
    deadAfterMs: {
      doc: 'A media server that has answered nothing (keep-alive or command) for this long is dead: its calls are ended (they have no media) and it is reconnected. More than media.keepAliveMs + media.keepAliveTimeoutMs',
      format: 'positive-count', default: KEEP_ALIVE_DEFAULTS.deadAfterMs, env: 'MB_MEDIA_DEAD_AFTER_MS',
    },
    servers: {
      doc: 'FreeSWITCH event sockets as host:port:secret, comma separated',
      format: 'media-servers', default: [] as string[], env: 'MB_MEDIA_SERVERS', sensitive: true,
    },
    onNoMediaServer: {
      doc: 'When no media server is healthy: "reject" with 503, or "signalling-only" without recording (sessions that require recording are still rejected)',
      format: ['reject', 'signalling-only'], default: 'reject', env: 'MB_MEDIA_ON_NO_SERVER',
    },
    eslListenAddress: {
      doc: 'Address maskbridge listens on for FreeSWITCH outbound event-socket connections (must be reachable from FreeSWITCH)',
      format: String, default: '127.0.0.1', env: 'MB_MEDIA_ESL_LISTEN_ADDRESS',
    },
    eslListenPort: {
      doc: 'Port for those connections (0 = any free port; set one in containers)',
      format: 'tcp-port', default: 0, env: 'MB_MEDIA_ESL_LISTEN_PORT',
    },
    eslAdvertiseAddress: {
      doc: 'Address FreeSWITCH is told to connect back to, when it differs from the listen address (e.g. a container name); empty = the listen address; auto = the listen address, or with a wildcard listen address (0.0.0.0) this host\'s first IPv4 address outside loopback (replicas sharing one configuration, docker compose --scale)',
      format: String, default: '', env: 'MB_MEDIA_ESL_ADVERTISE_ADDRESS',
    },
    ringback: {
      doc: 'What the caller hears while the other party rings (FreeSWITCH file or tone_stream)',
      format: String, default: 'tone_stream://%(2000,4000,440,480);loops=-1', env: 'MB_MEDIA_RINGBACK',
    },
    pin: {
      enabled: { doc: 'Ask a caller who is not a participant for a PIN (DTMF) to find the session', format: 'bool', default: false, env: 'MB_PIN_ENABLED' },
      prompt: { doc: 'Audio file asking for the PIN', format: String, default: '', env: 'MB_PIN_PROMPT' },
      maxDigits: { doc: 'PIN length', format: 'count', default: 6, env: 'MB_PIN_MAX_DIGITS' },
      timeoutSec: { doc: 'Seconds to wait for the digits of one try', format: 'count', default: 10, env: 'MB_PIN_TIMEOUT_SEC' },
      tries: { doc: 'Tries before the unknown-caller treatment', format: 'count', default: 3, env: 'MB_PIN_TRIES' },
    },
    recording: {
      enabledByDefault: { doc: 'Record calls of sessions that do not say', format: 'bool', default: true, env: 'MB_RECORDING_DEFAULT' },
      dir: { doc: 'Recording directory as seen by FreeSWITCH (shared volume)', format: String, default: '/var/lib/maskbridge/recordings', env: 'MB_RECORDING_DIR' },
      retentionDays: {
        doc: 'Delete recordings older than this many days (whole day folders, hourly, where this process sees media.recording.dir); 0 = keep',
        format: 'count', default: 0, env: 'MB_RECORDING_RETENTION_DAYS',
      },
      consentAnnouncement: { doc: 'Audio file both parties hear before they are bridged (empty: none)', format: String, default: '', env: 'MB_RECORDING_CONSENT' },
      writerThread: {
        doc: 'FreeSWITCH writes each recording from a thread of its own (true) rather than from the call\'s media thread (false: less CPU). Set it when the recordings volume can stall, e.g. a network mount',
        format: 'bool', default: false, env: 'MB_RECORDING_WRITER_THREAD',
      },
    },
  },
} as const;
