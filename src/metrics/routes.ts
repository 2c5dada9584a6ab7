/**
 * routes.ts: GET /metrics on the admin listener (the Prometheus text exposition format).
 */
import type { FastifyInstance } from 'fastify';
import type { Metrics } from './metrics';

/** registerMetrics returns the plugin that mounts GET /metrics for `metrics`. */
export function registerMetrics(metrics: Metrics): (app: FastifyInstance) => Promise<void> {
  return async (app) => {
    app.get('/metrics', async (_req, reply) => {
      const body = await metrics.scrape();
      void reply.header('cache-control', 'no-store').type(metrics.contentType).send(body);
    });
  };
}
