/**
 * Just enough of RESP (Redis' wire protocol, versions 2 and 3) to see commands and replies go by:
 * where one request or reply ends, a request's arguments, and whether a reply is a push.
 * https://redis.io/docs/latest/develop/reference/protocol-spec/
 */

const CR = 0x0d;

/** The end of the `\r\n`-terminated line starting at `at` (after the LF), or undefined. */
function lineEnd(buf: Buffer, at: number): number | undefined {
  const cr = buf.indexOf(CR, at);
  return cr < 0 || cr + 1 >= buf.length ? undefined : cr + 2;
}

function header(buf: Buffer, at: number): { type: string; value: string; next: number } | undefined {
  const next = lineEnd(buf, at);
  if (next === undefined) return undefined;
  return { type: String.fromCharCode(buf[at] ?? 0), value: buf.toString('latin1', at + 1, next - 2), next };
}

function count(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < -1) throw new Error(`bad RESP length ${JSON.stringify(value)}`);
  return n;
}

/**
 * The offset just after the complete RESP value at `at`, or undefined while it is incomplete.
 * Throws on bytes that are no RESP value.
 */
export function valueEnd(buf: Buffer, at: number): number | undefined {
  const head = header(buf, at);
  if (head === undefined) return undefined;
  switch (head.type) {
    case '+':
    case '-':
    case ':':
    case '_':
    case ',':
    case '#':
    case '(':
      return head.next;
    case '$':
    case '!':
    case '=': {
      const n = count(head.value);
      if (n < 0) return head.next;
      return head.next + n + 2 <= buf.length ? head.next + n + 2 : undefined;
    }
    case '*':
    case '~':
    case '>':
    case '%':
    case '|': {
      const n = count(head.value);
      let next: number | undefined = head.next;
      for (let i = 0; i < (head.type === '%' || head.type === '|' ? 2 * n : n); i++) {
        next = valueEnd(buf, next);
        if (next === undefined) return undefined;
      }
      return next;
    }
    default:
      throw new Error(`not a RESP value: type byte ${JSON.stringify(head.type)}`);
  }
}

/** The reply at `at`: its end, and whether it is an out-of-band push (RESP3 `>`) or an attribute. */
export function readReply(buf: Buffer, at: number): { end: number; push: boolean } | undefined {
  const end = valueEnd(buf, at);
  if (end === undefined) return undefined;
  const type = String.fromCharCode(buf[at] ?? 0);
  // An attribute (`|`) comes before the reply it describes and is not a reply of its own.
  return { end, push: type === '>' || type === '|' };
}

/**
 * The request at `at`: an array of bulk strings (as every client library sends) or an inline
 * command (a line of words, as typed into telnet); its arguments as text.
 */
export function readRequest(buf: Buffer, at: number): { end: number; args: string[] } | undefined {
  if (buf[at] !== '*'.charCodeAt(0)) {
    const next = lineEnd(buf, at);
    if (next === undefined) return undefined;
    const args = buf
      .toString('latin1', at, next - 2)
      .split(' ')
      .filter((word) => word !== '');
    return { end: next, args };
  }
  const head = header(buf, at);
  if (head === undefined) return undefined;
  const args: string[] = [];
  let next = head.next;
  for (let i = 0; i < count(head.value); i++) {
    const arg = header(buf, next);
    if (arg === undefined) return undefined;
    if (arg.type !== '$') throw new Error(`a request argument must be a bulk string, got ${arg.type}`);
    const n = count(arg.value);
    if (arg.next + n + 2 > buf.length) return undefined;
    args.push(buf.toString('utf8', arg.next, arg.next + n));
    next = arg.next + n + 2;
  }
  return { end: next, args };
}

/** The connection name a request sets: `CLIENT SETNAME name` or `HELLO 3 ... SETNAME name`. */
export function nameSetBy(args: readonly string[]): string | undefined {
  const [command, sub] = args.map((arg) => arg.toUpperCase());
  if (command === 'CLIENT' && sub === 'SETNAME') return args[2];
  if (command === 'HELLO') {
    // HELLO protover [AUTH username password] [SETNAME clientname]
    for (let i = 2; i < args.length; i++) {
      const option = args[i]?.toUpperCase();
      if (option === 'AUTH') i += 2;
      else if (option === 'SETNAME') return args[i + 1];
    }
  }
  return undefined;
}

/** Commands whose confirmations RESP3 sends as pushes, not as replies in line. */
export const PUBSUB_COMMANDS: ReadonlySet<string> = new Set([
  'SUBSCRIBE',
  'UNSUBSCRIBE',
  'PSUBSCRIBE',
  'PUNSUBSCRIBE',
  'SSUBSCRIBE',
  'SUNSUBSCRIBE',
]);

/** A request as a client library writes it. */
export function encodeRequest(args: readonly string[]): Buffer {
  const parts = args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
  return Buffer.from(`*${args.length}\r\n${parts.join('')}`);
}
