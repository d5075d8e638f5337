/**
 * Per-call media quality from FreeSWITCH's RTP statistics. `uuid_set_media_stats` sets them as
 * channel variables (`uuid_dump` lists them); for the audio a channel received from its party:
 *
 *   rtp_audio_in_media_packet_count   media packets received
 *   rtp_audio_in_skip_packet_count    packets the media server expected and did not get in time
 *   rtp_audio_in_jitter_max_variance  largest variance of the packet inter-arrival time, ms squared
 *   rtp_audio_in_mos                  FreeSWITCH's estimated mean opinion score (1 to 5)
 *
 * lossRatio = skipped / (received + skipped); jitterMs = the square root of the largest variance.
 */
import type { RtpQuality } from './port.js';

const PREFIX = 'variable_rtp_audio_in_';

/** The quality of what a channel received, from its variables (uuid_dump); null when no media arrived or a field is missing. */
export function rtpQualityFromVariables(vars: Readonly<Record<string, string | number | undefined>>): RtpQuality | null {
  const num = (name: string): number | null => {
    const raw = vars[PREFIX + name] ?? vars[`rtp_audio_in_${name}`];
    if (raw === undefined || raw === '') return null;
    const v = Number(raw);
    return Number.isFinite(v) && v >= 0 ? v : null;
  };
  const received = num('media_packet_count');
  const skipped = num('skip_packet_count');
  const variance = num('jitter_max_variance');
  const mos = num('mos');
  if (received === null || skipped === null || variance === null || mos === null || received + skipped === 0) return null;
  return {
    lossRatio: round(skipped / (received + skipped), 4),
    jitterMs: round(Math.sqrt(variance), 2),
    mos: round(Math.min(5, mos), 2),
  };
}

/**
 * The text `uuid_dump <uuid> json` answers (an object of channel variables), or its plain form
 * (`Name: value` lines, URL-encoded values).
 */
export function parseChannelDump(body: string): Record<string, string> {
  const text = body.trim();
  if (text.startsWith('{')) {
    try {
      const obj = JSON.parse(text) as unknown;
      if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
        const out: Record<string, string> = {};
        for (const [k, v] of Object.entries(obj)) if (typeof v === 'string' || typeof v === 'number') out[k] = String(v);
        return out;
      }
    } catch {
      // not JSON after all: try the plain form
    }
  }
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const at = line.indexOf(': ');
    if (at <= 0) continue;
    const value = line.slice(at + 2).trim();
    try {
      out[line.slice(0, at)] = decodeURIComponent(value);
    } catch {
      out[line.slice(0, at)] = value;
    }
  }
  return out;
}

function round(v: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
