/** A local HTTP webhook receiver for tests: records every request; `answer` decides the reply (a status, or 'hang'). */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface Received {
  id: string;
  type: string;
  headers: IncomingMessage['headers'];
  body: string;
  json: Record<string, unknown>;
  at: number;
  path: string;
}

export class WebhookReceiver {
  readonly received: Received[] = [];
  /** Reply for a request: an HTTP status, or 'hang' (never answer until close). */
  answer: (r: Received, n: number) => number | 'hang' = () => 200;
  /** Milliseconds before the answer goes out. */
  delay: (r: Received) => number = () => 0;
  private server: Server | null = null;
  private hanging = new Set<ServerResponse>();
  port = 0;

  static async start(): Promise<WebhookReceiver> {
    const r = new WebhookReceiver();
    await r.listen();
    return r;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** How many times each event id arrived with a 2xx answer or at all. */
  counts(): Map<string, number> {
    const m = new Map<string, number>();
    for (const r of this.received) m.set(r.id, (m.get(r.id) ?? 0) + 1);
    return m;
  }

  private listen(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(body) as Record<string, unknown>;
        } catch {
          // recorded as is
        }
        const r: Received = { id: String(req.headers['maskbridge-event-id'] ?? ''), type: String(req.headers['maskbridge-event-type'] ?? ''), headers: req.headers, body, json, at: Date.now(), path: req.url ?? '' };
        const n = this.received.push(r);
        const a = this.answer(r, n - 1);
        if (a === 'hang') {
          this.hanging.add(res);
          res.on('close', () => this.hanging.delete(res));
          return;
        }
        res.statusCode = a;
        const wait = this.delay(r);
        if (wait > 0) setTimeout(() => res.end('ok'), wait);
        else res.end('ok');
      });
    });
    this.server.keepAliveTimeout = 60_000;
    return new Promise((resolve) => {
      this.server?.listen(0, '127.0.0.1', () => {
        const addr = this.server?.address();
        this.port = typeof addr === 'object' && addr ? addr.port : 0;
        resolve();
      });
    });
  }

  /** Answers the hanging requests with `status`. */
  release(status = 200): void {
    for (const res of this.hanging) {
      res.statusCode = status;
      res.end('ok');
    }
    this.hanging.clear();
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
    this.server?.closeAllConnections();
    await new Promise((r) => this.server?.close(r));
  }
}
