/** ReplyRoutes: each reply reaches every caller waiting on its request, once, and nobody else. */
import { describe, expect, test } from 'vitest';
import type { Reply } from '@vsr/core';
import { ReplyRoutes } from '../src/index.js';

const reply = (requestNumber: number | null): Reply =>
  requestNumber === null
    ? { type: 'error', clientId: 'c', requestNumber: null, code: 'invalid-request', message: 'unreadable' }
    : { type: 'reply', clientId: 'c', requestNumber, viewNumber: 0, opNumber: 1, result: requestNumber };

describe('ReplyRoutes', () => {
  test('every caller of one request gets its reply once; other requests and reads keep waiting', () => {
    const routes = new ReplyRoutes(16);
    const got: string[] = [];
    routes.route('c', { clientId: 'c', requestNumber: 1, operation: null }, () => got.push('first'));
    routes.route('c', { clientId: 'c', requestNumber: 1, operation: null }, () => got.push('second'));
    routes.await('c', 1, () => got.push('awaiting'));
    routes.route('c', { clientId: 'c', readNumber: 1, query: null }, () => got.push('read'));
    routes.route('c', { clientId: 'c', requestNumber: -1 }, () => got.push('unreadable'));
    routes.deliver('c', reply(1));
    routes.deliver('c', reply(1)); // a second copy finds nobody
    expect(got).toEqual(['first', 'second', 'awaiting']);
    routes.deliver('c', { type: 'read-reply', clientId: 'c', readNumber: 1, viewNumber: 0, commitNumber: 1, result: null });
    routes.deliver('c', reply(null));
    routes.deliver('d', reply(1));
    expect(got).toEqual(['first', 'second', 'awaiting', 'read', 'unreadable']);
  });

  test('an abandoned caller gets nothing; the table is bounded in clients', () => {
    const routes = new ReplyRoutes(2);
    const got: string[] = [];
    const quitter = () => got.push('quitter');
    routes.await('c', 3, quitter);
    routes.await('c', 3, () => got.push('stayer'));
    routes.abandon('c', 3, quitter);
    routes.deliver('c', reply(3));
    expect(got).toEqual(['stayer']);
    for (const client of ['x', 'y', 'z']) routes.await(client, 1, () => got.push(client));
    for (const client of ['x', 'y', 'z']) routes.deliver(client, { ...reply(1), clientId: client });
    expect(got).toEqual(['stayer', 'y', 'z']); // x, the oldest, was evicted
  });
});
