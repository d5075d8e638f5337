/**
 * Rules across keys that convict's per-key formats cannot express, applied after validation.
 * Each throws naming the key.
 */
import type { AppConfig } from './types.js';
import { instanceLayout } from '../spool/instance-dir.js';

/** The config as convict returns it: media.mode may still be "auto". */
export type RawConfig = Omit<AppConfig, 'media'> & { media: Omit<AppConfig['media'], 'mode'> & { mode: 'auto' | 'none' | 'anchor' } };

export function resolveConfig(raw: RawConfig): AppConfig {
  const { media } = raw;
  let mode: AppConfig['media']['mode'];
  if (media.mode === 'auto') mode = media.servers.length > 0 ? 'anchor' : 'none';
  else mode = media.mode;
  if (mode === 'anchor' && media.servers.length === 0) {
    throw new Error('media.servers: media.mode is "anchor" but no media server is configured (name at least one host:port:secret, or set media.mode to "auto" or "none")');
  }
  const { hooks } = raw;
  if ((hooks.intercept.url || hooks.outOfSession.url) && hooks.secret.trim() === '') {
    throw new Error('hooks.secret: must be set when a hook URL is set (hooks.intercept.url or hooks.outOfSession.url): every hook request is signed with it');
  }
  checkWebhooks(raw.webhooks);
  checkKeepAlive(media);
  instanceLayout('cdr.spoolFile', raw.cdr.spoolFile);
  instanceLayout('webhooks.spoolFile', raw.webhooks.spoolFile);
  return { ...raw, media: { ...media, mode } };
}

function checkKeepAlive(m: RawConfig['media']): void {
  const round = m.keepAliveMs + m.keepAliveTimeoutMs;
  if (m.deadAfterMs <= round) {
    throw new Error(`media.deadAfterMs: ${m.deadAfterMs} must be more than media.keepAliveMs + media.keepAliveTimeoutMs (${round}), or a media server that answers its keep-alives just within their deadline can be taken for dead and have its calls ended`);
  }
}

function checkWebhooks(w: AppConfig['webhooks']): void {
  if (w.enabled && w.secret.trim() === '') {
    throw new Error('webhooks.secret: must be set when webhooks.enabled is true (receivers verify every delivery with it)');
  }
  if (w.retryMaxMs < w.retryBaseMs) throw new Error(`webhooks.retryMaxMs: ${w.retryMaxMs} is below webhooks.retryBaseMs (${w.retryBaseMs})`);
  if (w.claimMinIdleMs < 3 * w.timeoutMs) {
    throw new Error(`webhooks.claimMinIdleMs: ${w.claimMinIdleMs} must be at least 3 x webhooks.timeoutMs (${3 * w.timeoutMs}), or deliveries still under way are taken over and sent twice`);
  }
}
