/**
 * How the file store keeps an object: one file holding a one-line header and then the data, so the
 * generation and the data are replaced together by a single rename. The header is
 * `wsfleet-object/1 {"generation":"…","updated":"…","contentType":"…"}\n`.
 */
import { z } from 'zod';

const MAGIC = Buffer.from('wsfleet-object/1 ');
/** Longest header accepted when reading; a real one is under 200 bytes. */
export const MAX_HEADER_BYTES = 4096;

const headerSchema = z.object({
  generation: z.string().regex(/^[1-9][0-9]*$/),
  updated: z.iso.datetime(),
  contentType: z.string(),
});

export type FileHeader = z.infer<typeof headerSchema>;

export function encodeObject(header: FileHeader, data: Buffer): Buffer {
  return Buffer.concat([MAGIC, Buffer.from(`${JSON.stringify(header)}\n`), data]);
}

/**
 * Reads the header at the start of `bytes` (the whole file, or at least its first
 * MAX_HEADER_BYTES). Undefined when the file is not in this format.
 */
export function decodeHeader(bytes: Buffer): { header: FileHeader; dataOffset: number } | undefined {
  if (bytes.length < MAGIC.length || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  const end = bytes.indexOf(0x0a, MAGIC.length);
  if (end === -1 || end > MAX_HEADER_BYTES) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(bytes.subarray(MAGIC.length, end).toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = headerSchema.safeParse(json);
  return parsed.success ? { header: parsed.data, dataOffset: end + 1 } : undefined;
}
