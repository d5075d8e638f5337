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
