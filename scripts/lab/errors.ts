/** Errors of `wsfleet lab …`: a stable code each (described in daemons/shared/errors.ts) and a cause. */
import { type ErrorCode, errorFamily } from '../../daemons/shared/errors.ts';

export type LabErrorCode = Extract<
  ErrorCode,
  | 'WSFLEET_LAB_PREREQUISITES'
  | 'WSFLEET_LAB_MACHINE'
  | 'WSFLEET_LAB_SERVICE'
  | 'WSFLEET_LAB_TIMEOUT'
  | 'WSFLEET_LAB_STATE'
>;

export class LabError extends errorFamily<LabErrorCode>('LabError') {}
