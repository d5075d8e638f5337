/**
 * Outbound gateways (carrier SBCs) with failover and a health state each, so one SBC is not a
 * single point of failure. Gateways are tried in the configured order, healthy ones first; a
 * call whose INVITE a gateway fails without ringing (timeout, 408, 5xx) is tried on the next
 * (src/calls/dial.ts). Health comes from those failures and from OPTIONS pings: a gateway is
 * down after `downAfter` failures in a row, and up again at its first answer (any status: an
 * SBC that answers OPTIONS with 405 is alive). When every gateway is down, all are still tried:
 * a guess beats a certain 503.
 */
import type { Logger } from '../log/logger.js';

export interface GatewayHealth {
  gateway: string;
  up: boolean;
  failures: number;
}

export interface GatewayPoolOptions {
  /** OPTIONS ping interval; 0 = no pings (health from calls only). */
  pingMs: number;
  pingTimeoutMs: number;
  downAfter?: number;
}

/** Statuses of a gateway failing an INVITE itself (not the callee): try the next gateway. */
export function isGatewayFailure(status: number): boolean {
  return status === 408 || (status >= 500 && status <= 599 && status !== 580);
}

export class GatewayPool {
  private readonly state: GatewayHealth[];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    gateways: string[],
    private readonly opts: GatewayPoolOptions,
    private readonly ping: ((gateway: string, timeoutMs: number) => Promise<number | null>) | null,
    private readonly log: Logger,
  ) {
    if (gateways.length === 0) throw new Error('at least one outbound gateway is needed');
    this.state = gateways.map((gateway) => ({ gateway, up: true, failures: 0 }));
  }

  /** The gateways to try, in order: healthy ones in the configured order, then the rest. */
  candidates(): string[] {
    return [...this.state.filter((g) => g.up), ...this.state.filter((g) => !g.up)].map((g) => g.gateway);
  }

  health(): GatewayHealth[] {
    return this.state.map((g) => ({ ...g }));
  }

  failed(gateway: string, why: string): void {
    const g = this.state.find((s) => s.gateway === gateway);
    if (!g) return;
    g.failures += 1;
    if (g.up && g.failures >= (this.opts.downAfter ?? 2)) {
      g.up = false;
      this.log.warn({ gateway, why }, 'outbound gateway down: calls go to the others first');
    }
  }

  answered(gateway: string): void {
    const g = this.state.find((s) => s.gateway === gateway);
    if (!g) return;
    g.failures = 0;
    if (!g.up) {
      g.up = true;
      this.log.info({ gateway }, 'outbound gateway up again');
    }
  }

  start(): void {
    if (!this.ping || this.opts.pingMs === 0) return;
    this.timer = setInterval(() => void this.pingAll(), this.opts.pingMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One OPTIONS round to every gateway; never rejects. */
  async pingAll(): Promise<void> {
    const ping = this.ping;
    if (!ping) return;
    await Promise.all(this.state.map(async (g) => {
      const status = await ping(g.gateway, this.opts.pingTimeoutMs).catch(() => null);
      if (status === null) this.failed(g.gateway, 'no answer to OPTIONS');
      else this.answered(g.gateway);
    }));
  }
}
