/**
 * Rules across keys that convict's per-key formats cannot express, applied after validation.
 * Each throws naming the key.
 */
import type { AppConfig } from './types.js';

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
  return { ...raw, media: { ...media, mode } };
}
