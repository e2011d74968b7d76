/**
 * The contract between the `wsfleet` entry point (cli/wsfleet.ts) and every command module: each
 * part of the product implements it, the entry point only dispatches to it.
 */

/** A command returns its exit code, or undefined when it keeps running until a signal. */
export type Command = (argv: readonly string[], env: NodeJS.ProcessEnv) => Promise<number | undefined>;
