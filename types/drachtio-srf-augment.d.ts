/**
 * Gaps in drachtio-srf 5.x's own typings that src/sip/drachtio.ts relies on (checked against
 * node_modules/drachtio-srf/lib): the cbRequest callback really receives (err, req), a request's
 * source port is a number, a response knows whether its final status went out and carries its
 * parsed headers, and a dialog keeps the response that created it.
 */
import 'drachtio-srf';

declare module 'drachtio-srf' {
  // In an augmentation of an `export =` module, these merge into the exported namespace Srf.
  interface SrfRequest {
    /** Set by lib/request.js from the server's meta (parseInt of the port). */
    source_port: string;
    /** drachtio-server's id of the request's transaction (lib/request.js, from its meta). */
    stackTxnId: string;
    /** CANCEL for an INVITE this app sent (lib/request.js Request#cancel). */
    cancel(opts?: { headers?: Record<string, string> }, callback?: (err: unknown, req: SrfRequest) => void): void;
  }
  interface UacProgressCallbacks {
    cbRequest?: (err: Error | null, req: SrfRequest) => void;
    cbProvisional?: (res: SrfResponse) => void;
  }
  interface SrfResponse {
    /** True once a final (>= 200) response has been sent (lib/response.js). */
    finalResponseSent: boolean;
    /** The parsed headers by lower-case name, compact forms expanded (lib/response.js delegates to its message). */
    headers: Record<string, string>;
  }
  interface Dialog {
    /**
     * lib/dialog.js: for a UAC dialog the 200 that created it (its body is remote.sdp), for a UAS
     * dialog the response sent. Absent from the typings.
     */
    res: SrfResponse;
  }
}
