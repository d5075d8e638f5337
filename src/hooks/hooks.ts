/** The real-time hooks a call asks (docs/hooks.md), built from config in the composition root. */
import type { AppConfig } from '../config/types.js';
import type { HookMetrics } from './client.js';
import { InterceptHook } from './intercept.js';
import { OutOfSessionHook, type OutOfSessionDeps } from './out-of-session.js';

export type { HookMetrics } from './client.js';

/** Each hook only when its URL is set. */
export interface CallHooks {
  intercept?: InterceptHook;
  outOfSession?: OutOfSessionHook;
}

export function hooksFromConfig(config: AppConfig['hooks'], deps: { metrics: HookMetrics; create: OutOfSessionDeps['create']; now?: () => number }): CallHooks {
  return {
    ...(config.intercept.url ? { intercept: new InterceptHook(config.intercept, config.secret, deps.metrics) } : {}),
    ...(config.outOfSession.url ? { outOfSession: new OutOfSessionHook(config.outOfSession, config.secret, deps) } : {}),
  };
}
