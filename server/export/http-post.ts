import { Agent, request } from 'undici';
import { ExportNotAcknowledgedError } from '../errors.js';
import type { TlsClientConfig } from './export-config.js';
import { tlsOptions } from './tls-options.js';

/** What a receiver answers a batch past its body limit (HEC's max_content_length, a collector's max_request_body_size). */
export const PAYLOAD_TOO_LARGE = 413;

/** A receiver's answer: its status and at most this much of its body (HEC's code, OTLP's partial success); never logged. */
const MAX_ANSWER_BYTES = 64 * 1024;

export interface HttpAnswer {
  status: number;
  body: string;
}

/**
 * POSTs one batch to an HTTP receiver (Splunk HEC, an OTLP/HTTP collector) over a kept-alive
 * connection verified as `tls` says. No redirect is followed (a receiver could otherwise
 * point the batch, and its token, elsewhere); a network failure or timeout is
 * ExportNotAcknowledgedError, as is any answer the caller judges not to acknowledge.
 */
export class HttpPoster {
  private readonly agent: Agent;

  constructor(
    private readonly sink: string,
    tls: TlsClientConfig,
    private readonly timeoutMs: number,
  ) {
    this.agent = new Agent({ connect: tlsOptions(tls), keepAliveTimeout: 30_000 });
  }

  async post(url: string, headers: Record<string, string>, body: string, signal: AbortSignal): Promise<HttpAnswer> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    try {
      const response = await request(url, { method: 'POST', dispatcher: this.agent, headers, body, signal: AbortSignal.any([signal, timeout]) });
      return { status: response.statusCode, body: await bounded(response.body) };
    } catch (error) {
      throw new ExportNotAcknowledgedError(this.sink, signal.aborted ? 'aborted' : timeout.aborted ? 'timed out' : 'network error', error);
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

async function bounded(body: AsyncIterable<Buffer> & { destroy(): unknown }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= MAX_ANSWER_BYTES) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, MAX_ANSWER_BYTES).toString('utf8');
}
