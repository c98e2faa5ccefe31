import { describe, expect, it } from 'vitest';
import { certificateFingerprint, createSelfSignedCertificate } from '../federation/certificate.js';
import { apiAltNames, certificateWarnings, isLoopback } from './api-tls.js';

const identity = (opts: Parameters<typeof createSelfSignedCertificate>[0]) => {
  const pair = createSelfSignedCertificate(opts);
  return { ...pair, fingerprint: certificateFingerprint(pair.certPem), notAfter: '' };
};

describe('apiAltNames', () => {
  it('names the listen host, localhost, the loopback addresses and the host name', () => {
    expect(apiAltNames('10.1.2.3', 'fpps1')).toEqual({
      dnsNames: ['localhost', 'fpps1'],
      ipAddresses: ['127.0.0.1', '::1', '10.1.2.3'],
    });
    expect(apiAltNames('fpps1.example.com', 'fpps1').dnsNames).toEqual([
      'localhost',
      'fpps1.example.com',
      'fpps1',
    ]);
  });

  it('leaves out a host name a certificate may not carry, and the wildcard address itself', () => {
    expect(apiAltNames('127.0.0.1', 'bad_name').dnsNames).toEqual(['localhost']);
    expect(apiAltNames('0.0.0.0', 'fpps1').ipAddresses).not.toContain('0.0.0.0');
  });
});

describe('certificateWarnings', () => {
  it('is quiet for a certificate that names the listen host and is within its dates', () => {
    const id = identity({ commonName: 'A', ...apiAltNames('127.0.0.1', 'fpps1') });
    expect(certificateWarnings(id, '127.0.0.1')).toEqual([]);
    expect(certificateWarnings(id, 'localhost')).toEqual([]);
    expect(certificateWarnings(id, '0.0.0.0')).toEqual([]);
  });

  it('says when the certificate does not name the listen host, or is outside its dates', () => {
    const id = identity({
      commonName: 'A',
      ipAddresses: ['127.0.0.1'],
      notBefore: new Date('2020-01-01T00:00:00Z'),
      notAfter: new Date('2021-01-01T00:00:00Z'),
    });
    const warnings = certificateWarnings(id, '10.1.2.3');
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('valid from');
    expect(warnings[1]).toContain('does not name 10.1.2.3');
  });
});

describe('isLoopback', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['localhost', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.1', false],
    ['fpps1.example.com', false],
  ])('%s: %s', (host, expected) => {
    expect(isLoopback(host)).toBe(expected);
  });
});
