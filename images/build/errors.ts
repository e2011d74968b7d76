/**
 * Errors of `wsfleet images …`. Each carries a stable code, like the daemons' WsfleetError, and
 * the cause it wraps; the command prints the message and exits 1.
 */

import { type ErrorCode, errorFamily } from '../../daemons/shared/errors.ts';

/** The codes an ImageError carries (described with the others in daemons/shared/errors.ts). */
export type ImageErrorCode = Extract<
  ErrorCode,
  | 'WSFLEET_PACKER_UNAVAILABLE'
  | 'WSFLEET_IMAGE_INPUT'
  | 'WSFLEET_IMAGE_INVALID'
  | 'WSFLEET_IMAGE_BUILD_FAILED'
  | 'WSFLEET_IMAGE_NO_ARTIFACT'
  | 'WSFLEET_IMAGE_TOOLS'
  | 'WSFLEET_PREFLIGHT_FAILED'
>;

export class ImageError extends errorFamily<ImageErrorCode>('ImageError') {}
