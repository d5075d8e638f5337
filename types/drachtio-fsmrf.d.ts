/**
 * The parts of drachtio-fsmrf 4.1.x that src/media/fsmrf.ts uses (the package ships no types).
 * Checked against node_modules/drachtio-fsmrf/lib/{mrf,mediaserver,endpoint}.js.
 */
declare module 'drachtio-fsmrf' {
  import { EventEmitter } from 'node:events';
  import type Srf from 'drachtio-srf';

  namespace Mrf {
    interface ConnectOptions {
      address: string;
      port?: number;
      secret?: string;
      listenAddress?: string;
      listenPort?: number;
      advertisedAddress?: string;
      advertisedPort?: number;
      profile?: string;
    }

    interface EslEvent {
      getHeader(name: string): string | undefined;
      getBody(): string;
    }

    interface PlayCollectOptions {
      file: string;
      min?: number;
      max?: number;
      tries?: number;
      timeout?: number;
      digitTimeout?: number;
      terminators?: string;
      invalidFile?: string;
    }

    class Endpoint extends EventEmitter {
      readonly uuid: string;
      readonly local: { sdp: string; mediaIp: string; mediaPort: string };
      readonly remote: { sdp: string };
      readonly connected: boolean;
      readonly dialog: Srf.Dialog;
      /** The channel's outbound event socket (drachtio-modesl Connection; lib/endpoint.js subscribes it, filtered to the channel). */
      readonly conn?: {
        subscribe(events: string): void;
        on(event: string, listener: (...args: unknown[]) => void): unknown;
        removeListener(event: string, listener: (...args: unknown[]) => void): unknown;
      };
      play(file: string | string[]): Promise<{ playbackSeconds?: string; playbackMilliseconds?: string }>;
      playCollect(opts: PlayCollectOptions): Promise<{ digits?: string; terminatorUsed?: string }>;
      bridge(other: Endpoint | string): Promise<void>;
      modify(sdp: string): Promise<string>;
      api(command: string, args?: string | string[]): Promise<EslEvent>;
      execute(app: string, arg?: string): Promise<EslEvent>;
      executeAsync(app: string, arg?: string): void;
      set(name: string | Record<string, string>, value?: string): Promise<void>;
      destroy(): Promise<void>;
      /** reason: the channel's Hangup-Cause when FreeSWITCH hung it up; none when its event socket closed. */
      on(event: 'destroy', listener: (evt?: { reason?: string }) => void): this;
      on(event: 'dtmf', listener: (evt: { dtmf: string }) => void): this;
    }

    class MediaServer extends EventEmitter {
      readonly address: string;
      /** The inbound event-socket connection (drachtio-modesl Connection). */
      readonly conn: { socket?: import('node:net').Socket } | null;
      /** Internal: the listener FreeSWITCH's outbound event sockets connect to (lib/mediaserver.js). */
      readonly _server?: { server?: import('node:net').Server };
      maxSessions: number;
      currentSessions: number;
      cpuIdle: number;
      createEndpoint(opts?: { remoteSdp?: string; codecs?: string[]; headers?: Record<string, string> }): Promise<Endpoint>;
      api(command: string): Promise<string>;
      connected(): boolean;
      disconnect(): void;
      on(event: 'end' | 'ready' | 'connect', listener: () => void): this;
      on(event: 'error', listener: (err: Error) => void): this;
      on(event: 'channel::open' | 'channel::close', listener: (evt: { uuid: string; countOfChannels: number }) => void): this;
    }
  }

  class Mrf extends EventEmitter {
    constructor(srf: Srf, opts?: { customEvents?: string[] });
    connect(opts: Mrf.ConnectOptions): Promise<Mrf.MediaServer>;
  }

  export = Mrf;
}
