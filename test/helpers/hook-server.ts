/** A local HTTP server standing in for a backend's hook endpoint: each test scripts its answer and reads what was asked. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HookRequest {
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** The client's port: the same for requests over one kept-alive connection. */
  remotePort: number;
  json: Record<string, unknown>;
}

export type HookHandler = (req: HookRequest, res: ServerResponse) => void;

export class HookServer {
  readonly requests: HookRequest[] = [];
  /** Answers every request; default: 200 {"action":"allow"}. */
  handler: HookHandler = (_req, res) => json(res, { action: 'allow' });
  private server: Server | null = null;
  private port = 0;

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let parsed: Record<string, unknown> = {};
        try {
          parsed = JSON.parse(body) as Record<string, unknown>;
        } catch {
          // recorded as {}
        }
        const r = { path: req.url ?? '', headers: req.headers, body, remotePort: req.socket.remotePort ?? 0, json: parsed };
        this.requests.push(r);
        this.handler(r, res);
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Answers `value` as JSON after `delayMs`. */
  answer(value: unknown, delayMs = 0, status = 200): void {
    this.handler = (_req, res) => {
      const t = setTimeout(() => json(res, value, status), delayMs);
      res.on('close', () => clearTimeout(t));
    };
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}

export function json(res: ServerResponse, value: unknown, status = 200): void {
  if (res.destroyed) return;
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
