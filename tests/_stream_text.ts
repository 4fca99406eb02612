/** Test helper: reads a byte stream as text until a predicate holds, with a timeout. */

/** Reads `stream` until `done(text)` is true; returns the text. Cancels nothing. */
export async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  done: (text: string) => boolean,
  timeoutMs = 3000,
  start = "",
): Promise<string> {
  const decoder = new TextDecoder();
  let text = start;
  const deadline = Date.now() + timeoutMs;
  while (!done(text)) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Timed out; got ${JSON.stringify(text)}`)),
        Math.max(1, deadline - Date.now()),
      );
    });
    try {
      const { done: ended, value } = await Promise.race([
        reader.read(),
        timeout,
      ]);
      if (ended) throw new Error(`Stream ended; got ${JSON.stringify(text)}`);
      text += decoder.decode(value, { stream: true });
    } finally {
      clearTimeout(timer);
    }
  }
  return text;
}
