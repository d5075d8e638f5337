/**
 * One JSON POST over node:http(s) with pooled keep-alive connections, for webhook deliveries:
 * several times cheaper in CPU than fetch on Node 20 (no WHATWG streams), which matters at a few
 * deliveries per call. Redirects are not followed (a 3xx is the answer). Never rejects.
 */
import http from 'node:http';
import https from 'node:https';

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 64 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 64 }),
};

export type PostOutcome = { status: number } | { error: 'timeout' | 'network' | 'stopped'; message: string };

export function postJson(url: string, body: string, headers: Record<string, string>, timeoutMs: number, signal: AbortSignal): Promise<PostOutcome> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve({ error: 'stopped', message: 'stopped' });
    let req: http.ClientRequest | null = null;
    const done = (outcome: PostOutcome) => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(outcome);
    };
    const onAbort = () => {
      done({ error: 'stopped', message: 'stopped' });
      req?.destroy();
    };
    const timer = setTimeout(() => {
      done({ error: 'timeout', message: `no answer within ${timeoutMs} ms` });
      req?.destroy();
    }, timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const u = new URL(url);
      const secure = u.protocol === 'https:';
      req = (secure ? https : http).request(u, {
        method: 'POST', agent: secure ? agents.https : agents.http,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) },
      }, (res) => {
        // The body is not read: draining it frees the connection for the next request.
        res.resume();
        done({ status: res.statusCode ?? 0 });
      });
      req.on('error', (err: NodeJS.ErrnoException) => done({ error: 'network', message: err.code ?? err.message }));
      req.end(body);
    } catch (err) {
      done({ error: 'network', message: (err as Error).message });
    }
  });
}
