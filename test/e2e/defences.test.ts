/**
 * End to end, trunk defences: a flood of 500 INVITE/s from 127.0.0.3 (inside the allowed range,
 * not a named trunk) while the trunk (127.0.0.1) makes 5 calls/s. The trunk's calls succeed, and
 * once the flooding source is banned it costs no Redis command (INFO commandstats over a
 * flood-only window). Scanner INVITEs are refused
 * before any lookup.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'redis';
import { A, Bed, V } from './support/bed.js';
import { send, uacScenario, uasScenario, xml } from './support/scenarios.js';
import { freeSippPort, resolveDrachtio } from './support/servers.js';
import { sippAvailable, startSipp } from './support/sipp.js';

const drachtio = resolveDrachtio();
const skipReason = sippAvailable() ?? (drachtio.ok ? null : drachtio.reason);
if (skipReason) console.warn(`[e2e] defences suite skipped: ${skipReason}`);

const STRANGER = '+919800000001';

/** An INVITE that expects a final failure (404 before the ban, 403 after) and ACKs it. */
function floodScenario(userAgent: string): string {
  const from = 'From: <sip:[field0]@[local_ip]:[local_port]>;tag=[pid]F[call_number]';
  const to = 'To: <sip:[service]@[remote_ip]:[remote_port]>';
  const ackFor = `
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-2]
${from}
${to}[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0`;
  return xml('flood', [
    send(`
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
${from}
${to}
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:[field0]@[local_ip]:[local_port]>
User-Agent: ${userAgent}
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000`, ' retrans="500"'),
    '  <recv response="100" optional="true"/>',
    '  <recv response="404" optional="true" next="ack"/>',
    '  <recv response="403" next="ack"/>',
    '  <label id="ack"/>',
    send(ackFor),
  ].join('\n').replace(/\[field0\]/g, STRANGER));
}

/**
 * Every command Redis runs until stop() (MONITOR on its own connection): which scripts a call
 * ran, and with what keys, rather than a count of EVALSHA that moves whenever a call gains a script.
 */
async function watchCommands(url: string): Promise<{ stop(): Promise<string[]> }> {
  const c = createClient({ url });
  await c.connect();
  const seen: string[] = [];
  await c.monitor((line) => { seen.push(String(line)); });
  return { async stop() { c.destroy(); return seen; } };
}

async function commandCalls(url: string): Promise<Record<string, number>> {
  const c = createClient({ url });
  await c.connect();
  try {
    const info = await c.sendCommand(['INFO', 'commandstats']) as string;
    const out: Record<string, number> = {};
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1] as string] = Number(m[2]);
    return out;
  } finally {
    await c.quit();
  }
}

describe.skipIf(skipReason !== null)(`trunk defences end to end${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const bed = new Bed();

  beforeAll(() => bed.start(drachtio, null, (b) => ({
    trunk: { inboundAllow: ['127.0.0.0/8'], outbound: { gateway: `127.0.0.1:${b.gatewayPort}`, pingSec: 0 } },
    defences: { trunkSources: ['127.0.0.1/32'], maxCallsPerSession: 0 },
    log: { level: 'info' },
  })));
  afterAll(() => bed.stop());

  it('scanner INVITEs are refused before any lookup, and leave no CDR', async () => {
    await bed.flush();
    const before = await commandCalls(bed.redis.url);
    const scanner = await startSipp({
      name: 'scanner', scenarioXml: floodScenario('friendly-scanner'), dir: bed.dir, localIp: '127.0.0.4', localPort: await freeSippPort('127.0.0.4'),
      remote: `${bed.drachtio.sip.host}:${bed.drachtio.sip.port}`, service: V, calls: 5, timeoutSec: 15,
    }).done;
    expect(scanner.code, scanner.stderr).toBe(0);
    expect(scanner.messages.match(/^SIP\/2\.0 403/gm)).toHaveLength(5);
    const after = await commandCalls(bed.redis.url);
    expect(after.evalsha ?? 0).toBe(before.evalsha ?? 0); // no lookup
    expect(await bed.cdrs()).toHaveLength(0);
  });

  it('a flood of 500 INVITE/s from 127.0.0.3 is banned within its first 30 INVITEs; the trunk\'s 5 calls/s all succeed', { timeout: 90_000 }, async () => {
    await bed.flush();
    await bed.openSession();
    const TRUNK_CALLS = 50;
    const callee = startSipp({
      name: 'flood-callee', scenarioXml: uasScenario({ outcome: 'answer', hangup: 'caller' }), dir: bed.dir, localIp: '127.0.0.1',
      localPort: bed.gatewayPort, timeoutSec: 60, calls: TRUNK_CALLS,
    });
    const flood = startSipp({
      name: 'flood', scenarioXml: floodScenario('Linphone/5.2'), dir: bed.dir, localIp: '127.0.0.3', localPort: await freeSippPort('127.0.0.3'),
      remote: `${bed.drachtio.sip.host}:${bed.drachtio.sip.port}`, service: V, calls: 8000, rate: 500, limit: 2000, timeoutSec: 60, quiet: true,
    });
    // A flood-only window once the source is banned: the calls' commands must not move.
    await new Promise((r) => setTimeout(r, 1000));
    const banned = await commandCalls(bed.redis.url);
    await new Promise((r) => setTimeout(r, 3000));
    const during = await commandCalls(bed.redis.url);
    const CALL_PATH = ['evalsha', 'eval', 'fcall', 'fcall_ro', 'hmget', 'hgetall', 'get', 'xadd'];
    expect(Object.fromEntries(CALL_PATH.map((c) => [c, (during[c] ?? 0) - (banned[c] ?? 0)]))).toEqual(Object.fromEntries(CALL_PATH.map((c) => [c, 0])));
    const watch = await watchCommands(bed.redis.url);
    const trunk = await startSipp({
      name: 'flood-trunk', scenarioXml: uacScenario({ outcome: 'answer', hangup: 'caller', talkMs: 200 }), dir: bed.dir, localIp: '127.0.0.1',
      localPort: await freeSippPort('127.0.0.1'), remote: `${bed.drachtio.sip.host}:${bed.drachtio.sip.port}`, service: V, keys: { caller: A },
      calls: TRUNK_CALLS, rate: 5, timeoutSec: 60, quiet: true,
    }).done;
    const floodResult = await flood.done;
    const calleeResult = await callee.done;
    expect(trunk.code, trunk.stderr).toBe(0); // sipp exits 0 only when every call succeeded
    expect(calleeResult.code, calleeResult.stderr).toBe(0);
    expect(floodResult.code, floodResult.stderr.slice(0, 2000)).toBe(0); // every flood INVITE got its 404 or 403

    const cdrs = await bed.cdrs();
    const answered = cdrs.filter((c) => c.disposition === 'answered');
    expect(answered.length / TRUNK_CALLS).toBeGreaterThanOrEqual(0.999);
    // The flood's only calls are its first 30 INVITEs (before the ban: a lookup each, answered
    // 404, or 503 if Redis was slow to answer under the burst); after the ban, the only lookups
    // are the trunk's, one per call.
    const floodCdrs = cdrs.filter((c) => c.session_id === '');
    expect(floodCdrs.length).toBeGreaterThan(0);
    expect(floodCdrs.length).toBeLessThanOrEqual(30);
    // While the trunk called, the flood still cost nothing: no command Redis ran names the
    // flooding caller, and the only lookups (the script that reads {prefix}party:{caller}) are the
    // trunk's, one per call.
    const commands = await watch.stop();
    expect(commands.filter((l) => l.includes(STRANGER))).toEqual([]);
    const lookups = commands.filter((l) => /"EVALSHA" "[0-9a-f]{40}" "3" "mb:party:/i.test(l));
    expect(lookups.length).toBe(TRUNK_CALLS);
    expect(lookups.every((l) => l.includes(`"mb:party:${A}"`))).toBe(true);
  });
});
