export * from './message-id.js';
export * from './payload.js';
export * from './authorization.js';
export * from './request.js';
export * from './classify-response.js';
export * from './http-sender.js';
