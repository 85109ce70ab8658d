/**
 * Why: @fastify/reply-from is the proxy the Fastify ecosystem recommends, built on undici; it is
 * one of the peers of the proxy suite. Fastify with its logger off, every method and path
 * forwarded to the one upstream with reply-from's defaults (an undici Pool of 128 connections).
 */
import replyFrom from '@fastify/reply-from';
import Fastify from 'fastify';
import { serve } from './serve.js';

serve(async (options) => {
  const { upstream } = options as { readonly upstream: string };
  const app = Fastify({ logger: false });
  await app.register(replyFrom, { base: upstream });
  app.all('/*', (request, reply) => {
    void reply.from(request.url);
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('not listening on TCP');
  return { ports: { port: address.port }, close: () => app.close() };
});
