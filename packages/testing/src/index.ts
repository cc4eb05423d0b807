export * from './stand-in.js';
export * from './wait.js';
