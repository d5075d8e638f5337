/**
 * /metrics as Prometheus reads it: every metric family maskbridge defines is served with HELP and
 * TYPE, a call through the call path moves the call, setup and media-quality metrics, the
 * connectivity gauges follow the app's health, and a pool read that hangs cannot hold a scrape.
 */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { buildApi, type ApiDeps } from '../../src/api/server.js';
import { Metrics, type PoolCounts } from '../../src/metrics/metrics.js';
import { GatewayPool } from '../../src/sip/gateways.js';
import { A, inviteFrom } from '../helpers/harness.js';
import { connectAnchored, mediaHarness, soon } from '../helpers/media-harness.js';
import { parseExposition } from '../helpers/exposition.js';

/** Every family others code against (docs/observability.md lists them). */
export const METRIC_FAMILIES: Record<string, 'counter' | 'gauge' | 'histogram'> = {
  maskbridge_build_info: 'gauge',
  maskbridge_calls_total: 'counter',
  maskbridge_active_calls: 'gauge',
  maskbridge_call_setup_seconds: 'histogram',
  maskbridge_session_lookup_seconds: 'histogram',
  maskbridge_store_errors_total: 'counter',
  maskbridge_redis_command_seconds: 'histogram',
  maskbridge_redis_errors_total: 'counter',
  maskbridge_redis_up: 'gauge',
  maskbridge_drachtio_connected: 'gauge',
  maskbridge_media_server_up: 'gauge',
  maskbridge_gateway_up: 'gauge',
  maskbridge_pool_numbers: 'gauge',
  maskbridge_pool_utilisation_ratio: 'gauge',
  maskbridge_webhook_deliveries_total: 'counter',
  maskbridge_webhook_failures_total: 'counter',
  maskbridge_webhook_retries_total: 'counter',
  maskbridge_webhook_dead_total: 'counter',
  maskbridge_webhook_outbox_depth: 'gauge',
  maskbridge_webhook_delivery_seconds: 'histogram',
  maskbridge_hook_seconds: 'histogram',
  maskbridge_hook_outcomes_total: 'counter',
  maskbridge_cdr_backlog: 'gauge',
  maskbridge_cdr_poison_total: 'counter',
  maskbridge_recording_failures_total: 'counter',
  maskbridge_orphan_spool_replays_total: 'counter',
  maskbridge_orphan_spool_records_total: 'counter',
  maskbridge_call_packet_loss_ratio: 'histogram',
  maskbridge_call_jitter_seconds: 'histogram',
  maskbridge_call_mos: 'histogram',
  maskbridge_sip_rejected_sources_total: 'counter',
  maskbridge_sip_banned_sources: 'gauge',
  maskbridge_concurrency_rejections_total: 'counter',
};

const unused = <T>(): T => new Proxy({}, { get: () => () => Promise.reject(new Error('unused in this test')) }) as T;

/** The real API over `metrics`, everything else unused. */
async function scrape(metrics: Metrics) {
  const deps: ApiDeps = {
    store: unused(), pools: unused(), calls: unused(), cdrs: unused(), lifecycle: unused(), recordingsDir: '/nonexistent',
    metrics, token: 'secret', defaultRegion: 'IN', log: pino({ level: 'silent' }),
    health: () => ({ redis: true, drachtio: true, liveCalls: 0, draining: false, cdrBacklog: 0, media: [] }),
  };
  const api = buildApi(deps);
  try {
    const res = await api.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    return parseExposition(res.body);
  } finally {
    await api.close();
  }
}

describe('GET /metrics', () => {
  it('serves every maskbridge metric family with HELP and TYPE, and build_info 1 with the version', async () => {
    const m = await scrape(new Metrics());
    for (const [name, type] of Object.entries(METRIC_FAMILIES)) {
      expect(m.type.get(name), name).toBe(type);
      expect(m.help.get(name), name).toBeTruthy();
    }
    const own = [...m.type.keys()].filter((n) => n.startsWith('maskbridge_'));
    expect(own.sort()).toEqual(Object.keys(METRIC_FAMILIES).sort());
    expect(m.value('maskbridge_build_info', { version: '0.2.0', node_version: process.version })).toBe(1);
    // The setup stages are exported at 0 from the start, so rate() and alerts see them.
    expect(m.value('maskbridge_call_setup_seconds_count', { stage: 'answered' })).toBe(0);
  });

  it('counts a bridged, anchored call: disposition, both setup stages, and the media quality of each leg (also in the CDR)', async () => {
    const h = mediaHarness();
    h.sessions.add({ id: 'q1', record: false });
    h.fs.rtpStats = { ep1: { lossRatio: 0.01, jitterMs: 12.5, mos: 4.3 }, ep2: { lossRatio: 0.2, jitterMs: 80, mos: 2.4 } };
    const { call } = await connectAnchored(h, A);
    call.leg!.remoteHangup();
    await soon(() => h.cdr.records.length === 1);
    expect(h.cdr.records[0]!.quality).toEqual({ a: { lossRatio: 0.01, jitterMs: 12.5, mos: 4.3 }, b: { lossRatio: 0.2, jitterMs: 80, mos: 2.4 } });
    expect(h.fs.ops.filter((o) => o.startsWith('rtp-stats'))).toEqual(['rtp-stats ep1', 'rtp-stats ep2']);

    const m = await scrape(h.metrics);
    expect(m.value('maskbridge_calls_total', { disposition: 'answered' })).toBe(1);
    expect(m.value('maskbridge_active_calls')).toBe(0);
    expect(m.value('maskbridge_call_setup_seconds_count', { stage: 'b_leg_sent' })).toBe(1);
    expect(m.value('maskbridge_call_setup_seconds_count', { stage: 'answered' })).toBe(1);
    expect(m.value('maskbridge_call_mos_count', { leg: 'a' })).toBe(1);
    expect(m.value('maskbridge_call_mos_bucket', { leg: 'b', le: '2.5' })).toBe(1);
    expect(m.value('maskbridge_call_mos_bucket', { leg: 'a', le: '4.2' })).toBe(0);
    expect(m.value('maskbridge_call_packet_loss_ratio_sum', { leg: 'b' })).toBeCloseTo(0.2);
    expect(m.value('maskbridge_call_jitter_seconds_sum', { leg: 'a' })).toBeCloseTo(0.0125);
    expect(m.value('maskbridge_recording_failures_total')).toBe(0);
  });

  it('gives a call that was never bridged no quality, and counts a failed recording', async () => {
    const h = mediaHarness();
    h.fs.failRecording = true;
    h.sessions.add({ id: 'q2', record: true });
    const { call } = await connectAnchored(h, A);
    call.leg!.remoteHangup();
    await soon(() => h.cdr.records.length === 1);
    expect(h.cdr.records[0]!.recording?.failed).toBe(true);
    expect(h.cdr.records[0]!.quality).toBeNull(); // the fake has no statistics for these channels
    const unanswered = mediaHarness();
    unanswered.sessions.add({ id: 'q3', record: false });
    const c2 = unanswered.sip.invite(inviteFrom(A));
    await soon(() => unanswered.sip.dials.length === 1);
    unanswered.sip.dials[0]!.fail(486);
    await soon(() => unanswered.cdr.records.length === 1);
    expect(c2.responses.at(-1)?.status).toBe(486);
    expect(unanswered.cdr.records[0]!.quality).toBeNull();
    expect(unanswered.fs.ops.some((o) => o.startsWith('rtp-stats'))).toBe(false);

    const m = await scrape(h.metrics);
    expect(m.value('maskbridge_recording_failures_total')).toBe(1);
    expect(m.value('maskbridge_call_mos_count', { leg: 'a' })).toBeUndefined();
  });

  it('reads the connectivity gauges from the app health at each scrape', async () => {
    const metrics = new Metrics();
    let h = { redis: true, drachtio: false, media: [{ server: '10.0.0.3:8021', healthy: true }, { server: '10.0.0.4:8021', healthy: false }] };
    metrics.bindHealth(() => h);
    let m = await scrape(metrics);
    expect(m.value('maskbridge_redis_up')).toBe(1);
    expect(m.value('maskbridge_drachtio_connected')).toBe(0);
    expect(m.value('maskbridge_media_server_up', { server: '10.0.0.3:8021' })).toBe(1);
    expect(m.value('maskbridge_media_server_up', { server: '10.0.0.4:8021' })).toBe(0);
    h = { redis: false, drachtio: true, media: [{ server: '10.0.0.3:8021', healthy: false }] };
    m = await scrape(metrics);
    expect(m.value('maskbridge_redis_up')).toBe(0);
    expect(m.value('maskbridge_drachtio_connected')).toBe(1);
    expect(m.value('maskbridge_media_server_up', { server: '10.0.0.3:8021' })).toBe(0);
    expect(m.value('maskbridge_media_server_up', { server: '10.0.0.4:8021' })).toBeUndefined();
  });

  it('has one maskbridge_gateway_up per outbound gateway, following its OPTIONS pings: 0 after two unanswered in a row, 1 at the next answer', async () => {
    const metrics = new Metrics();
    const answering = new Map([['sbc1.example:5060', true], ['sbc2.example:5060', true]]);
    const gateways = new GatewayPool([...answering.keys()], { pingMs: 0, pingTimeoutMs: 100 }, async (gw) => (answering.get(gw) ? 200 : null), pino({ level: 'silent' }));
    metrics.bindGateways(() => gateways.health());
    let m = await scrape(metrics);
    expect(m.value('maskbridge_gateway_up', { gateway: 'sbc1.example:5060' })).toBe(1);
    expect(m.value('maskbridge_gateway_up', { gateway: 'sbc2.example:5060' })).toBe(1);
    answering.set('sbc2.example:5060', false);
    await gateways.pingAll();
    m = await scrape(metrics);
    expect(m.value('maskbridge_gateway_up', { gateway: 'sbc2.example:5060' })).toBe(1); // one miss is not down
    await gateways.pingAll();
    m = await scrape(metrics);
    expect(m.value('maskbridge_gateway_up', { gateway: 'sbc1.example:5060' })).toBe(1);
    expect(m.value('maskbridge_gateway_up', { gateway: 'sbc2.example:5060' })).toBe(0);
    answering.set('sbc2.example:5060', true);
    await gateways.pingAll();
    m = await scrape(metrics);
    expect(m.value('maskbridge_gateway_up', { gateway: 'sbc2.example:5060' })).toBe(1);
  });

  it('reads the pools at most every maxAgeMs; a read that hangs ends the scrape at the deadline, keeps the last values and counts an error', async () => {
    const metrics = new Metrics();
    const counts: PoolCounts[] = [{ pool: 'sales', counts: { active: 6, reserved: 1, draining: 1, quarantined: 2 } }];
    let reads = 0;
    let hang = false;
    let clock = 0;
    metrics.bindPools(() => {
      reads++;
      return hang ? new Promise<PoolCounts[]>(() => undefined) : Promise.resolve(counts);
    }, { maxAgeMs: 15_000, timeoutMs: 100, now: () => clock });
    let m = await scrape(metrics);
    expect(m.value('maskbridge_pool_numbers', { pool: 'sales', state: 'quarantined' })).toBe(2);
    expect(m.value('maskbridge_pool_utilisation_ratio', { pool: 'sales' })).toBeCloseTo(0.4);
    await scrape(metrics);
    expect(reads).toBe(1); // both pool gauges, two scrapes: one read
    hang = true;
    clock += 15_000;
    const t0 = Date.now();
    m = await scrape(metrics);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(reads).toBe(2);
    expect(m.value('maskbridge_pool_numbers', { pool: 'sales', state: 'active' })).toBe(6);
    m = await scrape(metrics); // (the error is counted as the read ends: the families are collected together)
    expect(reads).toBe(2);
    expect(m.value('maskbridge_pool_numbers', { pool: 'sales', state: 'active' })).toBe(6);
    expect(m.value('maskbridge_redis_errors_total', { command: 'pool_stats' })).toBe(1);
    expect(m.value('maskbridge_redis_command_seconds_count', { command: 'pool_stats' })).toBe(2);
  });
});
