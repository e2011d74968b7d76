/** Polls `check` until it is truthy or `timeoutMs` passes (then throws, naming what it waited for). */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  timeoutMs: number,
  what: string,
  intervalMs = 20,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: last });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
