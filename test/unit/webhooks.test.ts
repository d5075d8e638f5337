/** Webhook events without Redis: URL check, codec, outbox entries, body, backoff. */
import { describe, expect, it } from 'vitest';
import { backoffMs, deliveryBody } from '../../src/events/dispatcher.js';
import { checkWebhookUrl, eventCodec, eventToFields, parseOutboxEntry, type OutboxEvent } from '../../src/events/events.js';
import { NoopEventSink } from '../../src/events/sink.js';

const ev: OutboxEvent = {
  id: 'ev-1', type: 'call.answered', at: 1_767_225_600_000, sessionId: 'order-1', url: 'https://hooks.example/x',
  data: { call_id: 'c1' }, parties: { a: '+15550001111' },
};

describe('checkWebhookUrl', () => {
  it('takes http and https URLs up to 2048 characters', () => {
    expect(checkWebhookUrl('https://hooks.example/maskbridge?k=1')).toBeNull();
    expect(checkWebhookUrl('http://127.0.0.1:8080/h')).toBeNull();
    expect(checkWebhookUrl(`https://h.example/${'a'.repeat(2020)}`)).toBeNull();
  });
  it('refuses anything else with the reason', () => {
    expect(checkWebhookUrl('')).toMatch(/http or https/);
    expect(checkWebhookUrl('ftp://h.example/x')).toMatch(/http or https/);
    expect(checkWebhookUrl('javascript:alert(1)')).toMatch(/http or https/);
    expect(checkWebhookUrl('not a url')).toMatch(/not a URL/);
    expect(checkWebhookUrl(`https://h.example/${'a'.repeat(2048)}`)).toMatch(/2048/);
  });
});

describe('event codec and outbox entries', () => {
  it('round-trips an event through the spool line and the outbox fields', () => {
    expect(eventCodec.parse(JSON.stringify(ev))).toEqual(ev);
    const fields = eventToFields(ev);
    expect(fields).toEqual({ id: 'ev-1', type: 'call.answered', at: '1767225600000', session: 'order-1', url: 'https://hooks.example/x', data: '{"call_id":"c1"}', parties: '{"a":"+15550001111"}' });
    expect(parseOutboxEntry(fields)).toEqual(ev);
    expect(parseOutboxEntry({ ...fields, parties: '' })).toEqual({ ...ev, parties: undefined });
  });
  it('names the bad field, never its value', () => {
    const f = eventToFields(ev);
    expect(parseOutboxEntry({ ...f, id: 'x'.repeat(129) })).toEqual({ problem: 'bad or missing field id' });
    expect(parseOutboxEntry({ ...f, type: 'call.exploded' })).toEqual({ problem: 'bad or missing field type' });
    expect(parseOutboxEntry({ ...f, at: 'soon' })).toEqual({ problem: 'bad or missing field at' });
    expect(parseOutboxEntry({ ...f, data: '[1]' })).toEqual({ problem: 'bad or missing field data' });
    expect(parseOutboxEntry({ ...f, data: '{' })).toEqual({ problem: 'field data is not JSON' });
    expect(parseOutboxEntry({ ...f, parties: '{"a":1}' })).toEqual({ problem: 'bad field parties' });
    expect(parseOutboxEntry({ ...f, url: 'ftp://x' })).toEqual({ problem: 'bad field url' });
    const { session: _s, ...noSession } = f;
    expect(parseOutboxEntry(noSession)).toEqual({ problem: 'bad or missing field session' });
    expect(() => eventCodec.parse('{"id":"+15550001111"}')).toThrow(/^bad or missing field type$/);
    expect(() => eventCodec.parse('nope')).toThrow(/not JSON/);
  });
});

describe('delivery body', () => {
  it('carries the numbers only when asked, and null for no session', () => {
    expect(JSON.parse(deliveryBody(ev, true))).toEqual({ id: 'ev-1', type: 'call.answered', created_at: '2026-01-01T00:00:00.000Z', session_id: 'order-1', data: { call_id: 'c1' }, parties: { a: '+15550001111' } });
    expect(deliveryBody(ev, false)).not.toContain('parties');
    expect(JSON.parse(deliveryBody({ ...ev, sessionId: '' }, false)).session_id).toBeNull();
  });
});

describe('backoff', () => {
  it('is full jitter under a cap that doubles per attempt up to the maximum', () => {
    expect(backoffMs(1, 1000, 60_000, () => 0.999)).toBe(999);
    expect(backoffMs(2, 1000, 60_000, () => 0.999)).toBe(1998);
    expect(backoffMs(5, 1000, 60_000, () => 0.999)).toBe(15_984);
    expect(backoffMs(30, 1000, 60_000, () => 0.999)).toBe(59_940);
    expect(backoffMs(3, 1000, 60_000, () => 0)).toBe(0);
    const samples = Array.from({ length: 1000 }, () => backoffMs(4, 1000, 60_000));
    expect(Math.max(...samples)).toBeLessThan(8000);
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
    expect(new Set(samples).size).toBeGreaterThan(500);
  });
});

describe('NoopEventSink', () => {
  it('takes events and does nothing (webhooks.enabled=false)', async () => {
    const s = new NoopEventSink();
    s.publish(ev);
    expect(s.backlog).toBe(0);
    await s.flush();
    await s.close(0);
  });
});
