/** The typed configuration every module receives from the composition root. */
export interface Treatment {
  status: number;
  reason: string;
  /** Audio file played before hangup; '' for a bare SIP rejection. */
  announcement: string;
}

/** One real-time hook (src/hooks/). */
export interface HookConfig {
  /** '' = off. */
  url: string;
  timeoutMs: number;
  failPolicy: 'open' | 'closed';
  failStatus: number;
}

export interface AppConfig {
  env: string;
  drachtio: { host: string; port: number; secret: string };
  redis: {
    url: string; keyPrefix: string; commandTimeoutMs: number; cdrStreamMaxLen: number;
    /** host:port each (validated by parseSentinel); empty: plain redis.url. */
    sentinels: string[]; sentinelName: string; sentinelPassword: string;
    waitReplicas: number; waitTimeoutMs: number;
  };
  trunk: {
    inboundAllow: string[];
    outbound: {
      gateway: string;
      /** In order of preference; empty: [gateway]. */
      gateways: string[];
      pingSec: number;
      transport: 'udp' | 'tcp' | 'tls';
      username: string;
      password: string;
      fromHost: string;
      numberFormat: 'e164' | 'e164-no-plus';
    };
  };
  defences: {
    scannerUserAgents: string[];
    scannerStatus: number;
    rateLimit: { limit: number; windowSec: number; banSec: number; status: number; maxSources: number };
    /** "cidr" or "cidr=limit" (src/sip/defences.ts parseTrunkSource). */
    trunkSources: string[];
    maxCallsPerSession: number;
    maxCallsPerNumber: number;
    concurrencyStatus: number;
  };
  numbers: { defaultRegion: string; virtualNumberFrom: 'request-uri' | 'to' };
  calls: {
    unknownCaller: Treatment;
    closedSession: Treatment;
    outsideWindow: Treatment;
    ringTimeoutSec: number;
    maxDurationSec: number;
    drainTimeoutSec: number;
    closeSweepSec: number;
    instanceId: string;
    /** Heartbeat of this instance in the live-call registry, and the period of the lost-instance sweep. */
    heartbeatMs: number;
    callIdKey: string;
  };
  cdr: { spoolFile: string; retentionDays: number; dedupeRetentionSec: number };
  webhooks: {
    enabled: boolean;
    /** '' = none. */
    defaultUrl: string;
    defaultUrlTrusted: boolean;
    secret: string;
    spoolFile: string;
    timeoutMs: number;
    retryBaseMs: number;
    retryMaxMs: number;
    maxAttempts: number;
    concurrency: number;
    claimMinIdleMs: number;
    dedupeRetentionSec: number;
    expirySweepSec: number;
  };
  spool: { orphanGraceSec: number; orphanScanSec: number };
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'; redactNumbers: boolean; bufferBytes: number };
  api: { enabled: boolean; host: string; port: number; token: string };
  hooks: { secret: string; intercept: HookConfig; outOfSession: HookConfig };
  media: {
    /** Resolved by loadConfig: never 'auto' here. */
    mode: 'none' | 'anchor';
    servers: string[];
    commandTimeoutMs: number;
    keepAliveMs: number;
    keepAliveTimeoutMs: number;
    deadAfterMs: number;
    onNoMediaServer: 'reject' | 'signalling-only';
    eslListenAddress: string;
    eslListenPort: number;
    eslAdvertiseAddress: string;
    ringback: string;
    pin: { enabled: boolean; prompt: string; maxDigits: number; timeoutSec: number; tries: number };
    recording: { enabledByDefault: boolean; dir: string; retentionDays: number; consentAnnouncement: string; writerThread: boolean };
  };
}
