export * from './stand-in.js';
export * from './wait.js';
export * from './tcp-proxy.js';
export * from './stack.js';
export * from './private-nats.js';
export * from './nats-cluster.js';
