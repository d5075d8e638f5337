/**
 * The PIN prompt: a caller who is no participant of a session on V (a customer calling from
 * another phone) is answered by the media server and asked for a PIN that names a session and
 * the participant the caller speaks for; the call then goes to the other one, anchored.
 */
import type { MediaEndpoint } from '../media/port.js';
import type { CallParties } from '../sip/identify.js';
import { admitCall } from './admission.js';
import { dialAnchored } from './bridge.js';
import { interceptAllows } from './hook-steps.js';
import type { MediaSettings } from './call-media.js';
import type { CallSession } from './call-session.js';

export async function runPinPrompt(call: CallSession, parties: CallParties): Promise<void> {
  const media = call.deps.media as MediaSettings;
  const { unknownCaller, closedSession, recordByDefault } = call.deps.policy.decision;
  const first = media.pool.pick();
  if (!first) return call.rejectWithTreatment(unknownCaller.status, unknownCaller.reason, '', 'unknown-caller');
  // The prompt's channel, on `first` or another healthy server; the call stays on that one.
  const got = await call.channels(first, [call.inviteSdp]);
  if (!got || call.isOver()) return;
  const { server } = got;
  const ep = got.eps[0]!;
  call.enterIvr();
  // The channel may drop, or shutdown come, while the 200 is on its way: the call's teardown then
  // waits for it and hangs the caller up (answerCaller returns null).
  if (!(await call.answerCaller(ep.localSdp))) return;
  call.line('info', 'asking the caller for a PIN');
  const inIvr = () => call.currentState === 'ivr';
  for (let i = 0; i < media.pin.tries && inIvr(); i++) {
    const digits = await ep.collectDigits({ prompt: media.pin.prompt, maxDigits: media.pin.maxDigits, timeoutMs: media.pin.timeoutMs })
      .catch(() => '');
    if (!inIvr()) return;
    if (!digits) continue;
    const result = await call.lookup(() => call.deps.sessions.lookupByPin(parties.virtualNumber, digits));
    if (!result || !inIvr()) return;
    if (result.kind === 'found') {
      const { session, callerRole, peer } = result;
      call.setSession(session.id, callerRole === 'a' ? 'a->b' : 'b->a');
      call.line('info', 'PIN accepted', () => ({ try: i + 1 }));
      call.deps.callEvents?.bind(call.callId, { sessionId: session.id, virtualNumber: parties.virtualNumber, url: session.webhookUrl ?? '', parties: { a: session.a, b: session.b } });
      if (!(await admitCall(call, parties.virtualNumber))) return;
      const caller = callerRole === 'a' ? session.a : session.b;
      const whisper = callerRole === 'a' ? session.whisperB : session.whisperA;
      if (!(await interceptAllows(call, parties, session, peer))) return;
      return dialAnchored(call, server, { ...parties, caller }, peer, { record: session.record ?? recordByDefault, whisper }, ep);
    }
    if (result.kind === 'closed') {
      call.setSession(result.session.id);
      return endIvr(call, closedSession.announcement, 'session-closed', ep);
    }
    call.line('info', 'PIN not recognised', () => ({ try: i + 1 }));
  }
  if (inIvr()) return endIvr(call, unknownCaller.announcement, 'unknown-caller', ep);
}

async function endIvr(call: CallSession, announcement: string, disposition: CallSession['ivrDisposition'], ep: MediaEndpoint): Promise<void> {
  call.ivrDisposition = disposition;
  if (announcement) await ep.play(announcement).catch((err: Error) => call.line('warn', 'announcement failed', () => ({ err: err.message })));
  call.finish(200, disposition, '');
}
