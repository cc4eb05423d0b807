import type { FastifyReply, FastifyRequest } from 'fastify';
import { response } from '../http/error-response.js';
import { createAdminTokenCheck } from './admin-token.js';

/** An onRequest hook: runs before body parsing and validation, so strangers learn nothing. */
export function requireAdmin(adminToken: string) {
  const isAdmin = createAdminTokenCheck(adminToken);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (isAdmin(request.headers.authorization)) return;
    await reply
      .code(401)
      .header('www-authenticate', 'Bearer realm="inkstream config"')
      .send(response(401, 'missing or invalid admin token; send Authorization: Bearer <ADMIN_TOKEN>'));
  };
}
