// The next page of a paged list, read from its Link header.
import { describe, expect, it } from '@jest/globals';
import { nextPageLink } from './paging.js';

describe('nextPageLink', () => {
  it('finds rel="next" among the links, and null on the last page', () => {
    expect(nextPageLink('</api/v1/topics?cursor=b&limit=2>; rel="next"')).toBe('/api/v1/topics?cursor=b&limit=2');
    expect(nextPageLink('</first>; rel="first", </api/v1/topics?cursor=c>; rel=next')).toBe('/api/v1/topics?cursor=c');
    expect(nextPageLink('</x>; rel="prev"')).toBeNull();
    expect(nextPageLink(null)).toBeNull();
    expect(nextPageLink('')).toBeNull();
  });
});
