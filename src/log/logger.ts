import pino, { type Logger, type DestinationStream } from 'pino';
import type { AppConfig } from '../config/types.js';

export type { Logger };

/**
 * Masks a phone number for logs: "+919812341234" -> "+91******1234".
 * Keeps the leading "+" and two digits (the country code's start) and the last four digits.
 */
export function maskNumber(value: string): string {
  const m = /^(\+?)(\d+)$/.exec(value);
  if (!m) return value.length <= 4 ? '****' : `${'*'.repeat(value.length - 4)}${value.slice(-4)}`;
  const [, plus = '', digits = ''] = m;
  if (digits.length <= 6) return `${plus}${'*'.repeat(digits.length)}`;
  return `${plus}${digits.slice(0, 2)}${'*'.repeat(digits.length - 6)}${digits.slice(-4)}`;
}

/**
 * Finds numbers of 7 to 15 digits (optionally "+"-prefixed) inside free text such as a SIP URI
 * or an error message, also when written with separators: spaces, hyphens and parentheses, up to
 * two between digits (`+1 (415) 555-0123`, `+91 98123 41234`). Dots are not separators here, so
 * IP addresses stay readable.
 */
const NUMBER_IN_TEXT = /\+?\d(?:[ ()-]{0,2}\d){6,14}/g;

export function maskNumbersInText(text: string): string {
  return text.replace(NUMBER_IN_TEXT, (n) => maskNumber(n.replace(/[^\d+]/g, '')));
}

/**
 * A function the call path uses to render a number for a log line: masked unless redaction is off.
 * Modules log numbers only through this.
 */
export type NumberFormatter = (value: string) => string;

export function numberFormatter(redact: boolean): NumberFormatter {
  return redact ? maskNumbersInText : (v) => v;
}

/** How often buffered log lines are written when fewer than log.bufferBytes are waiting. */
export const LOG_FLUSH_MS = 1000;

/**
 * Where log lines go: stdout by default, or a file. Asynchronous, and with log.bufferBytes > 0
 * batched: each write hands a buffer to libuv's thread pool and wakes one of its threads, which
 * cost more than building the line itself, so lines are written when that many bytes wait, and
 * at least every LOG_FLUSH_MS. pino writes what is left at exit.
 */
export function logDestination(config: AppConfig['log'], dest: string | number = 1): DestinationStream {
  return pino.destination({
    dest,
    sync: false,
    minLength: config.bufferBytes,
    ...(config.bufferBytes > 0 ? { periodicFlush: LOG_FLUSH_MS } : {}),
  });
}

export function createLogger(config: AppConfig['log'], destination?: DestinationStream): Logger {
  return pino(
    {
      level: config.level,
      base: { app: 'maskbridge' },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Secrets never reach a log line, whatever object is passed.
      redact: { paths: ['password', '*.password', 'secret', '*.secret', 'token', '*.token'], censor: '[redacted]' },
    },
    destination ?? logDestination(config),
  );
}
