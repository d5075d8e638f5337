/** The call path over fakes of the SIP and media ports, anchored on one (or more) fake media servers. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MediaSettings } from '../../src/calls/call-session.js';
import { FakeMediaPool, FakeMediaServer } from './fake-media.js';
import { A, createHarness, inviteFrom } from './harness.js';
import { until } from './until.js';

/** The fakes answer on the next turns of the event loop: poll every turn. */
export const soon = (cond: () => boolean) => until(cond, 2000, 0);

export function mediaHarness(opts: { overrides?: Record<string, unknown>; media?: Partial<MediaSettings>; servers?: FakeMediaServer[] } = {}) {
  const servers = opts.servers ?? [new FakeMediaServer()];
  const dir = mkdtempSync(join(tmpdir(), 'mb-rec-'));
  const media: MediaSettings = {
    pool: new FakeMediaPool(servers),
    onNoMediaServer: 'reject',
    ringback: 'tone_stream://ringback',
    recordingDir: dir,
    consentAnnouncement: '',
    pin: { enabled: false, prompt: 'pin.wav', maxDigits: 6, timeoutMs: 5000, tries: 3 },
    recordingSettleMs: 5,
    recordingWriterThread: false,
    teardownTimeoutMs: 300,
    ...opts.media,
  };
  const h = createHarness({ media: { mode: 'anchor' }, ...opts.overrides }, media);
  return { ...h, fs: servers[0]!, dir };
}

export type MediaHarness = ReturnType<typeof mediaHarness>;

/** A call from `caller` that the callee answers and the media server bridges. */
export async function connectAnchored(h: MediaHarness, caller = A) {
  const call = h.sip.invite(inviteFrom(caller));
  await soon(() => h.sip.dials.length === 1);
  const dial = h.sip.dials[0]!;
  dial.progress(180);
  const legB = dial.answer();
  await soon(() => h.fs.ops.some((o) => o.startsWith('bridge:')));
  return { call, dial, legB };
}
