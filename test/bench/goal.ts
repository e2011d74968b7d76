/** One goal of the benchmark with what was measured against it: a row of the goals table. */

export type GoalStatus = 'met' | 'not met' | 'not measured';

export interface Goal {
  readonly goal: string;
  readonly measured: string;
  readonly status: GoalStatus;
}
