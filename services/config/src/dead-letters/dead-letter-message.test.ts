import { describe, expect, it } from 'vitest';
import { deadLetter, deliveryJob } from '../testing/delivery-facts.js';
import { readDeadLetter } from './dead-letter-message.js';

const SYNC = '22222222-2222-4222-8222-222222222222';
const letter = deadLetter(deliveryJob(SYNC, 1));
const encode = (value: unknown) => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value));

describe('readDeadLetter', () => {
  it('takes a dead letter as delivery writes it', () => {
    expect(readDeadLetter(encode(letter))).toEqual(letter);
  });

  it.each<[string, unknown]>([
    ['not JSON', '{'],
    ['null', null],
    ['another version', { ...letter, v: 2 }],
    ['an unknown reason', { ...letter, reason: 'lost' }],
    ['no time of death', { ...letter, deadAt: undefined }],
    ['no job', { ...letter, job: undefined }],
    ['a job without user', { ...letter, job: { ...letter.job, userKey: undefined } }],
    ['a payload of another type than the job', { ...letter, job: { ...letter.job, payload: { ...letter.job.payload, type: 'identify' } } }],
    ['a payload without message id', { ...letter, job: { ...letter.job, payload: { ...letter.job.payload, message_id: undefined } } }],
  ])('refuses %s', (_name, value) => {
    expect(readDeadLetter(encode(value))).toBeUndefined();
  });
});
