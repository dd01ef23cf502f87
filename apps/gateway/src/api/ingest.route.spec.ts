// Which requests the ingest route takes from Express: its path, matched as Express's router matched it.
import { describe, expect, it } from '@jest/globals';
import { topicInPath } from './ingest.route.js';

describe('topicInPath', () => {
  it('takes the ingest path with any letter case, a trailing slash or a query, and decodes the topic', () => {
    expect(topicInPath('/api/v1/topics/web/events')).toBe('web');
    expect(topicInPath('/api/v1/topics/web/events/')).toBe('web');
    expect(topicInPath('/api/v1/topics/web/events?source=x&y=/z')).toBe('web');
    expect(topicInPath('/API/V1/Topics/Web/EVENTS')).toBe('Web');
    expect(topicInPath('/api/v1/topics/w%65b/events')).toBe('web');
    // A decoded slash is part of the topic, which the topic check then refuses.
    expect(topicInPath('/api/v1/topics/a%2Fb/events')).toBe('a/b');
  });

  it('leaves a malformed escape as sent, for the topic check to name', () => {
    expect(topicInPath('/api/v1/topics/a%E0%A4%A/events')).toBe('a%E0%A4%A');
  });

  it('matches an absolute-form URL by its path', () => {
    expect(topicInPath('http://gateway.example:3000/api/v1/topics/web/events?x=1')).toBe('web');
    expect(topicInPath('not a url')).toBeUndefined();
    // Not normalised: Express does not take this path for the route either.
    expect(topicInPath('http://gateway.example/api/v1/topics/web/%2e/events')).toBeUndefined();
  });

  it('leaves every other path to Express', () => {
    for (const url of [
      undefined,
      '',
      '/api/v1/topics/web',
      '/api/v1/topics/web/snapshot',
      '/api/v1/topics//events',
      '/api/v1/topics/a/b/events',
      '//api/v1/topics/web/events',
      '/api/v1/topics/web/events//',
      '/api/v1/topics/web/eventsx',
      '/x/api/v1/topics/web/events',
    ])
      expect({ url, topic: topicInPath(url) }).toEqual({ url, topic: undefined });
  });
});
