import type pino from 'pino';
import { describe, expect, it } from 'vitest';
import { CallLog } from '../../src/log/call-log.js';
import { captureLogs } from '../helpers/harness.js';

/** A parent logger that counts the child loggers made from it. */
function capture() {
  const { log: parent, logs: lines } = captureLogs('info');
  let children = 0;
  const child = parent.child.bind(parent);
  parent.child = ((b: pino.Bindings) => (children++, child(b))) as typeof parent.child;
  return { parent, lines, children: () => children };
}

describe('CallLog', () => {
  it('makes no child logger until a line is logged, then one carrying every binding so far', () => {
    const c = capture();
    const log = new CallLog(c.parent, 'call-1@host');
    log.bind({ sessionId: 'order-9' });
    expect(c.children()).toBe(0);
    log.logger.info('call finished');
    log.logger.info('again');
    expect(c.children()).toBe(1);
    expect(c.lines[0]).toMatchObject({ callId: 'call-1@host', sessionId: 'order-9', msg: 'call finished' });
  });

  it('adds a binding made after the first line to the lines after it', () => {
    const c = capture();
    const log = new CallLog(c.parent, 'call-2@host');
    log.logger.info('first');
    log.bind({ sessionId: 'order-10' });
    log.logger.info('second');
    expect(c.lines[0]).not.toHaveProperty('sessionId');
    expect(c.lines[1]).toMatchObject({ callId: 'call-2@host', sessionId: 'order-10' });
  });
});

describe('CallLog.line', () => {
  it('writes a call that logs once without making a child, with the same bindings a child would carry', () => {
    const c = capture();
    const log = new CallLog(c.parent, 'call-3@host');
    log.bind({ sessionId: 'order-11' });
    log.line('info', 'call finished', () => ({ disposition: 'answered' }));
    expect(c.children()).toBe(0);
    expect(c.lines).toHaveLength(1);
    expect(c.lines[0]).toMatchObject({ callId: 'call-3@host', sessionId: 'order-11', disposition: 'answered', msg: 'call finished' });
  });

  it('builds no fields for a level that is off', () => {
    const c = capture();
    const log = new CallLog(c.parent, 'call-4@host');
    let built = 0;
    log.line('debug', 'calling the other party', () => (built++, { callee: 'x' }));
    expect(built).toBe(0);
    expect(c.lines).toHaveLength(0);
    log.line('info', 'shown', () => (built++, {}));
    expect(built).toBe(1);
  });

  it('masks the Call-ID with the formatter it was given, and only when a line is written', () => {
    const c = capture();
    let masked = 0;
    const log = new CallLog(c.parent, '919812341234@carrier', (v) => (masked++, v.replace(/\d(?=\d{4})/g, '*')));
    expect(masked).toBe(0);
    log.line('info', 'one');
    log.line('info', 'two');
    expect(masked).toBe(1);
    expect(c.lines[0]?.callId).toBe('********1234@carrier');
    expect(JSON.stringify(c.lines)).not.toContain('9198123');
  });

  it('goes through the child once one exists, binding included', () => {
    const c = capture();
    const log = new CallLog(c.parent, 'call-5@host');
    log.logger.info('first');
    log.bind({ sessionId: 'order-12' });
    log.line('info', 'second', () => ({ n: 2 }));
    expect(c.children()).toBe(1);
    expect(c.lines[1]).toMatchObject({ callId: 'call-5@host', sessionId: 'order-12', n: 2, msg: 'second' });
  });
});
