/** @module Reads a request body without ever holding more than a limit. */

/** Raised when a body passes its limit; the route answers 413. */
export class BodyTooLargeError extends Error {
  /** Makes the error for a body over `limit` bytes. */
  constructor(limit: number) {
    super(`Cannot publish: the body is larger than ${limit} bytes`);
    this.name = "BodyTooLargeError";
  }
}

/**
 * Reads the whole body, stopping (and cancelling the rest) as soon as it passes
 * `limit` bytes, whether or not it declared a Content-Length.
 *
 * @throws {BodyTooLargeError} when the body is larger than `limit`
 */
export async function readLimitedBody(
  request: Request,
  limit: number,
): Promise<Uint8Array> {
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > limit) {
    await request.body?.cancel();
    throw new BodyTooLargeError(limit);
  }
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel();
      throw new BodyTooLargeError(limit);
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}
