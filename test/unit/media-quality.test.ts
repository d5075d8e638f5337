/** Media quality: FreeSWITCH's RTP statistics read into the CDR, and the CDR fields written and read back. */
import { describe, expect, it } from 'vitest';
import { cdrToFields, parseCdr, type Cdr } from '../../src/cdr/cdr.js';
import { parseChannelDump, rtpQualityFromVariables } from '../../src/media/quality.js';

const vars = {
  variable_rtp_audio_in_media_packet_count: '2209',
  variable_rtp_audio_in_skip_packet_count: '39',
  variable_rtp_audio_in_jitter_max_variance: '148.584475',
  variable_rtp_audio_in_mos: '4.492027',
};

describe('rtpQualityFromVariables', () => {
  it('takes loss from skipped over expected packets, jitter as the root of the largest variance, and the MOS', () => {
    expect(rtpQualityFromVariables(vars)).toEqual({ lossRatio: 0.0173, jitterMs: 12.19, mos: 4.49 });
  });
  it('is null when no media arrived or a statistic is missing or not a number', () => {
    expect(rtpQualityFromVariables({ ...vars, variable_rtp_audio_in_media_packet_count: '0', variable_rtp_audio_in_skip_packet_count: '0' })).toBeNull();
    expect(rtpQualityFromVariables({ ...vars, variable_rtp_audio_in_mos: undefined })).toBeNull();
    expect(rtpQualityFromVariables({ ...vars, variable_rtp_audio_in_mos: 'n/a' })).toBeNull();
    expect(rtpQualityFromVariables({})).toBeNull();
  });
  it('counts a channel that got nothing at all but skips as all lost', () => {
    expect(rtpQualityFromVariables({ ...vars, variable_rtp_audio_in_media_packet_count: '0' })?.lossRatio).toBe(1);
  });
});

describe('parseChannelDump', () => {
  it('reads uuid_dump json, and the plain Name: value form with URL-encoded values', () => {
    expect(parseChannelDump(JSON.stringify({ ...vars, 'Channel-State': 'CS_EXECUTE' }))).toMatchObject(vars);
    const plain = 'Channel-State: CS_EXECUTE\nvariable_rtp_audio_in_mos: 4.492027\nvariable_sip_from_display: A%20B\n';
    expect(parseChannelDump(plain)).toEqual({ 'Channel-State': 'CS_EXECUTE', variable_rtp_audio_in_mos: '4.492027', variable_sip_from_display: 'A B' });
  });
});

describe('CDR quality fields', () => {
  const base: Cdr = {
    id: 'r1', callId: 'c', sessionId: 's', virtualNumber: '+15550000001', direction: 'a->b', startedAt: 0, answeredAt: 1000, endedAt: 5000,
    durationSec: 4, finalStatus: 200, disposition: 'answered', endedBy: 'caller', media: 'anchored', recording: null,
  };
  it('writes quality_{leg}_* stream fields for each leg it has, none without quality', () => {
    const f = cdrToFields({ ...base, quality: { a: { lossRatio: 0.01, jitterMs: 3.5, mos: 4.4 } } });
    expect(f).toMatchObject({ quality_a_loss_ratio: '0.01', quality_a_jitter_ms: '3.5', quality_a_mos: '4.4' });
    expect(Object.keys(f).filter((k) => k.startsWith('quality_b'))).toEqual([]);
    expect(Object.keys(cdrToFields({ ...base, quality: null })).filter((k) => k.startsWith('quality'))).toEqual([]);
    expect(Object.keys(cdrToFields(base)).filter((k) => k.startsWith('quality'))).toEqual([]);
  });
  it('reads a spooled CDR with or without quality back, and refuses a malformed one', () => {
    const withQ = { ...base, quality: { b: { lossRatio: 0, jitterMs: 1, mos: 4.5 } } };
    expect(parseCdr(JSON.stringify(withQ))).toEqual(withQ);
    expect(parseCdr(JSON.stringify(base))).toEqual(base);
    expect(parseCdr(JSON.stringify({ ...base, quality: null })).quality).toBeNull();
    expect(() => parseCdr(JSON.stringify({ ...base, quality: { a: { lossRatio: '0' } } }))).toThrow('quality.a');
    expect(() => parseCdr(JSON.stringify({ ...base, quality: [1] }))).toThrow('quality');
  });
});
