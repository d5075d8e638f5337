/**
 * An OPTIONS keep-alive sent from this process, the way a trunk sends them: one UDP request,
 * its final status back. For polling at a steady rate, where starting a sipp per keep-alive
 * would measure process start-up on a busy machine rather than maskbridge.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';

/** The final status of one OPTIONS to `to` from `localIp`, or null when none came within `timeoutMs`. */
export function optionsStatus(to: { host: string; port: number }, localIp = '127.0.0.1', timeoutMs = 1000): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const sock = createSocket('udp4');
    const callId = `${randomBytes(8).toString('hex')}@e2e`;
    const timer = setTimeout(() => finish(null), timeoutMs);
    const finish = (status: number | null) => {
      clearTimeout(timer);
      sock.close();
      resolve(status);
    };
    sock.on('error', (err) => {
      clearTimeout(timer);
      sock.close();
      reject(err);
    });
    sock.on('message', (msg) => {
      const text = msg.toString('utf8');
      const status = /^SIP\/2\.0 (\d{3})/.exec(text);
      if (!status || !text.includes(callId) || Number(status[1]) < 200) return;
      finish(Number(status[1]));
    });
    sock.bind(0, localIp, () => {
      const { port } = sock.address();
      const request = [
        `OPTIONS sip:${to.host}:${to.port} SIP/2.0`,
        `Via: SIP/2.0/UDP ${localIp}:${port};branch=z9hG4bK${randomBytes(6).toString('hex')};rport`,
        `From: <sip:ping@${localIp}:${port}>;tag=${randomBytes(4).toString('hex')}`,
        `To: <sip:${to.host}:${to.port}>`,
        `Call-ID: ${callId}`,
        'CSeq: 1 OPTIONS',
        'Max-Forwards: 70',
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n');
      sock.send(request, to.port, to.host);
    });
  });
}
