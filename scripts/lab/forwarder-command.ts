/**
 * `wsfleet lab forwarder`: the far end of a lab port forward (forward.ts). It runs inside a
 * network namespace and receives, over its IPC channel, a listening socket made in the host's
 * namespace, which keeps that namespace: each connection accepted there is piped to the target
 * in this namespace, from the source address asked for. It exits when the parent goes away, so a
 * forward never outlives the process that made it.
 */
import { connect, createServer, Server, type Socket } from 'node:net';
import { z } from 'zod';
import type { Command } from '../../daemons/shared/command.ts';
import { parseCommand } from '../../daemons/shared/config.ts';
import { EXIT } from '../../daemons/shared/errors.ts';

/** What the parent sends, with the listening socket as the handle. */
export const forwardRequest = z.object({
  type: z.literal('forward'),
  target: z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) }),
  sourceAddress: z.string().min(1).optional(),
});
export type ForwardRequest = z.infer<typeof forwardRequest>;

/** What the child answers once: listening, or why not. */
export type ForwardReply = { readonly type: 'ready' } | { readonly type: 'failed'; readonly message: string };

/**
 * Joins two sockets both ways. Half-close passes through (an end on one side ends the other's
 * writing once its data is flushed; both sockets allow half-open), and an error on either side
 * destroys both, so a reset is seen as a reset at the other end.
 */
export function splice(a: Socket, b: Socket): void {
  const destroyBoth = (): void => {
    a.destroy();
    b.destroy();
  };
  a.on('error', destroyBoth);
  b.on('error', destroyBoth);
  a.on('close', (hadError) => {
    if (hadError) b.destroy();
  });
  b.on('close', (hadError) => {
    if (hadError) a.destroy();
  });
  a.pipe(b);
  b.pipe(a);
}

function serve(handle: Server, request: ForwardRequest): { server: Server; sockets: Set<Socket> } {
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connect({
      host: request.target.host,
      port: request.target.port,
      allowHalfOpen: true,
      ...(request.sourceAddress === undefined ? {} : { localAddress: request.sourceAddress }),
    });
    track(client);
    track(upstream);
    splice(client, upstream);
  });
  // Taking the handle over from the server the IPC channel made for it: this one allows half-open.
  server.listen(handle);
  return { server, sockets };
}

export const run: Command = async (argv, env) => {
  const parsed = parseCommand(
    'wsfleet lab forwarder',
    'The far end of a lab port forward; started by the lab with an IPC channel, never by hand.',
    {},
    argv,
    env,
  );
  if (parsed === undefined) return EXIT.OK;
  const send = process.send?.bind(process);
  if (send === undefined) {
    process.stderr.write(
      'wsfleet lab forwarder: needs the IPC channel of the lab process that starts it (see scripts/lab/forward.ts); it is not run by hand\n',
    );
    return EXIT.USAGE;
  }
  let running: { server: Server; sockets: Set<Socket> } | undefined;
  const stop = (): void => {
    running?.server.close();
    for (const s of running?.sockets ?? []) s.destroy();
    process.exit(EXIT.OK);
  };
  process.on('disconnect', stop);
  process.once('message', (message: unknown, handle: unknown) => {
    const request = forwardRequest.safeParse(message);
    if (!request.success || !(handle instanceof Server)) {
      send({
        type: 'failed',
        message: 'expected a forward request with a listening socket',
      } satisfies ForwardReply);
      return;
    }
    running = serve(handle, request.data);
    send({ type: 'ready' } satisfies ForwardReply);
  });
  return undefined;
};
