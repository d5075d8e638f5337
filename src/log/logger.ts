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

/** Finds numbers of 7+ digits (optionally "+"-prefixed) inside free text such as a SIP URI. */
const NUMBER_IN_TEXT = /\+?\d{7,15}/g;

export function maskNumbersInText(text: string): string {
  return text.replace(NUMBER_IN_TEXT, (n) => maskNumber(n));
}

/**
 * A function the call path uses to render a number for a log line: masked unless redaction is off.
 * Modules log numbers only through this.
 */
export type NumberFormatter = (value: string) => string;

export function numberFormatter(redact: boolean): NumberFormatter {
  return redact ? maskNumbersInText : (v) => v;
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
    destination,
  );
}
