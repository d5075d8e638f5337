/**
 * FreeSWITCH's own re-INVITEs to one of our channels, answered when it is safe to.
 *
 * At `uuid_bridge` FreeSWITCH re-offers the media of a channel whose audio is not sendrecv
 * (switch_ivr_check_hold). The callee's channel is such a one: it was made without an SDP
 * (enable-3pcc) and drachtio-srf ACKed its offer with a recvonly placeholder. That re-INVITE
 * clears the channel's "SDP done" flag (sofia_glue_do_invite), and if its 200 is handled while
 * uuid_bridge still holds the channel in CS_HIBERNATE, mod_sofia's 3pcc code takes the 200 for
 * the channel's first ACK and starts it again from CS_INIT: it runs its dialplan a second time,
 * connects to us under an id drachtio-fsmrf has used, and is hung up, cutting the call at answer
 * (docs/operations.md, "One fault at a time, measured"). drachtio-srf answers such a re-INVITE at
 * once, with the dialog's own SDP, unless the dialog has a 'modify' listener: this is that
 * listener. It answers the same, but while a bridge of the channel is under way, only once the
 * bridge is up (or after `maxHoldMs`, whatever happens: a re-INVITE is never left unanswered).
 */
import { withDeadline } from '../util/deadline.js';

/** The part of a drachtio-srf Dialog (lib/dialog.js) this uses. */
export interface ReinvitedDialog {
  local: { sdp: string; contact?: string };
  on(event: 'modify', listener: (req: unknown, res: ReinviteResponse) => void): unknown;
}

export interface ReinviteResponse {
  send(status: number, opts: { body: string; headers: Record<string, string> }): void;
}

/** The part of a drachtio-modesl connection (a channel's outbound event socket) this uses. */
export interface ChannelEvents {
  on(event: string, listener: () => void): unknown;
  removeListener(event: string, listener: () => void): unknown;
}

/** After CHANNEL_BRIDGE: FreeSWITCH sends it just before it takes the other channel out of CS_HIBERNATE. */
const BRIDGE_SETTLE_MS = 20;

/**
 * Resolves once FreeSWITCH says the bridge of channel `uuid` is up (CHANNEL_BRIDGE, on its own
 * event socket, subscribed to it) and BRIDGE_SETTLE_MS more, or after `maxMs`.
 */
export function bridgeUp(conn: ChannelEvents, uuid: string, maxMs: number): Promise<void> {
  const name = `esl::event::CHANNEL_BRIDGE::${uuid}`;
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      conn.removeListener(name, done);
      setTimeout(resolve, BRIDGE_SETTLE_MS).unref();
    };
    const timer = setTimeout(done, maxMs);
    timer.unref();
    conn.on(name, done);
  });
}

export class ReinviteGate {
  private bridging: Promise<void> | null = null;

  constructor(private readonly dialog: ReinvitedDialog, private readonly maxHoldMs: number, private readonly onError: (err: Error) => void) {
    dialog.on('modify', (_req, res) => void this.answer(res));
  }

  /** A bridge of this channel is under way until `up` settles (either way). */
  hold(up: Promise<unknown>): void {
    const settled = up.then(() => undefined, () => undefined);
    this.bridging = settled;
    void settled.then(() => {
      if (this.bridging === settled) this.bridging = null;
    });
  }

  private async answer(res: ReinviteResponse): Promise<void> {
    if (this.bridging) await withDeadline(this.bridging, this.maxHoldMs).catch(() => undefined);
    const { sdp, contact } = this.dialog.local;
    try {
      res.send(200, { body: sdp, headers: { ...(contact ? { Contact: contact } : {}), 'Content-Type': 'application/sdp' } });
    } catch (err) {
      this.onError(err as Error); // the dialog ended meanwhile
    }
  }
}
