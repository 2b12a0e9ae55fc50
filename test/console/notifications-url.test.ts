import { describe, expect, it } from 'vitest';
import { deliveryFilterPath, parseDeliveryFilter } from '../../console/src/notifications/notifications-url';

describe('notification delivery filters in the URL', () => {
  it('reads a shared link to the dead letters of a sink, and writes it back the same', () => {
    const filter = parseDeliveryFilter({ status: 'dead', sink: 'ops team' });
    expect(filter).toEqual({ status: 'DEAD', sink: 'ops team' });
    expect(deliveryFilterPath(filter)).toBe('/notifications?status=dead&sink=ops+team');
  });

  it('ignores a status the API does not have, and an empty sink: the unfiltered list', () => {
    expect(parseDeliveryFilter({ status: 'lost', sink: '' })).toEqual({});
    expect(deliveryFilterPath({})).toBe('/notifications');
  });
});
