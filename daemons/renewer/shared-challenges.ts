/**
 * HTTP-01 answers, and the self-check's probes, shared through the store: each is served by this
 * renewer's challenge server and written to the store before the CA (or the self-check) is asked
 * to fetch it, so that whichever renewer of the store the request reaches can answer it (their
 * challenge servers look up tokens they do not hold, challenge-server.ts). Two renewers at once,
 * as during a managed group's update, then still validate; the issuance lease keeps them from
 * ordering the same certificate twice.
 */
import type { Logger } from '../shared/logger.ts';
import type { CertStore } from '../shared/store/cert-store.ts';
import type { ChallengeServer, Probe } from './challenge-server.ts';

/** What the ACME flow and the self-check use to publish answers. */
export interface Challenges {
  set(token: string, answer: string): Promise<void>;
  remove(token: string): Promise<void>;
  addProbe(): Promise<Probe>;
}

export function sharedChallenges(
  server: Pick<ChallengeServer, 'set' | 'remove' | 'addProbe'>,
  store: Pick<CertStore, 'putChallenge' | 'removeChallenge'>,
  log: Logger,
): Challenges {
  async function remove(token: string): Promise<void> {
    server.remove(token);
    // A leftover answer is harmless (public, and its token is never used again): log, go on.
    await store
      .removeChallenge(token)
      .catch((err: unknown) => log.warn({ err }, 'could not remove a challenge answer from the store'));
  }
  return {
    async set(token, answer) {
      server.set(token, answer);
      await store.putChallenge(token, answer);
    },
    remove,
    async addProbe() {
      const probe = server.addProbe();
      try {
        await store.putChallenge(probe.token, probe.value);
      } catch (err) {
        server.remove(probe.token);
        throw err;
      }
      return probe;
    },
  };
}
