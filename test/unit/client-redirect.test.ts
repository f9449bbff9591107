import { describe, expect, it } from 'vitest';
import { redirectUrl } from '../../src/client/redirect.ts';

describe('the browser client\'s ROOM_ELSEWHERE redirect', () => {
  const current = 'wss://sfu.example.org/rtc?token=abc.def.ghi&room=r1';

  it('opens /rtc on the named node with the same query (token, room)', () => {
    expect(redirectUrl(current, 'https://node-b.example')).toBe('wss://node-b.example/rtc?token=abc.def.ghi&room=r1');
    expect(redirectUrl(current, 'https://node-b.example/')).toBe('wss://node-b.example/rtc?token=abc.def.ghi&room=r1');
    expect(redirectUrl('ws://127.0.0.1:3000/rtc?token=t', 'http://127.0.0.1:4001')).toBe('ws://127.0.0.1:4001/rtc?token=t');
  });

  it('follows nothing but an http(s) URL', () => {
    for (const bad of [undefined, 42, '', 'not a url', 'javascript:alert(1)', 'file:///etc/passwd', 'wss://node-b.example']) {
      expect(redirectUrl(current, bad), String(bad)).toBeUndefined();
    }
  });
});
